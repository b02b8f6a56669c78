#!/usr/bin/env node
// bench/sustained.mjs — does this machine slow down under sustained load? Identical training steps
// (one batch of 16 × 36, 2 threads) for N seconds, the mean step printed per 10-s window. Here the
// first ~50 s ran at ~12.3 ms a `tiny` step and the rest at ~16.7 ms (1.36×), also with lr 1e-12
// (no training dynamics): the machine, not the model (bench/RESULTS.md, issue 5).
//   node bench/sustained.mjs [model=tiny] [seconds=150] [lr=1e-3]
import { loadNative } from '../dist/native.js';
import { modelConfig } from '../dist/model/presets.js';
const a = loadNative();
const cfg = modelConfig(process.argv[2] ?? 'tiny');
const secs = Number(process.argv[3] ?? 150);
let r = 7; const rnd = () => ((r = (Math.imul(r, 1664525) + 1013904223) >>> 0) / 4294967296);
const mk = (b, T) => ({ batchSize: b, seqLen: T, inputIds: Int32Array.from({ length: b * T }, () => Math.floor(rnd() * 50000)), lengths: new Int32Array(b).fill(T), labels: Int32Array.from({ length: b }, () => Math.floor(rnd() * 3)) });
const s = new a.Session({ model: cfg, threads: 2, seed: 1, lr: Number(process.argv[4] ?? 1e-3) }); await s.init();
const b = mk(16, 36);
const t0 = performance.now(); let w0 = t0; let n = 0; let ms = 0; const out = [];
while (performance.now() - t0 < secs * 1000) {
  const t = performance.now(); await s.step([b]); ms += performance.now() - t; n++;
  if (performance.now() - w0 > 10000) { out.push((ms / n).toFixed(1)); w0 = performance.now(); n = 0; ms = 0; }
}
console.log(process.argv.slice(2).join(' '), '| mean step ms per 10-s window:', out.join(' '));
