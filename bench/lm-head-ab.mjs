#!/usr/bin/env node
// bench/lm-head-ab.mjs — one build's causal-LM training step against another's, processes
// alternating, on the same shape (default: the Qwen2.5-0.5B shape, B 4, T 128, bf16 autocast): for
// a change to the core measured side by side on a machine whose speed drifts.
//   node bench/lm-head-ab.mjs BUILD_A.node BUILD_B.node [pairs]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const [a, b, pairsArg] = process.argv.slice(2);
if (process.env.AB_CHILD) {
  const { createRequire } = await import('node:module');
  const addon = createRequire(import.meta.url)(process.env.AB_CHILD);
  const { decoderPresetConfig } = await import('../dist/model/decoder-presets.js');
  const B = Number(process.env.BENCH_BATCH ?? 4), T = Number(process.env.BENCH_SEQ ?? 128);
  const cfg = decoderPresetConfig(process.env.BENCH_MODEL ?? 'qwen2.5-0.5b', 'causal-lm', { numLabels: 3 });
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const inputIds = Int32Array.from({ length: B * T }, () => Math.floor(rnd() * (cfg.vocabSize - 1)));
  const batch = { batchSize: B, seqLen: T, inputIds, lengths: new Int32Array(B).fill(T), lmLabels: Int32Array.from(inputIds) };
  const session = new addon.Session({ model: cfg, threads: 2, seed: 42, dtype: 'bf16', lr: 5e-5 });
  await session.init();
  await session.step([batch]);
  const ms = [];
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    await session.step([batch]);
    ms.push(performance.now() - t0);
  }
  process.stdout.write(JSON.stringify(ms));
  process.exit(0);
}
const pairs = Number(pairsArg ?? 3);
const run = (node) => JSON.parse(spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, AB_CHILD: node }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).stdout);
for (let i = 0; i < pairs; i++) {
  const order = i % 2 === 0 ? [a, b] : [b, a];
  const r = Object.fromEntries(order.map((n) => [n, run(n)]));
  process.stdout.write(`pair ${i + 1}: A ${r[a].map((x) => x.toFixed(0)).join(', ')} ms · B ${r[b].map((x) => x.toFixed(0)).join(', ')} ms\n`);
}
