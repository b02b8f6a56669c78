// The proxy measurement: fixed + per-block fits read at the real depth are exact on a cost that
// is linear in the depth (stub measurements, no addon), the rule for when to measure a proxy, and
// measureProxy on a stub core: one build per depth, each session's own memory, every session closed.
import { describe, expect, it, vi } from 'vitest';
import { batchPlan } from '../../src/batch-plan.js';
import { meanError, measureProxy, roundSlopes } from '../../src/measure/proxy.js';
import type { NativeAddon, NativeBatch, SessionMemory } from '../../src/native.js';
import { StubSessionReports } from '../helpers.js';
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

describe('when a proxy\'s rounds have settled', () => {
  it('per-block time per position: rounds at other lengths agree when a block\'s time is proportional to the length', () => {
    const depths = [1, 2, 4];
    const at = (T: number, noise = 0) => depths.map((b) => 50 + (3 + noise) * T * b);
    expect(roundSlopes(depths, [at(36), at(42)], [36, 42])).toEqual([3, 3].map((x) => expect.closeTo(x, 9)));
    expect(meanError(roundSlopes(depths, [at(36), at(42)], [36, 42])).relativeError).toBeCloseTo(0, 9);
    // ±10% between two rounds: a standard error of 10% of the mean
    const e = meanError(roundSlopes(depths, [at(40, 0.3), at(40, -0.3)], [40, 40]));
    expect(e.mean).toBeCloseTo(3, 9);
    expect(e.relativeError).toBeCloseTo(0.1, 9);
    expect(meanError([3]).relativeError).toBe(Infinity);
  });
});

describe('measureProxy on a stub core', () => {
  /** Sessions whose i-th step takes ms(blocks, i) of a fake clock (100 + 40 × blocks) and whose memory is fixed + per block. */
  function stubCore(ms = (blocks: number, _i: number) => 100 + 40 * blocks) {
    const calls: string[] = [];
    const sessions: (StubSessionReports & { blocks: number })[] = [];
    let now = 0;
    const clock = { now: () => now };
    class Session extends StubSessionReports {
      readonly blocks: number;
      steps = 0;
      constructor(o: { model: { numHiddenLayers: number } }) {
        super();
        this.blocks = o.model.numHiddenLayers;
        calls.push(`Session ${this.blocks}`);
        sessions.push(this);
      }
      async init() {
        return 1;
      }
      setLr() {}
      async step(_: NativeBatch[]) {
        if (this.closed) throw new Error('stepped after close');
        now += ms(this.blocks, this.steps++);
        return { loss: 1, gradNorm: 1, tokens: 0, nativeMs: 0 };
      }
      override held(): Partial<SessionMemory> {
        return { peakBytes: 3e9 + 7e8 * this.blocks, currentBytes: 2e9 + 2e8 * this.blocks, trainableStateBytes: 1e6 * this.blocks };
      }
    }
    const addon = {
      runtimeInfo: () => ({ torchVersion: '1.13.1', cudaCompiled: false, hasSdpa: false }),
      benchmark: async () => {
        calls.push('benchmark');
        throw new Error('a proxy builds each depth once: no benchmark');
      },
      probeActivations: async (o: { model: { numHiddenLayers: number } }) => {
        calls.push(`probe ${o.model.numHiddenLayers}`);
        return { points: [], perSamplePerLayer: 10, perSampleBase: 5 };
      },
      flopsPerToken: (m: { numHiddenLayers: number }) => ({ flopsPerToken: 1e9 * (1 + m.numHiddenLayers), matmulParameters: 1e8 * (1 + m.numHiddenLayers) }),
      Session,
    } as unknown as NativeAddon;
    return { addon, calls, sessions, clock };
  }

  it('each depth is built once; its session\'s own peak and state are fitted and read at the real depth; every session is closed', async () => {
    const { addon, calls, sessions, clock } = stubCore();
    const now = vi.spyOn(performance, 'now').mockImplementation(clock.now);
    try {
      const spec = { name: 'llama-3.1-8b', model: llama8b, batch: batchPlan(2, 1), dtype: 'bf16' as const, device: 'cpu', threads: 2, seed: 1, seq: { seqLen: 64, meanLen: 64, sampleLens: [64] }, memoryWarmupSteps: 1, warmupSteps: 0, steps: 3, minMs: 0, evalBatchSize: 64, evalSteps: 2, activationSeqLen: 64, peft: { method: 'qlora' as const } };
      const m = await measureProxy(spec, addon);
      expect(calls).toEqual(['Session 1', 'Session 2', 'Session 4', 'probe 4']);
      expect(sessions.every((s) => s.closed)).toBe(true);
      expect(m.kind).toBe('proxy');
      expect(m.proxy.points.map((p) => p.blocks)).toEqual([1, 2, 4]);
      expect(m.peakMemoryBytes).toBeCloseTo(3e9 + 7e8 * 32, -3);
      expect(m.staticMemoryBytes).toBeCloseTo(2e9 + 2e8 * 32, -3);
      expect(m.stepMs).toBeCloseTo(100 + 40 * 32, 6);
      expect(m.evalStepMs).toBeNull();
      expect(m.proxy.points.map((p) => p.stepMs)).toEqual([140, 180, 260]);
      // two rounds agree exactly on the per-block time: settled before --steps 3
      expect(m.proxy).toMatchObject({ rounds: 2, perBlockError: 0 });
      expect(m.proxy.summary).toMatch(/per-block time ±0\.0% over 2 rounds/);
      // a warm-up step at the longest length although --warmup-steps was 0: the peak is that batch's
      expect(m.losses).toHaveLength(1 + 2);
      expect(m.memoryBreakdown).toMatchObject({ method: 'qlora', weightBytes: 1500 });
      expect(m.activation).toMatchObject({ perSamplePerLayer: 10, perSampleBase: 5, measuredOn: 'cpu (stub)' });
    } finally {
      now.mockRestore();
    }
  });

  it('rounds go on to --steps while the rounds\' per-block times disagree, and until --min-time', async () => {
    const spec = (steps: number, minMs: number) => ({ name: 'llama-3.1-8b', model: llama8b, batch: batchPlan(2, 1), dtype: 'bf16' as const, device: 'cpu', threads: 2, seed: 1, seq: { seqLen: 64, meanLen: 64, sampleLens: [64] }, memoryWarmupSteps: 1, warmupSteps: 1, steps, minMs, evalBatchSize: 0, evalSteps: 0, activationSeqLen: 64 });
    const rounds = async (ms: (blocks: number, i: number) => number, steps: number, minMs: number) => {
      const { addon, clock } = stubCore(ms);
      const now = vi.spyOn(performance, 'now').mockImplementation(clock.now);
      try {
        return (await measureProxy(spec(steps, minMs), addon)).proxy;
      } finally {
        now.mockRestore();
      }
    };
    // every other round the blocks cost twice as much: the per-block time never settles
    const noisy = await rounds((blocks, i) => 100 + (i % 2 ? 80 : 40) * blocks, 5, 0);
    expect(noisy.rounds).toBe(5);
    expect(noisy.perBlockError).toBeGreaterThan(0.05);
    // settled after two rounds, but --min-time asks for 2,000 ms of steps: a round is 580 ms
    expect((await rounds((blocks) => 100 + 40 * blocks, 5, 2000)).rounds).toBe(4);
  });

  it('a session that fails to build: the ones already built are closed, the error names the proxies', async () => {
    const { addon, sessions } = stubCore();
    const S = (addon as unknown as { Session: new (o: unknown) => StubSessionReports & { blocks: number; init(): Promise<number> } }).Session;
    const failing = class extends S {
      override async init() {
        if (this.blocks === 4) throw Object.assign(new Error('out of memory'), { code: 'ERR_NATIVE' });
        return 1;
      }
    };
    const spec = { name: 'llama-3.1-8b', model: llama8b, batch: batchPlan(2, 1), dtype: 'bf16' as const, device: 'cpu', threads: 2, seed: 1, seq: { seqLen: 64, meanLen: 64, sampleLens: [64] }, memoryWarmupSteps: 1, warmupSteps: 0, steps: 1, minMs: 0, evalBatchSize: 0, evalSteps: 0, activationSeqLen: 64 };
    await expect(measureProxy(spec, { ...addon, Session: failing } as unknown as NativeAddon)).rejects.toThrow(/llama-3.1-8b's proxies/);
    expect(sessions.map((s) => [s.blocks, s.closed])).toEqual([[1, true], [2, true], [4, true]]);
  });
});
