#!/usr/bin/env node
// bench/native-vs-eager.mjs — ftplan's native train step against the PyTorch eager step on the same
// libtorch (Debian's /usr/bin/python3 + python3-torch), side by side and interleaved in one run.
// GPT-2 small seq-cls, T 128, batch 8 and 16, fp32 and bf16 autocast; same threads, seed, shapes.
// Per config: one warm-up step each, then BENCH_PAIRS (default 5) pairs, the order alternating inside
// each pair so drift of the machine hits both sides alike; the ratio is the median of the per-pair
// ratios. The sgemm (and bf16 gemm) ceiling is measured in the same run through the same libtorch;
// the 1-minute load is read around every config and a config is flagged when the host was busy.
// Then the levers: the native step with the fused causal softmax + dropout against torch's ops, with
// ftplan's CPU dropout kernel against torch's, and with the CPU block cache on and off, interleaved
// the same way (on the first config).
//   node bench/native-vs-eager.mjs            (after `npm run build`; ~10 min on 2 idle cores)
//   BENCH_PAIRS=7 BENCH_CONFIGS=8:fp32,16:bf16 node bench/native-vs-eager.mjs
import { availableParallelism, cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { detectBlas, loadNative } from '../dist/native.js';
import { modelConfig } from '../dist/model/presets.js';
import { median } from '../dist/measurement.js';
import { eagerWorker as worker } from './eager-worker.mjs';

const PY = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const PAIRS = Number(process.env.BENCH_PAIRS ?? 5);
const T = Number(process.env.BENCH_SEQ ?? 128);
const MODEL = process.env.BENCH_MODEL ?? 'gpt2';
const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const configs = (process.env.BENCH_CONFIGS ?? '8:fp32,16:fp32,8:bf16,16:bf16').split(',').map((s) => {
  const [b, d] = s.split(':');
  return { batch: Number(b), dtype: d };
});
const addon = loadNative();
const cfg = modelConfig(MODEL);
const log = (s) => process.stderr.write(`${s}\n`);

const eagerWorker = (batch, dtype) => worker(PY, 'bench/eager_gpt2.py', ['--model', MODEL, '--batch', String(batch), '--seq', String(T), '--dtype', dtype, '--threads', String(threads)]);

function batchOf(B) {
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  return {
    batchSize: B,
    seqLen: T,
    inputIds: Int32Array.from({ length: B * T }, () => Math.floor(rnd() * (cfg.vocabSize - 1))),
    lengths: new Int32Array(B).fill(T),
    labels: Int32Array.from({ length: B }, () => Math.floor(rnd() * 3)),
  };
}

async function nativeStep(session, batch) {
  const t0 = performance.now();
  const r = await session.step([batch]);
  return { ms: performance.now() - t0, loss: r.loss };
}

const rows = [];
const started = new Date();
const flopsPerToken = addon.flopsPerToken(cfg, T).flopsPerToken;
for (const c of configs) {
  const loadBefore = loadavg()[0];
  const py = eagerWorker(c.batch, c.dtype);
  const info = await py.ready;
  const sgemm = (await py.ask({ cmd: 'gemm', dtype: 'fp32' })).gflops;
  const bgemm = (await py.ask({ cmd: 'gemm', dtype: 'bf16' })).gflops;
  const session = new addon.Session({ model: cfg, threads, seed: 42, dtype: c.dtype, lr: 5e-5, weightDecay: 0 });
  await session.init();
  const batch = batchOf(c.batch);
  await nativeStep(session, batch); // warm-up
  await py.ask({ cmd: 'step' });
  const nat = [];
  const eag = [];
  for (let i = 0; i < PAIRS; i++) {
    if (i % 2 === 0) {
      nat.push((await nativeStep(session, batch)).ms);
      eag.push((await py.ask({ cmd: 'step' })).ms);
    } else {
      eag.push((await py.ask({ cmd: 'step' })).ms);
      nat.push((await nativeStep(session, batch)).ms);
    }
    log(`B${c.batch} ${c.dtype} pair ${i + 1}: native ${nat.at(-1).toFixed(0)} ms, eager ${eag.at(-1).toFixed(0)} ms (load ${loadavg()[0].toFixed(2)})`);
  }
  py.quit();
  const loadAfter = loadavg()[0];
  const tokens = c.batch * T;
  const nMs = median(nat);
  const eMs = median(eag);
  const ratio = median(nat.map((n, i) => eag[i] / n));
  const achieved = (flopsPerToken * tokens) / (nMs / 1000) / 1e9;
  rows.push({ ...c, nMs, eMs, nTps: (tokens / nMs) * 1000, eTps: (tokens / eMs) * 1000, ratio, ratios: nat.map((n, i) => eag[i] / n), achieved, sgemm, bgemm, loadBefore, loadAfter, busy: Math.max(loadBefore, loadAfter) > threads + 1, torch: info.torch });
}

// Levers, each on against off in the same session, the order alternating per pair: the last block
// pruned to the head's token (gpt2.h), the fused attention softmax (native/attention.h), the CPU dropout kernel (native/dropout.h) against torch's
// dropout, and the CPU allocator's block cache.
const levers = [];
if (process.env.BENCH_LEVERS !== '0') {
  const c = configs[0];
  const session = new addon.Session({ model: cfg, threads, seed: 42, dtype: c.dtype, lr: 5e-5, weightDecay: 0 });
  await session.init();
  const batch = batchOf(c.batch);
  const lever = async (name, set, refill) => {
    const on = [];
    const off = [];
    for (let i = 0; i < PAIRS; i++) {
      for (const state of i % 2 ? [false, true] : [true, false]) {
        set(state);
        if (refill) await nativeStep(session, batch); // e.g. refills the cache after a switch
        (state ? on : off).push((await nativeStep(session, batch)).ms);
      }
      log(`${name}: on ${on.at(-1).toFixed(0)} ms, off ${off.at(-1).toFixed(0)} ms`);
    }
    set(true);
    levers.push({ name: `${name} (B${c.batch} ${c.dtype})`, on: median(on), off: median(off), ratio: median(off.map((o, i) => o / on[i])) });
  };
  await lever('last block for each row\'s last real token only vs every position (gpt2.h)', (on) => addon.lastBlockPruned(on), false);
  await lever('fused causal softmax + dropout vs torch ops (native/attention.h)', (on) => addon.fusedAttention(on), false);
  await lever('ftplan CPU dropout kernel vs torch dropout', (on) => addon.cpuDropout(on), false);
  await lever('CPU block cache', (on) => addon.cpuAllocator({ cache: on }), true);
  addon.cpuAllocator({ cache: false }); // the shipped default
  // The fused attention op alone, forward + backward on one layer's scores (B·H × T × T, attention
  // dropout 0.1), 30 interleaved pairs: a step's saving is 12 layers of it, too small to resolve
  // in whole-step pairs on this VM.
  if (!addon.runtimeInfo().hasSdpa) {
    for (const B of [...new Set(configs.map((x) => x.batch))]) {
      const t = addon.fusedAttentionTiming(B * cfg.nHead, T, cfg.attnPdrop, 30);
      levers.push({ name: `fused attention op alone, one layer's [${B * cfg.nHead}, ${T}, ${T}] scores, forward + backward (× ${cfg.nLayer} layers a step)`, on: t.fusedMs, off: t.composedMs, ratio: t.composedMs / t.fusedMs });
    }
  }
}

const blas = detectBlas();
const f = (x, d = 0) => x.toFixed(d);
process.stdout.write(
  [
    `### Native step against PyTorch eager — ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model}; libtorch ${rows[0]?.torch} (ftplan's addon and /usr/bin/python3 share Debian's build), BLAS ${blas.kind}, ${threads} threads both sides. Model ${MODEL} seq-cls, T ${T}, ${PAIRS} interleaved pairs per row after one warm-up step each; step = forward, loss, backward, clip, AdamW. Command: \`node bench/native-vs-eager.mjs\`.`,
    '',
    '| batch | dtype | native ms (median) | eager ms (median) | native tokens/s | eager tokens/s | ratio (median of pairs) | target ≥ 1.15× | native GFLOP/s (model FLOPs) | sgemm ceiling GFLOP/s | of sgemm | bf16 gemm GFLOP/s | 1-min load before → after |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.batch} | ${r.dtype} | ${f(r.nMs)} | ${f(r.eMs)} | ${f(r.nTps, 1)} | ${f(r.eTps, 1)} | ${f(r.ratio, 3)}× (${r.ratios.map((x) => f(x, 2)).join(', ')}) | ${r.ratio >= 1.15 ? 'met' : 'NOT met'} | ${f(r.achieved, 1)} | ${f(r.sgemm, 1)} | ${f((100 * r.achieved) / r.sgemm, 1)}% | ${f(r.bgemm, 1)} | ${f(r.loadBefore, 2)} → ${f(r.loadAfter, 2)}${r.busy ? ' **busy host: noisy**' : ''} |`),
    '',
    ...(levers.length
      ? ['| lever | native ms on | native ms off | off ÷ on (median of pairs) |', '|---|---|---|---|', ...levers.map((l) => `| ${l.name} | ${f(l.on)} | ${f(l.off)} | ${f(l.ratio, 3)}× |`), '']
      : []),
  ].join('\n'),
);
