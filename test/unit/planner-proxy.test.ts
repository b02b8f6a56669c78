// The proxy measurement: fixed + per-block fits read at the real depth are exact on a cost that
// is linear in the depth (stub measurements, no addon), and the rule for when to measure a proxy.
import { describe, expect, it } from 'vitest';
import type { Measurement } from '../../src/measurement.js';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { atDepth, extrapolate, fitDepth, proxyDepths, proxyRule, withDepth } from '../../src/measure/proxy.js';

const llama8b = decoderPresetConfig('llama-3.1-8b', 'causal-lm');

/** A measurement of the model at `blocks` depth whose every figure is fixed + perBlock × blocks. */
function stub(blocks: number): Measurement {
  const lin = (fixed: number, per: number) => fixed + per * blocks;
  return {
    schema: 'ftplan.measurement/1',
    model: 'proxy',
    modelConfig: withDepth(llama8b, blocks),
    device: 'cpu',
    deviceName: 'stub',
    deviceMemoryBytes: 0,
    dtype: 'fp32',
    batchSize: 2,
    gradAccum: 1,
    seqLen: 64,
    threads: 2,
    warmupSteps: 1,
    steps: 5,
    stepMs: lin(120, 35),
    stepMsMin: 0,
    stepMsMax: 0,
    stepMsAll: [],
    stepModel: { interceptMs: lin(20, 5), msPerPosition: lin(1.5, 0.25), fit: 'theil-sen' },
    tokensPerStep: 128,
    tokensPerSec: (128 / lin(120, 35)) * 1000,
    samplesPerSec: (2 / lin(120, 35)) * 1000,
    evalBatchSize: 4,
    evalStepMs: lin(30, 9),
    evalTokensPerSec: (256 / lin(30, 9)) * 1000,
    peakMemoryBytes: lin(9e9, 3.5e9),
    peakMemorySource: 'stub',
    staticMemoryBytes: lin(8e9, 3.4e9),
    rssPeakBytes: null,
    parameters: 1,
    matmulParameters: 1,
    flopsPerToken: 1,
    achievedFlops: 1,
    losses: [1],
    setupMs: 1,
    activation: { seqLen: 64, perSamplePerLayer: 1000, perSampleBase: 10, measuredOn: 'stub', dtype: 'fp32' },
    libtorch: { version: 'x', cuda: false, source: null, hasSdpa: false },
    blas: { kind: 'openblas', path: null, slow: false },
    host: { cpus: 2, loadBefore: 0, loadAfter: 0 },
    measuredAt: '2026-11-30T00:00:00Z',
  } as Measurement;
}

describe('proxy: fixed + per block, read at the real depth', () => {
  it('fitDepth is exact on a line and reports no residual', () => {
    const f = fitDepth([1, 2, 4].map((b) => ({ blocks: b, value: 7 + 3 * b })));
    expect(f.fixed).toBeCloseTo(7, 12);
    expect(f.perBlock).toBeCloseTo(3, 12);
    expect(f.maxResidual).toBeLessThan(1e-12);
    expect(atDepth(f, 32)).toBeCloseTo(103, 10);
    expect(() => fitDepth([{ blocks: 2, value: 1 }])).toThrow(/two depths/);
  });

  it('the 1-, 2- and 4-block measurements of a cost linear in depth extrapolate exactly to 32 blocks', () => {
    const m = extrapolate(llama8b, { parameters: 8_030_261_248, matmulParameters: 7_504_924_672, flopsPerToken: 4.6e10 }, [1, 2, 4].map((blocks) => ({ blocks, m: stub(blocks) })));
    expect(m.stepMs).toBeCloseTo(120 + 35 * 32, 9);
    expect(m.peakMemoryBytes).toBeCloseTo(9e9 + 3.5e9 * 32, 0);
    expect(m.staticMemoryBytes).toBeCloseTo(8e9 + 3.4e9 * 32, 0);
    expect(m.evalStepMs).toBeCloseTo(30 + 9 * 32, 9);
    expect(m.stepModel?.interceptMs).toBeCloseTo(20 + 5 * 32, 9);
    expect(m.stepModel?.msPerPosition).toBeCloseTo(1.5 + 0.25 * 32, 9);
    expect(m.tokensPerSec).toBeCloseTo((128 / (120 + 35 * 32)) * 1000, 9);
    expect(m.achievedFlops).toBeCloseTo(4.6e10 * m.tokensPerSec, 0);
    expect(m.parameters).toBe(8_030_261_248);
    expect(m.modelConfig).toEqual(llama8b);
    expect(m.kind).toBe('proxy');
    expect(m.proxy.summary).toMatch(/^proxy: 1, 2, 4 of 32 blocks/);
    expect(m.proxy.fits.stepMs.maxResidual).toBeLessThan(1e-9);
  });

  it('a per-block time the fit finds not positive (noise over the blocks\' share) is not extrapolated: the deepest step is scaled by FLOPs, and the record says so', () => {
    const noisy = (blocks: number) => ({ ...stub(blocks), stepMs: 1000 - blocks, flopsPerToken: 1e9 * (2 + blocks) });
    const m = extrapolate(llama8b, { parameters: 8_030_261_248, matmulParameters: 7_504_924_672, flopsPerToken: 1e9 * 34 }, [1, 2, 4].map((blocks) => ({ blocks, m: noisy(blocks) })));
    expect(m.stepMs).toBeCloseTo(996 * (34 / 6), 9);
    expect(m.tokensPerSec).toBeGreaterThan(0);
    expect(m.proxy.summary).toMatch(/step time scaled by FLOPs from 4 blocks, ×5\.67/);
    expect(m.peakMemoryBytes).toBeCloseTo(9e9 + 3.5e9 * 32, 0); // memory is still fitted
  });

  it('the depths: 1, 2, 4 unless the LM head outweighs 4 blocks; then up to half the real depth', () => {
    expect(proxyDepths(llama8b)).toEqual([1, 2, 4]);
    expect(proxyDepths(decoderPresetConfig('qwen2.5-0.5b', 'causal-lm'))).toEqual([2, 4, 8]); // the head has 9 blocks' matmul parameters
    expect(proxyDepths(decoderPresetConfig('qwen2.5-0.5b', 'classification'))).toEqual([1, 2, 4]);
    expect(proxyDepths(decoderPresetConfig('llama-3.1-70b', 'causal-lm'))).toEqual([1, 2, 4]);
  });

  it('the rule: a proxy when the whole model does not fit here or a step is too big; --proxy / --no-proxy force it', () => {
    const base = { microBatch: 2, gradAccum: 1, seqLen: 64, dtype: 'fp32' as const };
    expect(proxyRule(llama8b, { ...base, availableBytes: 16 * 2 ** 30 })).toMatchObject({ proxy: true, reason: expect.stringMatching(/needs .* GiB to train here/) });
    expect(proxyRule(llama8b, { ...base, availableBytes: 16 * 2 ** 40 }).proxy).toBe(true); // fits, but 6·N·tokens is 6 TFLOP
    const tiny = decoderPresetConfig('qwen2.5-0.5b', 'causal-lm');
    expect(proxyRule(tiny, { ...base, availableBytes: 64 * 2 ** 30 }).proxy).toBe(false);
    expect(proxyRule(tiny, { ...base, availableBytes: 64 * 2 ** 30, force: true }).proxy).toBe(true);
    expect(proxyRule(llama8b, { ...base, availableBytes: 1, force: false }).proxy).toBe(false);
    expect(proxyRule(decoderPresetConfig('tiny-llama', 'causal-lm'), { ...base, availableBytes: 1, force: true })).toMatchObject({ proxy: false, reason: expect.stringMatching(/2 blocks: measured whole/) });
  });
});
