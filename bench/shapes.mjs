#!/usr/bin/env node
// bench/shapes.mjs — does a run's ever-changing batch shape cost more per token than a benchmark that
// cycles a few fixed batches? One `tiny` Session, alternating blocks of 300 steps: "few" cycles five
// fixed batches (lengths 31–43, what `estimate` used to time), "varied" builds a fresh batch of a
// random length 25–46 every step (what `ftplan run` feeds). Prints ms per padded position per block
// and the varied ÷ few ratio per pair. `node bench/shapes.mjs` (FTPLAN_CPU_CACHE=1 to try the block cache)
import { loadNative } from '../dist/native.js';
import { modelConfig } from '../dist/model/presets.js';
const a = loadNative();
const cfg = modelConfig('tiny');
const B = 16, N = 300;
const s = new a.Session({ model: cfg, threads: 2, seed: 1 }); await s.init();
let r = 7; const rnd = () => ((r = (Math.imul(r, 1664525) + 1013904223) >>> 0) / 4294967296);
const mk = (T) => ({ batchSize: B, seqLen: T, inputIds: Int32Array.from({ length: B * T }, () => Math.floor(rnd() * 50000)), lengths: Int32Array.from({ length: B }, () => 1 + Math.floor(rnd() * T)).map((x, i) => (i === 0 ? T : x)), labels: Int32Array.from({ length: B }, () => Math.floor(rnd() * 3)) });
const few = [31, 34, 36, 38, 43].map(mk);
const varied = () => { const T = 25 + Math.floor(rnd() * 22); return mk(T); }; // 25..46, mean 35.5
for (let i = 0; i < 5; i++) await s.step([few[i]]);
const res = { few: [], varied: [] };
for (let rep = 0; rep < 6; rep++) {
  for (const mode of rep % 2 ? ['varied', 'few'] : ['few', 'varied']) {
    let ms = 0, tok = 0;
    for (let i = 0; i < N; i++) {
      const b = mode === 'few' ? few[i % 5] : varied();
      const t0 = performance.now(); await s.step([b]); ms += performance.now() - t0; tok += b.seqLen;
    }
    res[mode].push(ms / tok); // ms per position
    console.log(rep, mode, (ms / N).toFixed(2), 'ms/step', (ms / tok).toFixed(4), 'ms/position');
  }
}
console.log('varied/few per-position ratio per rep:', res.varied.map((v, i) => (v / res.few[i]).toFixed(3)).join(' '));
