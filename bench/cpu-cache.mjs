#!/usr/bin/env node
// bench/cpu-cache.mjs — the CPU block cache (native/memory.cpp) on and off, side by side: for each
// case, pairs of child processes (one with FTPLAN_CPU_CACHE=1, one with =0, the order alternating),
// each building one Session, taking a warm-up step and timing STEPS steps. Prints the median step
// per process and off ÷ on per pair. Cases: GPT-2 classification at estimate's default batch (the
// shape the cache was first measured on), Qwen2.5-0.5B LoRA causal-LM, and two blocks of
// Llama-3.1-8B under QLoRA (a proxy depth `estimate` measures): weights of hundreds of MB, whose
// per-step temporaries (dequantised NF4, bf16 → fp32 copies) are each above glibc's mmap threshold.
// `node bench/cpu-cache.mjs` after `npm run build`; BENCH_PAIRS (2), BENCH_STEPS (3), BENCH_CASES.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CASES = {
  'gpt2-cls-full': { model: 'gpt2', task: 'classification', method: 'full', B: 16, T: 38, depth: null },
  'qwen0.5b-lm-lora': { model: 'qwen2.5-0.5b', task: 'causal-lm', method: 'lora', B: 4, T: 128, depth: null },
  'llama8b-cls-qlora-2blocks': { model: 'llama-3.1-8b', task: 'classification', method: 'qlora', B: 16, T: 38, depth: 2 },
};

if (process.argv[2] === '--child') {
  const c = JSON.parse(process.argv[3]);
  const D = new URL('../dist/', import.meta.url).href;
  const { resolveAnyModel } = await import(`${D}model/resolve.js`);
  const { peftSettings, nativePeft } = await import(`${D}train/peft.js`);
  const { loadNative } = await import(`${D}native.js`);
  const { withDepth } = await import(`${D}measure/proxy.js`);
  const m = await resolveAnyModel(c.model, { task: c.task, need: 'shape' });
  let cfg = c.task === 'classification' ? { ...m.config, numLabels: 3 } : m.config;
  if (c.depth) cfg = withDepth(cfg, c.depth);
  const peft = c.method === 'full' ? {} : nativePeft(peftSettings({ method: c.method }, cfg, c.model));
  const addon = loadNative();
  const s = new addon.Session({ model: cfg, threads: 2, seed: 1, dtype: 'fp32', device: 'cpu', ...peft });
  await s.init();
  const ids = Int32Array.from({ length: c.B * c.T }, (_, i) => (i * 7919) % Math.min(cfg.vocabSize, 30000));
  const batch = [{ batchSize: c.B, seqLen: c.T, inputIds: ids, lengths: new Int32Array(c.B).fill(c.T), ...(c.task === 'classification' ? { labels: new Int32Array(c.B).fill(1) } : { lmLabels: ids.slice() }) }];
  await s.step(batch, { seeds: [0] });
  const ms = [];
  for (let i = 0; i < c.steps; i++) {
    const t0 = performance.now();
    await s.step(batch, { seeds: [i + 1] });
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ median: ms[Math.floor(ms.length / 2)], all: ms }));
  process.exit(0);
}

const pairs = Number(process.env.BENCH_PAIRS ?? 2);
const steps = Number(process.env.BENCH_STEPS ?? 3);
const names = (process.env.BENCH_CASES ?? Object.keys(CASES).join(',')).split(',');
const self = fileURLToPath(import.meta.url);
const child = (c, on) => {
  const r = spawnSync(process.execPath, [self, '--child', JSON.stringify({ ...c, steps })], { env: { ...process.env, FTPLAN_CPU_CACHE: on ? '1' : '0', OMP_NUM_THREADS: '2' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout).median;
};
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| case | cache on: median step ms per process | off | off ÷ on per pair | median |`);
console.log(`|---|---|---|---|---|`);
for (const name of names) {
  const c = CASES[name];
  const on = [], off = [];
  for (let p = 0; p < pairs; p++) {
    if (p % 2 === 0) { on.push(child(c, true)); off.push(child(c, false)); }
    else { off.push(child(c, false)); on.push(child(c, true)); }
  }
  const ratios = on.map((x, i) => off[i] / x);
  console.log(`| ${name} (B ${c.B} × T ${c.T}${c.depth ? `, ${c.depth} blocks` : ''}) | ${on.map((x) => x.toFixed(0)).join(', ')} | ${off.map((x) => x.toFixed(0)).join(', ')} | ${ratios.map((x) => x.toFixed(2)).join(', ')} | ${med(ratios).toFixed(2)}× |`);
}
