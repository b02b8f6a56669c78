#!/usr/bin/env node
// bench-ftplan.mjs — one ftplan benchmark (the addon's benchmark(): synthetic full rows, AdamW,
// clip 1.0, bf16 autocast with fp32 master weights) printed as one JSON line, for gpu-check.sh.
// Loads the addon directly (FTPLAN_NATIVE, else build/Release/ftplan.node): needs no dist/ and no
// node_modules, so it runs wherever the addon was built.
//   node scripts/device/bench-ftplan.mjs --model gpt2 --batch 16 --seq 128 --dtype bf16 --device cuda:0 --steps 30 --warmup 10
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

// The preset shapes (src/model/presets.ts); every other field takes the addon's GPT-2 default.
export const SHAPES = {
  gpt2: { nLayer: 12, nHead: 12, nEmbd: 768 },
  'gpt2-medium': { nLayer: 24, nHead: 16, nEmbd: 1024 },
  mini: { nLayer: 4, nHead: 4, nEmbd: 128, nPositions: 512 },
  tiny: { nLayer: 2, nHead: 2, nEmbd: 64, nPositions: 256 },
};

export function loadAddon() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const path = process.env.FTPLAN_NATIVE ? resolve(process.env.FTPLAN_NATIVE) : join(root, 'build/Release/ftplan.node');
  return createRequire(import.meta.url)(path);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values: a } = parseArgs({
    options: {
      model: { type: 'string', default: 'gpt2' },
      batch: { type: 'string', default: '16' },
      seq: { type: 'string', default: '128' },
      dtype: { type: 'string', default: 'bf16' },
      device: { type: 'string', default: 'cuda:0' },
      steps: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '10' },
      threads: { type: 'string', default: '0' },
    },
  });
  const model = SHAPES[a.model];
  if (!model) throw new Error(`unknown model '${a.model}' (${Object.keys(SHAPES).join(', ')})`);
  const addon = loadAddon();
  const info = addon.runtimeInfo();
  const opts = {
    model,
    batchSize: Number(a.batch),
    seqLen: Number(a.seq),
    steps: Number(a.steps),
    warmupSteps: Number(a.warmup),
    dtype: a.dtype,
    device: a.device,
    seed: 42,
  };
  if (Number(a.threads) > 0) opts.threads = Number(a.threads);
  const r = await addon.benchmark(opts);
  const med = median(r.stepMs);
  const tokensPerStep = opts.batchSize * opts.seqLen;
  process.stdout.write(
    `${JSON.stringify({
      impl: 'ftplan',
      model: a.model,
      batch: opts.batchSize,
      seq: opts.seqLen,
      dtype: a.dtype,
      device: r.device,
      deviceName: r.deviceName,
      torch: info.torchVersion,
      hasSdpa: info.hasSdpa,
      stepMs: r.stepMs,
      medianMs: med,
      tokensPerStep,
      tokensPerSec: (tokensPerStep / med) * 1000,
      flopsPerToken: r.flopsPerToken,
      parameters: r.parameters,
      peakMemoryBytes: r.peakMemoryBytes,
      peakMemorySource: r.peakMemorySource,
      losses: r.losses,
    })}\n`,
  );
}
