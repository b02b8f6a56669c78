#!/usr/bin/env node
// bench/drift.mjs — how much this machine's speed swings with identical work, and whether a cheap
// probe could track it. Identical training steps (one model, batch, length, threads) are timed in
// blocks of BENCH_BLOCK steps for BENCH_SECONDS; after each block a single-thread ALU loop and a
// memory-streaming loop (128 MB) are timed. Prints the spread of the mean step over windows of 1–40 s
// and the correlation of each probe with the block's mean step: a probe that tracked the swings
// could separate "the machine got slower" from "the estimate was wrong" (issue 5).
//   node bench/drift.mjs                 (tiny, 16 × 36, 2 threads, 90 s)
//   BENCH_MODEL=mini BENCH_SECONDS=120 node bench/drift.mjs
import { availableParallelism, cpus, loadavg } from 'node:os';
import { loadNative } from '../dist/native.js';
import { modelConfig } from '../dist/model/presets.js';
import { mean } from '../dist/measurement.js';

const addon = loadNative();
const MODEL = process.env.BENCH_MODEL ?? 'tiny';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 90);
const BLOCK = Number(process.env.BENCH_BLOCK ?? 60);
const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const cfg = modelConfig(MODEL);
const buf = new Float64Array(16e6).fill(1);
const timed = (fn) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};
const alu = () => timed(() => {
  let h = 1;
  for (let i = 0; i < 3e6; i++) h = Math.imul(h ^ i, 2654435761) >>> 0;
  return h;
});
const mem = () => timed(() => {
  let s = 0;
  for (let i = 0; i < buf.length; i += 8) s += buf[i];
  return s;
});
const cv = (x) => Math.sqrt(mean(x.map((v) => (v - mean(x)) ** 2))) / mean(x);
const corr = (x, y) => {
  const mx = mean(x), my = mean(y);
  const c = x.reduce((s, v, i) => s + (v - mx) * (y[i] - my), 0);
  return c / Math.sqrt(x.reduce((s, v) => s + (v - mx) ** 2, 0) * y.reduce((s, v) => s + (v - my) ** 2, 0));
};

const load = loadavg()[0];
const steps = [];
const blocks = [];
const t0 = performance.now();
while (performance.now() - t0 < SECONDS * 1000) {
  const r = await addon.benchmark({ model: cfg, batchSize: 16, seqLen: 36, steps: BLOCK, warmupSteps: 1, threads });
  steps.push(...r.stepMs);
  blocks.push({ step: mean(r.stepMs), alu: alu(), mem: mem() });
}
let t = 0;
const at = steps.map((m) => (t += m));
const windows = [1, 5, 10, 20, 40].map((w) => {
  const means = [];
  let start = 0, acc = 0, n = 0;
  steps.forEach((m, i) => {
    acc += m;
    n++;
    if (at[i] - start >= w * 1000) {
      means.push(acc / n);
      start = at[i];
      acc = 0;
      n = 0;
    }
  });
  return { w, n: means.length, cv: means.length > 1 ? cv(means) : 0, min: Math.min(...means), max: Math.max(...means) };
});
const s = blocks.map((b) => b.step);
process.stdout.write(
  [
    `### Speed drift with identical steps — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model}; ${MODEL} 16 × 36, ${threads} threads, ${steps.length} steps in ${(t / 1000).toFixed(0)} s of steps (1-min load before ${load.toFixed(2)}, after ${loadavg()[0].toFixed(2)}). Command: \`node bench/drift.mjs\`.`,
    '',
    '| window | windows | spread of the mean step (cv) | slowest ÷ fastest window |',
    '|---|---|---|---|',
    ...windows.map((w) => `| ${w.w} s | ${w.n} | ${(w.cv * 100).toFixed(1)}% | ${(w.max / w.min).toFixed(2)} |`),
    '',
    `Probes after each block of ${BLOCK} steps (${blocks.length} blocks): single-thread ALU loop cv ${(cv(blocks.map((b) => b.alu)) * 100).toFixed(1)}%, correlation with the block's step time ${corr(s, blocks.map((b) => b.alu)).toFixed(2)}; 128 MB memory stream cv ${(cv(blocks.map((b) => b.mem)) * 100).toFixed(1)}%, correlation ${corr(s, blocks.map((b) => b.mem)).toFixed(2)}; the steps themselves cv ${(cv(s) * 100).toFixed(1)}%.`,
    '',
  ].join('\n'),
);
