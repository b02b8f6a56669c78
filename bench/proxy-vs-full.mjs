#!/usr/bin/env node
// bench/proxy-vs-full.mjs — the proxy measurement against the whole model, on a shape this machine
// can measure whole: Qwen2.5-0.5B (24 blocks), causal-LM, the same micro-batch, lengths and seed.
// `ftplan estimate --proxy` measures 2, 4 and 8 blocks (its LM head outweighs 4 blocks:
// src/measure/proxy.ts proxyDepths), stepped in turn, and extrapolates to 24; `--no-proxy`
// measures all 24. Goal: step time and peak memory within 10% of each other. Alternates the two
// (BENCH_REPEATS pairs, default 2) so that a drift of the machine's speed falls on both.
//   npx tsc -p tsconfig.json && node bench/proxy-vs-full.mjs
//   BENCH_MODEL=qwen3-0.6b BENCH_REPEATS=3 node bench/proxy-vs-full.mjs
// Minutes: the whole 0.5B model steps in seconds on a 2-core CPU; run it on a quiet machine.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from '../dist/measurement.js';

const model = process.env.BENCH_MODEL ?? 'qwen2.5-0.5b';
const repeats = Number(process.env.BENCH_REPEATS ?? 2);
const home = mkdtempSync(join(tmpdir(), 'ftplan-proxy-')); // no calibration
const common = ['estimate', '--model', model, '--task', 'causal-lm', '--batch-size', '4', '--seq-len', '128', '--steps', '5', '--min-time', '20', '--eval-batch-size', '0', '--dtype', 'fp32', '--json'];
const estimate = (flag) => {
  const r = spawnSync(process.execPath, ['bin/ftplan.js', ...common, flag], { encoding: 'utf8', env: { ...process.env, FTPLAN_HOME: home }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${flag}: ${r.stderr}`);
  return JSON.parse(r.stdout).measurement;
};
const runs = { proxy: [], full: [] };
for (let i = 0; i < repeats; i++) {
  for (const [kind, flag] of [['proxy', '--proxy'], ['full', '--no-proxy']]) {
    const m = estimate(flag);
    if (m.kind !== kind) throw new Error(`${flag}: measurement.kind ${m.kind}`);
    runs[kind].push(m);
    console.log(`${kind.padEnd(5)} #${i + 1}: step ${m.stepMs.toFixed(1)} ms, peak ${(m.peakMemoryBytes / 2 ** 30).toFixed(3)} GiB${kind === 'proxy' ? `  (${m.proxy.summary})` : ''}  load ${loadavg()[0].toFixed(2)}`);
  }
}
const med = (xs, f) => median(xs.map(f));
const rel = (a, b) => ((a - b) / b) * 100;
const step = rel(med(runs.proxy, (m) => m.stepMs), med(runs.full, (m) => m.stepMs));
const peak = rel(med(runs.proxy, (m) => m.peakMemoryBytes), med(runs.full, (m) => m.peakMemoryBytes));
console.log(`\n${model}: proxy vs whole, medians of ${repeats}: step time ${step >= 0 ? '+' : ''}${step.toFixed(1)}%, peak memory ${peak >= 0 ? '+' : ''}${peak.toFixed(1)}% (goal: within ±10% each)`);
process.exitCode = Math.abs(step) <= 10 && Math.abs(peak) <= 10 ? 0 : 1;
