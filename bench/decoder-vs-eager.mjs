#!/usr/bin/env node
// bench/decoder-vs-eager.mjs — ftplan's native training step of a Llama-family decoder against the
// PyTorch eager step of the same model (bench/eager_decoder.py, transformers' eager code path
// transcribed) on the same libtorch (Debian's /usr/bin/python3 + python3-torch), side by side and
// interleaved in one run: the same shape, batch, sequence length, threads, dtype and optimizer
// (AdamW, HF Trainer's defaults, clip 1.0). Default: the Qwen2.5-0.5B shape, B 4, T 128, bf16 autocast,
// both tasks (a classification head, and causal-LM with the full 151,936-token vocabulary).
//
// Per row: one warm-up step each, then BENCH_PAIRS (default 5) pairs, the order alternating inside
// each pair so drift of the machine hits both sides alike; the ratio is the median of the per-pair
// ratios. Memory: the native step's peak tensor bytes (ftplan's counting allocator, one benchmark
// step at the same shape) and each process's peak RSS (the Python worker's and this process's, which
// runs nothing but the native steps).
//   node bench/decoder-vs-eager.mjs                        (after `npm run build`)
//   BENCH_MODEL=tiny-qwen2 BENCH_PAIRS=2 node bench/decoder-vs-eager.mjs   (a quick try)
//   BENCH_ROWS=causal-lm:bf16,classification:fp32 BENCH_BATCH=4 BENCH_SEQ=128 node bench/decoder-vs-eager.mjs
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { detectBlas, loadNative } from '../dist/native.js';
import { decoderPresetConfig } from '../dist/model/decoder-presets.js';
import { decoderFlopsPerToken } from '../dist/model/decoder-size.js';
import { median } from '../dist/measurement.js';
import { eagerWorker as worker } from './eager-worker.mjs';

const PY = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const PAIRS = Number(process.env.BENCH_PAIRS ?? 5);
const B = Number(process.env.BENCH_BATCH ?? 4);
const T = Number(process.env.BENCH_SEQ ?? 128);
const MODEL = process.env.BENCH_MODEL ?? 'qwen2.5-0.5b';
const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const rowsSpec = (process.env.BENCH_ROWS ?? 'classification:bf16,causal-lm:bf16').split(',').map((s) => {
  const [task, dtype] = s.split(':');
  return { task, dtype };
});
const log = (s) => process.stderr.write(`${s}\n`);

// Each row runs in a process of its own: a 0.5B model's weights, gradients and AdamW moments are
// ~8 GB, and a finished row's session is native memory the JS garbage collector does not see, so
// two rows in one process would hold two models at once. The parent collects the rows' records.
if (rowsSpec.length > 1 && !process.env.BENCH_ROW_CHILD) {
  const rows = [];
  const started = new Date();
  for (const c of rowsSpec) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_ROWS: `${c.task}:${c.dtype}`, BENCH_ROW_CHILD: '1' }, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) {
      log(`row ${c.task}:${c.dtype} failed (${r.signal ?? `exit ${r.status}`}${r.signal === 'SIGKILL' ? ': out of memory?' : ''})`);
      process.exit(1);
    }
    rows.push(JSON.parse(r.stdout));
  }
  printTable(rows, started);
  process.exit(0);
}
const addon = loadNative();

const eagerWorker = (task, dtype) => worker(PY, 'bench/eager_decoder.py', ['--model', MODEL, '--task', task, '--batch', String(B), '--seq', String(T), '--dtype', dtype, '--threads', String(threads)]);

// Full rows of random tokens (the eager worker's batch is full rows too); causal-lm counts every next token.
function batchOf(cfg, task) {
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const inputIds = Int32Array.from({ length: B * T }, () => Math.floor(rnd() * (cfg.vocabSize - 1)));
  return {
    batchSize: B,
    seqLen: T,
    inputIds,
    lengths: new Int32Array(B).fill(T),
    ...(task === 'causal-lm' ? { lmLabels: Int32Array.from(inputIds) } : { labels: Int32Array.from({ length: B }, () => Math.floor(rnd() * cfg.numLabels)) }),
  };
}

async function nativeStep(session, batch) {
  const t0 = performance.now();
  const r = await session.step([batch]);
  return { ms: performance.now() - t0, loss: r.loss };
}

const rows = [];
const started = new Date();
for (const c of rowsSpec) {
  const cfg = decoderPresetConfig(MODEL, c.task, { numLabels: 3 });
  const flops = decoderFlopsPerToken(cfg, T, c.task).flopsPerToken;
  const loadBefore = loadavg()[0];
  // the native step's peak tensor memory at this shape (one timed step after one warm-up)
  const bench = await addon.benchmark({ model: cfg, batchSize: B, seqLen: T, steps: 1, warmupSteps: 1, minTimedMs: 0, evalBatchSize: 0, threads, seed: 42, dtype: c.dtype, lr: 5e-5, weightDecay: 0 });
  const py = eagerWorker(c.task, c.dtype);
  const info = await py.ready;
  const session = new addon.Session({ model: cfg, threads, seed: 42, dtype: c.dtype, lr: 5e-5, weightDecay: 0 });
  await session.init();
  const batch = batchOf(cfg, c.task);
  await nativeStep(session, batch); // warm-up
  let eagerRss = (await py.ask({ cmd: 'step' })).peakRssBytes;
  const nat = [];
  const eag = [];
  for (let i = 0; i < PAIRS; i++) {
    const e = async () => {
      const r = await py.ask({ cmd: 'step' });
      eag.push(r.ms);
      eagerRss = Math.max(eagerRss, r.peakRssBytes ?? 0);
    };
    if (i % 2 === 0) {
      nat.push((await nativeStep(session, batch)).ms);
      await e();
    } else {
      await e();
      nat.push((await nativeStep(session, batch)).ms);
    }
    log(`${c.task} ${c.dtype} pair ${i + 1}: native ${nat.at(-1).toFixed(0)} ms, eager ${eag.at(-1).toFixed(0)} ms (load ${loadavg()[0].toFixed(2)})`);
  }
  py.quit();
  const loadAfter = loadavg()[0];
  const tokens = B * T;
  const nMs = median(nat);
  const eMs = median(eag);
  rows.push({
    ...c,
    nMs,
    eMs,
    nTps: (tokens / nMs) * 1000,
    eTps: (tokens / eMs) * 1000,
    ratio: median(nat.map((n, i) => eag[i] / n)),
    ratios: nat.map((n, i) => eag[i] / n),
    gflops: (flops * tokens) / (nMs / 1000) / 1e9,
    peakTensor: bench.peakMemoryBytes,
    nativeRss: process.resourceUsage().maxRSS * 1024,
    eagerRss,
    loadBefore,
    loadAfter,
    busy: Math.max(loadBefore, loadAfter) > threads + 1,
    torch: info.torch,
    blas: detectBlas().kind, // what this process mapped: the parent of per-row processes loads no LibTorch
  });
}

if (process.env.BENCH_ROW_CHILD) process.stdout.write(`${JSON.stringify(rows[0])}\n`);
else printTable(rows, started);

function printTable(rows, started) {
const blas = { kind: rows[0]?.blas ?? detectBlas().kind };
const f = (x, d = 0) => x.toFixed(d);
const gib = (b) => (b > 0 ? (b / 2 ** 30).toFixed(2) : 'n/a');
process.stdout.write(
  [
    `### Decoder step against PyTorch eager — ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model}; libtorch ${rows[0]?.torch} (ftplan's addon and /usr/bin/python3 share it), BLAS ${blas.kind}, ${threads} threads both sides. Model ${MODEL} shape, B ${B}, T ${T}, ${PAIRS} interleaved pairs per row after one warm-up step each; step = forward, loss, backward, clip, AdamW. Command: \`node bench/decoder-vs-eager.mjs\`. Native peak RSS is the row's own process's (it runs the native steps and one benchmark call).`,
    '',
    '| task | dtype | native ms (median) | eager ms (median) | native tokens/s | eager tokens/s | ratio (median of pairs) | goal ≥ 1.15× | native GFLOP/s (model FLOPs) | native peak tensors GiB | native peak RSS GiB | eager peak RSS GiB | 1-min load before → after |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.task} | ${r.dtype} | ${f(r.nMs)} | ${f(r.eMs)} | ${f(r.nTps, 1)} | ${f(r.eTps, 1)} | ${f(r.ratio, 3)}× (${r.ratios.map((x) => f(x, 2)).join(', ')}) | ${r.ratio >= 1.15 ? 'met' : 'NOT met'} | ${f(r.gflops, 1)} | ${gib(r.peakTensor)} | ${gib(r.nativeRss)} | ${gib(r.eagerRss)} | ${f(r.loadBefore, 2)} → ${f(r.loadAfter, 2)}${r.busy ? ' **busy host: noisy**' : ''} |`,
    ),
    '',
  ].join('\n'),
);
}
