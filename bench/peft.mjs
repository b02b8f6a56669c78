#!/usr/bin/env node
// bench/peft.mjs — parameter-efficient fine-tuning measured (docs/peft.md): for a decoder of the
// Qwen2.5-0.5B shape (causal-lm, its full vocabulary), B 4, bf16 autocast, at T 256 and a longer T:
//   1. full, lora (r 16, alpha 32, dropout 0.05, all-linear), qlora (the same on an NF4 base) and
//      head, each with and without gradient checkpointing: the median step time, the peak tensor
//      bytes (ftplan's counting allocator) and their split into weights as held, the trainable
//      parameters' gradients + AdamW moments, and the rest (activations and the step's temporaries);
//   2. ftplan's lora and qlora steps against PyTorch eager steps of the same model on the same libtorch
//      (bench/eager_lora.py: PEFT's LoRA layer on bench/eager_decoder.py's model; for qlora also the
//      same over bitsandbytes' NF4 ops, --nf4), interleaved rounds, the order rotating; the ratio is
//      the median of the per-round ratios.
//   node bench/peft.mjs                                   (after `npm run build`; long on a CPU)
//   BENCH_MODEL=tiny-qwen2 BENCH_PAIRS=1 BENCH_STEPS=1 node bench/peft.mjs   (a quick try)
//   BENCH_SEQ=256 BENCH_LONG_SEQ=1024 BENCH_BATCH=4 BENCH_THREADS=2 BENCH_METHODS=lora,qlora
import { availableParallelism, cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { detectBlas, loadNative } from '../dist/native.js';
import { decoderPresetConfig } from '../dist/model/decoder-presets.js';
import { median } from '../dist/measurement.js';
import { eagerWorker } from './eager-worker.mjs';

const PY = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const MODEL = process.env.BENCH_MODEL ?? 'qwen2.5-0.5b';
const B = Number(process.env.BENCH_BATCH ?? 4);
const T = Number(process.env.BENCH_SEQ ?? 256);
const LONG = process.env.BENCH_LONG_SEQ === '0' ? null : Number(process.env.BENCH_LONG_SEQ ?? 1024);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 5);
const STEPS = Number(process.env.BENCH_STEPS ?? 3);
const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const methods = (process.env.BENCH_METHODS ?? 'full,lora,qlora,head').split(',');
const LORA = { loraR: 16, loraAlpha: 32, loraDropout: 0.05 };
const addon = loadNative();
const log = (s) => process.stderr.write(`${s}\n`);
const cfg = decoderPresetConfig(MODEL, 'causal-lm');
// head: the classification head on the frozen trunk (its use: transfer learning); a causal LM's head
// is the LM head, which Qwen2.5-0.5B ties to the embeddings, so head-only training of it is refused
const classifier = decoderPresetConfig(MODEL, 'classification', { numLabels: 3 });
const modelFor = (method) => (method === 'head' && cfg.tieWordEmbeddings ? classifier : cfg);
const common = { batchSize: B, threads, seed: 42, dtype: 'bf16', lr: 5e-5, weightDecay: 0, evalBatchSize: 0 };
const peftOf = (method) => ({ method, ...(method === 'lora' || method === 'qlora' ? LORA : {}) });

// 1. memory and time per method, with and without checkpointing
const memRows = [];
for (const seqLen of LONG ? [T, LONG] : [T]) {
  for (const method of methods) {
    for (const gradientCheckpointing of [false, true]) {
      const model = modelFor(method);
      const r = await addon.benchmark({ ...common, model, ...peftOf(method), gradientCheckpointing, seqLen, steps: STEPS, warmupSteps: 1 });
      memRows.push({ seqLen, method: model === cfg ? method : `${method} (classification, 3 labels)`, gradientCheckpointing, ms: median(r.stepMs), r });
      log(`${method}${gradientCheckpointing ? ' +ckpt' : ''} T ${seqLen}: ${median(r.stepMs).toFixed(0)} ms, peak ${(r.peakMemoryBytes / 2 ** 30).toFixed(2)} GiB`);
    }
  }
}

// 2. lora and qlora against the eager LoRA step, interleaved
function batchOf() {
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const inputIds = Int32Array.from({ length: B * T }, () => Math.floor(rnd() * (cfg.vocabSize - 1)));
  return { batchSize: B, seqLen: T, inputIds, lengths: new Int32Array(B).fill(T), lmLabels: Int32Array.from(inputIds) };
}
const eagerRows = [];
const batch = batchOf();
const eagerArgs = ['--model', MODEL, '--task', 'causal-lm', '--batch', String(B), '--seq', String(T), '--threads', String(threads), '--lora-r', '16', '--lora-alpha', '32', '--lora-dropout', '0.05'];
// each ftplan method against the eager step of its kind (LoRA: PEFT's layer on a bf16 base; QLoRA: the
// same on bitsandbytes' NF4 ops); QLoRA also against the eager LoRA step. The order rotates per pair.
for (const method of ['lora', 'qlora'].filter((m) => methods.includes(m))) {
  const baselines = method === 'lora' ? [['eager LoRA', []]] : [['eager QLoRA (NF4)', ['--nf4']], ['eager LoRA', []]];
  const workers = baselines.map(([name, extra]) => ({ name, py: eagerWorker(PY, 'bench/eager_lora.py', [...eagerArgs, ...extra]), ms: [] }));
  const infos = await Promise.all(workers.map((w) => w.py.ready));
  const s = new addon.Session({ model: cfg, threads, seed: 42, dtype: 'bf16', lr: 5e-5, weightDecay: 0, ...peftOf(method) });
  await s.init();
  const nat = [];
  const nativeStep = async () => {
    const t0 = performance.now();
    await s.step([batch]);
    return performance.now() - t0;
  };
  await nativeStep();
  for (const w of workers) await w.py.ask({ cmd: 'step' });
  const loadBefore = loadavg()[0];
  const runners = [async () => nat.push(await nativeStep()), ...workers.map((w) => async () => w.ms.push((await w.py.ask({ cmd: 'step' })).ms))];
  for (let i = 0; i < PAIRS; i++) {
    for (let k = 0; k < runners.length; k++) await runners[(i + k) % runners.length]();
    log(`${method} pair ${i + 1}: native ${nat.at(-1).toFixed(0)} ms, ${workers.map((w) => `${w.name} ${w.ms.at(-1).toFixed(0)} ms`).join(', ')}`);
  }
  for (const w of workers) w.py.quit();
  for (const w of workers) eagerRows.push({ method, baseline: w.name, nMs: median(nat), eMs: median(w.ms), ratios: nat.map((n, i) => w.ms[i] / n), torch: infos[0].torch, loadBefore, loadAfter: loadavg()[0] });
}

const f = (x, d = 0) => x.toFixed(d);
const gib = (b) => (b / 2 ** 30).toFixed(3);
const out = [
  `### Parameter-efficient fine-tuning — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model}; BLAS ${detectBlas().kind}; ${threads} threads. Model ${MODEL} shape, causal-lm (vocabulary ${cfg.vocabSize}), B ${B}, bf16 autocast, AdamW over the trainable parameters, clip 1.0. LoRA r 16, alpha 32, dropout 0.05, all-linear; frozen block linears held in bf16 (qlora: NF4, blocks of 64); head: the same trunk with a 3-label classification head (the LM head is tied to the embeddings). ${STEPS} timed steps after one warm-up per row. Peak = ftplan's counting allocator over the timed steps; weights as held; trainable state = gradients + AdamW moments of the trainable parameters; activations = peak minus the two. Command: \`node bench/peft.mjs\`.`,
  '',
  '| T | method | checkpointing | median step ms | trainable params | peak GiB | weights GiB | trainable state GiB | activations GiB |',
  '|---|---|---|---|---|---|---|---|---|',
  ...memRows.map(
    ({ seqLen, method, gradientCheckpointing, ms, r }) =>
      `| ${seqLen} | ${method} | ${gradientCheckpointing ? 'yes' : 'no'} | ${f(ms)} | ${r.trainableParameters.toLocaleString('en-US')} | ${gib(r.peakMemoryBytes)} | ${gib(r.weightBytes)} | ${gib(r.trainableStateBytes)} | ${gib(r.activationBytes)} |`,
  ),
  '',
];
if (eagerRows.length)
  out.push(
    `Against PyTorch eager steps (bench/eager_lora.py: PEFT's LoRA layer on a bf16 base, or with --nf4 on bitsandbytes' NF4 dequantisation ops; libtorch ${eagerRows[0].torch} shared), T ${T}, ${PAIRS} interleaved rounds after one warm-up each, the order rotating:`,
    '',
    '| ftplan method | baseline | native ms (median) | eager ms (median) | ratio (median of rounds) | goal ≥ 1.1× | 1-min load before → after |',
    '|---|---|---|---|---|---|---|',
    ...eagerRows.map((r) => {
      const ratio = median(r.ratios);
      return `| ${r.method} | ${r.baseline} | ${f(r.nMs)} | ${f(r.eMs)} | ${f(ratio, 3)}× (${r.ratios.map((x) => f(x, 2)).join(', ')}) | ${ratio >= 1.1 ? 'met' : 'NOT met'} | ${f(r.loadBefore, 2)} → ${f(r.loadAfter, 2)} |`;
    }),
    '',
  );
process.stdout.write(out.join('\n'));
