// The memory model (src/planner/memory.ts) fed by the native activation probe, against the peak the
// native core's counting allocator measures, on a small model (GPT-2's real sizes: test/slow/).
import { describe, expect, it } from 'vitest';
import { modelConfig } from '../../src/model/presets.js';
import { loadNative } from '../../src/native.js';
import { CUDA_RESERVE_BYTES, FRAGMENTATION_MARGIN, fitMicroBatch, trainingMemory } from '../../src/planner/memory.js';

describe('memory fit, measured on a small model', () => {
  const addon = loadNative();
  const cfg = modelConfig('mini'); // 4 layers, 128 channels, GPT-2's vocabulary
  const probe = () => addon.probeActivations({ model: cfg, seqLen: 64, threads: 1 });

  it('the probe gives a per-sample activation cost per layer and a base; the peak it predicts is within 10% of the measured one (batch 32 × 64)', async () => {
    const p = await probe();
    expect(p.perSamplePerLayer).toBeGreaterThan(0);
    expect(p.perSampleBase).toBeGreaterThanOrEqual(0);
    const r = await addon.benchmark({ model: cfg, batchSize: 2, seqLen: 16, steps: 1, warmupSteps: 0, threads: 1, probeBatchSizes: [32], probeSeqLen: 64 });
    const measured = r.probe[0]!.peakBytes;
    const predicted = trainingMemory(cfg, { ...p, seqLen: 64, measuredOn: 'cpu', dtype: 'fp32' }, 32).peakBytes;
    expect(Math.abs(predicted - measured) / measured).toBeLessThan(0.1);
  });

  it('the probe is deterministic (the counting allocator, not timing), and more batch needs more memory', async () => {
    const [a, b] = [await probe(), await probe()];
    expect(b).toEqual(a);
    const act = { ...a, seqLen: 64, measuredOn: 'cpu', dtype: 'fp32' as const };
    expect(trainingMemory(cfg, act, 64).peakBytes).toBeGreaterThan(trainingMemory(cfg, act, 32).peakBytes);
    // a GPU a little too small for batch 64 at once: the same effective batch, split with accumulation
    const gib = ((trainingMemory(cfg, act, 64).peakBytes - 1) / FRAGMENTATION_MARGIN + CUDA_RESERVE_BYTES) / 2 ** 30;
    const fit = fitMicroBatch(cfg, act, gib, 64);
    expect(fit.fits).toBe(true);
    expect(fit.gradAccum).toBeGreaterThan(1);
    expect(fit.microBatch * fit.gradAccum).toBeGreaterThanOrEqual(64);
    expect(trainingMemory(cfg, act, fit.microBatch).peakBytes).toBeLessThanOrEqual(fit.usableBytes);
    expect(fitMicroBatch(cfg, act, gib * 1.01, 64)).toMatchObject({ fits: true, microBatch: 64, gradAccum: 1 });
  });
});
