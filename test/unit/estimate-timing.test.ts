// The estimate's timing loop (timeRunSteps) on a stub addon and a fake clock: when it stops, which
// lengths it times, what it hands the session. Real step times are measured in bench/, never here.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMED_STEPS, WARMUP_EXTRA, WARMUP_PEAK_GROWTH, timeRunSteps, timeRunStepsInterleaved } from '../../src/measure/steps.js';
import type { NativeAddon, NativeBatch } from '../../src/native.js';
import { StubSessionReports, tinyModel } from '../helpers.js';

let now = 0;

interface Call {
  seqLens: number[];
  batchSizes: number[];
  seeds: number[];
  lr: number | null;
}

/** A Session that takes `ms(seqLen)` of fake time a step and records what it was given. */
function stubAddon(ms: (seqLen: number) => number) {
  const calls: Call[] = [];
  const bad: NativeBatch[] = [];
  let lr: number | null = null;
  class Session extends StubSessionReports {
    constructor(readonly opts: unknown) {
      super();
    }
    async init() {}
    setLr(v: number) {
      lr = v;
    }
    async step(batches: NativeBatch[], o: { seeds: number[] }) {
      calls.push({ seqLens: batches.map((b) => b.seqLen), batchSizes: batches.map((b) => b.batchSize), seeds: o.seeds, lr });
      // every row is a full row of the step's length
      for (const b of batches) if (b.inputIds.length !== b.batchSize * b.seqLen || b.lengths.some((l) => l !== b.seqLen)) bad.push(b);
      now += ms(batches[0]!.seqLen);
      return { loss: 1 + calls.length, gradNorm: 1, tokens: 0, nativeMs: 0 };
    }
  }
  return { addon: { Session } as unknown as NativeAddon, calls, bad };
}

const base = { model: tinyModel(), batchSize: 4, gradAccum: 1, dtype: 'fp32' as const, device: 'cpu', threads: 1, seed: 3, warmupSteps: 0 };

beforeEach(() => {
  now = 0;
  vi.spyOn(performance, 'now').mockImplementation(() => now);
});
afterEach(() => vi.restoreAllMocks());

describe('timeRunSteps: when timing stops', () => {
  it('--min-time keeps timing a fast model past 200 steps (the old cap) until its steps add up to it, then stops', async () => {
    const { addon } = stubAddon(() => 2); // 2 ms a step
    const r = await timeRunSteps(addon, { ...base, steps: 2, minMs: 4000, lens: [8] });
    expect(r.stepMs).toHaveLength(2000); // 2000 × 2 ms = 4000 ms
    expect(r.stepMs.every((ms) => ms === 2)).toBe(true);
    const total = r.stepMs.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(4000);
    expect(total - r.stepMs.at(-1)!).toBeLessThan(4000); // stopped at the first step past it
  });

  it('stops at the first step that reaches the minimum, whatever the step time', async () => {
    for (const stepMs of [7, 333, 1999]) {
      const { addon } = stubAddon(() => stepMs);
      const r = await timeRunSteps(addon, { ...base, steps: 1, minMs: 2000, lens: [8] });
      expect(r.stepMs).toHaveLength(Math.ceil(2000 / stepMs));
    }
  });

  it('times at least --steps steps when they pass the minimum sooner', async () => {
    const { addon } = stubAddon(() => 500);
    const r = await timeRunSteps(addon, { ...base, steps: 5, minMs: 100, lens: [8] });
    expect(r.stepMs).toEqual([500, 500, 500, 500, 500]);
  });

  it(`never times more than ${MAX_TIMED_STEPS} steps`, async () => {
    const { addon } = stubAddon(() => 0.01);
    const r = await timeRunSteps(addon, { ...base, steps: 1, minMs: 1e9, lens: [8] });
    expect(r.stepMs).toHaveLength(MAX_TIMED_STEPS);
  });

  it('--min-time 0 times exactly --steps steps', async () => {
    const { addon } = stubAddon(() => 10);
    expect((await timeRunSteps(addon, { ...base, steps: 3, minMs: 0, lens: [8] })).stepMs).toHaveLength(3);
  });
});

describe('timeRunSteps: what it times', () => {
  it('the lengths in turn, one a step; warm-up steps at the longest length, untimed, their losses first', async () => {
    const { addon, calls, bad } = stubAddon((T) => T); // a step of length T takes T ms
    const r = await timeRunSteps(addon, { ...base, warmupSteps: 2, steps: 5, minMs: 0, lens: [8, 16, 12] });
    expect(bad).toEqual([]);
    expect(calls.map((c) => c.seqLens[0])).toEqual([16, 16, 8, 16, 12, 8, 16]);
    expect(r.stepSeqLens).toEqual([8, 16, 12, 8, 16]);
    expect(r.stepMs).toEqual([8, 16, 12, 8, 16]); // each step's own time, not the warm-up's
    expect(r.losses).toEqual([2, 3, 4, 5, 6, 7, 8]); // 2 warm-up losses, then one per timed step
    expect(calls.slice(2).every((c) => c.lr === 5e-5)).toBe(true); // timed steps at a fixed learning rate
  });

  it('gradient accumulation: each step is --grad-accum micro-batches of --batch-size, each with its own dropout seed', async () => {
    const { addon, calls } = stubAddon(() => 1);
    await timeRunSteps(addon, { ...base, batchSize: 3, gradAccum: 4, steps: 2, minMs: 0, lens: [10] });
    expect(calls).toHaveLength(2);
    for (const c of calls) {
      expect(c.batchSizes).toEqual([3, 3, 3, 3]);
      expect(new Set(c.seeds).size).toBe(4);
    }
    expect(calls[0]!.seeds).not.toEqual(calls[1]!.seeds);
  });

  it('is seeded: the same seed gives the same batches and seeds, another seed others', async () => {
    const record = async (seed: number) => {
      const ids: number[][] = [];
      const { addon } = stubAddon(() => 1);
      const S = (addon as unknown as { Session: new (o: unknown) => { step(b: NativeBatch[], o: { seeds: number[] }): Promise<unknown> } }).Session;
      const spy = class extends S {
        override step(b: NativeBatch[], o: { seeds: number[] }) {
          ids.push([...b[0]!.inputIds, ...b[0]!.labels!, ...o.seeds]);
          return super.step(b, o);
        }
      };
      await timeRunSteps({ Session: spy } as unknown as NativeAddon, { ...base, seed, steps: 3, minMs: 0, lens: [6, 9] });
      return ids;
    };
    const a = await record(5);
    expect(await record(5)).toEqual(a);
    expect(await record(6)).not.toEqual(a);
    expect(a.flat().every((v) => Number.isInteger(v) && v >= 0)).toBe(true);
  });
});

/** An addon whose Session of `nLayer` blocks takes `ms(blocks)` of the fake clock a step and reports each step to `seen`. */
function steppedAddon(ms: (blocks: number) => number, seen: (blocks: number, b: NativeBatch[]) => void = () => {}): NativeAddon {
  const Session = class extends StubSessionReports {
    readonly blocks: number;
    constructor(o: { model: { nLayer: number } }) {
      super();
      this.blocks = o.model.nLayer;
    }
    async init() {}
    setLr() {}
    async step(b: NativeBatch[]) {
      seen(this.blocks, b);
      now += ms(this.blocks);
      return { loss: 1, gradNorm: 1, tokens: 0, nativeMs: 0 };
    }
  };
  return { Session } as unknown as NativeAddon;
}

describe('timeRunStepsInterleaved: a proxy\'s depths stepped in turn', () => {
  it('every model a step a round on the same batch, the order rotating; each model\'s own step times', async () => {
    const order: number[] = [];
    const lens: number[][] = [];
    const addon = steppedAddon(
      (blocks) => 100 + 10 * blocks,
      (blocks, b) => {
        order.push(blocks);
        lens.push([b[0]!.seqLen, b[0]!.inputIds[0]!]);
      },
    );
    const models = [1, 2, 4].map((nLayer) => ({ ...tinyModel(), nLayer }));
    const rounds: number[][] = [];
    const r = await timeRunStepsInterleaved(addon, models, { ...base, warmupSteps: 1, steps: 3, minMs: 0, lens: [8, 16] });
    for (let i = 3; i < order.length; i += 3) rounds.push(order.slice(i, i + 3));
    // the warm-up in model order, then the rounds rotating
    expect(order.slice(0, 3)).toEqual([1, 2, 4]);
    expect(rounds).toEqual([[1, 2, 4], [2, 4, 1], [4, 1, 2]]);
    // within a round every model gets the same batch
    for (let i = 3; i < lens.length; i += 3) expect(new Set(lens.slice(i, i + 3).map((x) => x.join())).size).toBe(1);
    expect(r.map((t) => t.stepMs)).toEqual([[110, 110, 110], [120, 120, 120], [140, 140, 140]]);
    expect(r.map((t) => t.stepSeqLens)).toEqual([[8, 16, 8], [8, 16, 8], [8, 16, 8]]);
  });

  it('--min-time counts every model\'s steps: rounds until their sum reaches it', async () => {
    let steps = 0;
    const addon = steppedAddon((blocks) => 100 * blocks, () => steps++);
    const models = [1, 2, 4].map((nLayer) => ({ ...tinyModel(), nLayer }));
    // a round is 700 ms of steps: 1,500 ms takes three rounds (the shallowest alone would take fifteen)
    const r = await timeRunStepsInterleaved(addon, models, { ...base, warmupSteps: 0, steps: 1, minMs: 1500, lens: [8] });
    expect(r.map((t) => t.stepMs.length)).toEqual([3, 3, 3]);
    expect(steps).toBe(9);
  });
});

describe('timing: a first timed step that still raises the peak memory is warm-up', () => {
  /** an addon whose n-th step (from 0, warm-up included) raises its session's peak by `growth(n)` bytes and takes 100 ms, or 300 ms while growing */
  function growing(growth: (n: number) => number) {
    const seqLens: number[] = [];
    const Session = class extends StubSessionReports {
      peak = 5000;
      override held() {
        return { peakBytes: this.peak };
      }
      async init() {}
      setLr() {}
      async step(b: NativeBatch[]) {
        const g = growth(seqLens.length);
        seqLens.push(b[0]!.seqLen);
        this.peak += g;
        now += g > 0 ? 300 : 100;
        return { loss: seqLens.length, gradNorm: 1, tokens: 0, nativeMs: 0 };
      }
    };
    return { addon: { Session } as unknown as NativeAddon, seqLens };
  }
  const big = WARMUP_PEAK_GROWTH + 1;

  it('a first timed step whose peak rose by more than WARMUP_PEAK_GROWTH is not timed but taken again at the same length', async () => {
    const { addon, seqLens } = growing((n) => (n < 3 ? big : 0)); // the warm-up and the next two steps grow
    const r = await timeRunSteps(addon, { ...base, warmupSteps: 1, steps: 3, minMs: 0, lens: [8, 16] });
    expect(seqLens).toEqual([16, 8, 8, 8, 16, 8]);
    expect(r.warmupSteps).toBe(3);
    expect(r.stepMs).toEqual([100, 100, 100]); // no growing step among them
    expect(r.stepSeqLens).toEqual([8, 16, 8]); // the schedule's lengths from its start
    expect(r.losses).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a step growing by the threshold or less is timed; one that grows later is timed too (only the leading steps are warm-up)', async () => {
    const { addon } = growing((n) => (n === 1 ? WARMUP_PEAK_GROWTH : n === 2 ? big : 0));
    const r = await timeRunSteps(addon, { ...base, warmupSteps: 1, steps: 3, minMs: 0, lens: [8] });
    expect(r.warmupSteps).toBe(1);
    expect(r.stepMs).toEqual([300, 300, 100]);
  });

  it(`at most ${WARMUP_EXTRA} more, then a step is timed however it grows; none with --warmup-steps 0`, async () => {
    const always = growing(() => big);
    const r = await timeRunSteps(always.addon, { ...base, warmupSteps: 2, steps: 2, minMs: 0, lens: [8] });
    expect(r.warmupSteps).toBe(2 + WARMUP_EXTRA);
    expect(always.seqLens).toHaveLength(2 + WARMUP_EXTRA + 2);
    const none = growing(() => big);
    const r0 = await timeRunSteps(none.addon, { ...base, warmupSteps: 0, steps: 2, minMs: 0, lens: [8] });
    expect(r0.warmupSteps).toBe(0);
    expect(none.seqLens).toHaveLength(2);
  });

  it('a proxy\'s round is warm-up when any of its depths grew, and every depth takes it again', async () => {
    let calls = 0;
    const grown: StubSessionReports[] = [];
    const addon = steppedAddon((blocks) => 100 * blocks);
    const S = (addon as unknown as { Session: new (o: unknown) => StubSessionReports & { blocks: number; step(b: NativeBatch[]): Promise<unknown> } }).Session;
    const Session = class extends S {
      peak = 5000;
      override held() {
        return { peakBytes: this.peak };
      }
      override async step(b: NativeBatch[]) {
        // the warm-up round is calls 0–2; in the first timed round the 1-block model's peak grows
        if (calls++ === 3) {
          this.peak += big;
          grown.push(this);
        }
        return super.step(b);
      }
    };
    const models = [1, 2, 4].map((nLayer) => ({ ...tinyModel(), nLayer }));
    const r = await timeRunStepsInterleaved({ Session } as unknown as NativeAddon, models, { ...base, warmupSteps: 1, steps: 2, minMs: 0, lens: [8, 16] });
    expect(calls).toBe(3 * (1 + 1 + 2));
    expect(grown.map((s) => (s as unknown as { blocks: number }).blocks)).toEqual([1]);
    expect(r.map((t) => t.warmupSteps)).toEqual([2, 2, 2]);
    expect(r.map((t) => t.stepSeqLens)).toEqual([[8, 16], [8, 16], [8, 16]]);
  });
});
