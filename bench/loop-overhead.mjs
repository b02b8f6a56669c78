#!/usr/bin/env node
// bench/loop-overhead.mjs — does the run's JS loop slow the native step? Alternating blocks of 400
// `tiny` Session steps (16 × 36, 2 threads): "pure" steps one fixed batch back to back; "runlike"
// does what `ftplan run` does between steps (a fresh batch, a JSONL line appended, setLr, garbage
// for the collector); "native" times the same shape in the native benchmark loop, as `ftplan estimate`
// does (a fresh model of the same shape, no JS between steps). Prints each block's mean step time.
//   node bench/loop-overhead.mjs [model=tiny] [steps per block=400] [rounds=4]
import { loadNative } from '../dist/native.js';
import { modelConfig } from '../dist/model/presets.js';
import { mean, median } from '../dist/measurement.js';
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
const a = loadNative();
const cfg = modelConfig(process.argv[2] ?? 'tiny');
const B = 16, T = 36, N = Number(process.argv[3] ?? 400);
const s = new a.Session({ model: cfg, threads: 2, seed: 1 }); await s.init();
let r = 7; const rnd = () => ((r = (Math.imul(r, 1664525) + 1013904223) >>> 0) / 4294967296);
const mk = () => ({ batchSize: B, seqLen: T, inputIds: Int32Array.from({ length: B * T }, () => Math.floor(rnd() * 50000)), lengths: new Int32Array(B).fill(T), labels: Int32Array.from({ length: B }, () => Math.floor(rnd() * 3)) });
const fixed = mk();
for (let i = 0; i < 5; i++) await s.step([fixed]);
const rounds = Number(process.argv[4] ?? 4);
const blocks = { pure: [], runlike: [], native: [] };
for (let rep = 0; rep < rounds; rep++) {
  for (const mode of rep % 2 ? ['native', 'runlike', 'pure'] : ['pure', 'runlike', 'native']) {
    if (mode === 'native') {
      const nb = await a.benchmark({ model: cfg, batchSize: B, seqLen: T, steps: N, warmupSteps: 2, evalBatchSize: 0, threads: 2, seed: 1 });
      blocks.native.push(mean(nb.stepMs));
      console.log(rep, mode, mean(nb.stepMs).toFixed(2));
      continue;
    }
    const w = [];
    for (let i = 0; i < N; i++) {
      let b = fixed;
      if (mode === 'runlike') { b = mk(); const junk = Array.from({ length: 2000 }, (_, k) => ({ k, v: String(k) })); appendFileSync(`${tmpdir()}/ftplan-loop-overhead.jsonl`, JSON.stringify({ step: i, loss: junk.length }) + '\n'); s.setLr(1e-4); }
      const ts = performance.now(); await s.step([b]); w.push(performance.now() - ts);
    }
    blocks[mode].push(mean(w));
    console.log(rep, mode, mean(w).toFixed(2));
  }
}
const ratio = (a, b) => median(blocks[a].map((x, i) => x / blocks[b][i]));
console.log(`median over ${rounds} rounds of the per-round ratio: runlike ÷ pure ${ratio('runlike', 'pure').toFixed(3)}, native ÷ pure ${ratio('native', 'pure').toFixed(3)}, runlike ÷ native ${ratio('runlike', 'native').toFixed(3)}`);
