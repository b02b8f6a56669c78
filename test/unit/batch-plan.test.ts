// "Batch" means one thing per name: a BatchPlan (micro-batch × accumulation × ranks), its
// arithmetic, and each plan row's split of the effective batch.
import { describe, expect, it } from 'vitest';
import { batchPlan, describeBatch, effectiveBatch, microBatchesPerStep, stepsPerEpoch } from '../../src/batch-plan.js';
import { modelConfig } from '../../src/model/presets.js';
import { analyticActivationBytesPerRow, parameterCount } from '../../src/planner/memory.js';
import { plan, rowBatch } from '../../src/planner/recommend.js';
import { loadGpus, type PriceRow } from '../../src/pricing/catalog.js';

describe('BatchPlan', () => {
  it('the effective batch, the micro-batches per step and the steps per epoch come from its three numbers', () => {
    const b = batchPlan(8, 4, 2);
    expect(effectiveBatch(b)).toBe(64);
    expect(microBatchesPerStep(b)).toBe(8);
    expect(stepsPerEpoch(b, 1000)).toBe(15); // ceil(1000 / 8) = 125 micro-batches, 8 a step, the rest dropped
    expect(stepsPerEpoch(batchPlan(16), 10)).toBe(1); // never 0
    expect(describeBatch(b)).toBe('micro-batch 8 × 4 accumulation × 2 GPU(s) = 64 rows per step');
    expect(() => batchPlan(0)).toThrow(/microBatch must be a positive integer/);
    expect(() => batchPlan(4, 1.5)).toThrow(/gradAccum must be a positive integer/);
  });

  it("each plan row's split of the effective batch; a row whose GPU the model does not fit has none; the plan carries the pick's", () => {
    const cfg = modelConfig('gpt2-medium');
    const seqLen = 128;
    const P = parameterCount(cfg);
    const row = (over: Partial<PriceRow>): PriceRow => ({ cloud: 'gcp', instanceType: 'x', gpu: 'T4', gpuCount: 1, vCPUs: null, memoryGiB: null, region: 'us-central1', price: 1, spotPrice: null, source: 'test', asOf: '2026-11-01', note: '', ...over });
    const p = plan({
      measurement: { device: 'cpu', deviceName: 'cpu', dtype: 'fp32', stepMs: 1000, tokensPerStep: 16 * seqLen, flopsPerToken: 6 * P, achievedFlops: 1e11, parameters: P, nLayer: cfg.nLayer, evalTokensPerSec: null, tokensPerSec: 16 * seqLen },
      model: cfg,
      activation: { seqLen, perSamplePerLayer: analyticActivationBytesPerRow(cfg, seqLen, 'fp32') / cfg.nLayer, perSampleBase: 0, measuredOn: 'shape', dtype: 'fp32' },
      rows: [row({ instanceType: 'four', gpu: 'A100-80GB', gpuCount: 4, price: 8 }), row({ instanceType: 'one', gpu: 'A100-80GB', price: 2 }), row({ instanceType: 'small', gpu: 'T4', price: 0.1 })],
      gpus: loadGpus(),
      trainRows: 10_000,
      evalRows: 0,
      trainTokensPerEpoch: 10_000 * seqLen,
      evalTokensPerEpoch: 0,
      meanSeqLen: seqLen,
      batchSize: 64,
      objective: 'cost',
      spot: false,
      maxAgeDays: 90,
      now: new Date('2026-11-28T00:00:00Z'),
    });
    for (const r of p.rows) {
      const b = rowBatch(r);
      if (!r.fits) {
        expect(b).toBeNull();
        continue;
      }
      expect(b).toEqual({ microBatch: r.microBatch, gradAccum: r.gradAccum, ranks: r.gpus });
      expect(effectiveBatch(b!)).toBe(64);
    }
    expect(p.rows.some((r) => r.fits && r.gpus === 4)).toBe(true);
    expect(p.batch).toEqual(rowBatch(p.recommended!));
    expect(p.stepsPerEpoch).toBe(stepsPerEpoch(p.batch!, 10_000));
  });
});

