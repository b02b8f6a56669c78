// Epoch arithmetic and batching, checked against hand-computed cases.
import { describe, expect, it } from 'vitest';
import { batchLengthSample, epochTokens, lengthsFromHistogram } from '../../src/data/batching.js';
import { fitStepTime, stepMsAt } from '../../src/measurement.js';
import { loadProfile } from '../../src/data/profile.js';
import { project, runStepsPerEpoch } from '../../src/planner/projection.js';
import { lengthSchedule, SHAPES_SAMPLE } from '../../src/commands/estimate.js';

describe('batching', () => {
  const lengths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

  it('fixed: every row costs the fixed length', () => {
    const e = epochTokens(lengths, 4, 'fixed', { fixedLength: 16 });
    expect(e.tokens).toBe(160);
    expect(e.batches).toBe(3);
    expect(e.realTokens).toBe(55);
    expect(e.efficiency).toBeCloseTo(55 / 160);
    expect(epochTokens(lengths, 4, 'fixed').tokens).toBe(100); // default: the longest row
  });

  it('longest: pads each batch to its own longest row; never below the real tokens, never above fixed', () => {
    const e = epochTokens(lengths, 4, 'longest', { seed: 1, shuffles: 5 });
    expect(e.tokens).toBeGreaterThanOrEqual(55);
    expect(e.tokens).toBeLessThanOrEqual(100);
    expect(epochTokens(lengths, 1, 'longest').tokens).toBe(55); // batch 1: no padding at all
    expect(epochTokens(lengths, 10, 'longest').tokens).toBe(100); // one batch: all padded to 10
    expect(epochTokens(lengths, 4, 'longest', { seed: 1, shuffles: 5 })).toEqual(e); // seeded
  });

  it('grouped: sorted mega-batches pad least: hand-computed [10,9,8,7] [6,5,4,3] [2,1] = 40 + 24 + 4', () => {
    expect(epochTokens(lengths, 4, 'grouped', { seed: 3 }).tokens).toBe(68);
  });

  it('truncation clips lengths to the model\'s positions', () => {
    expect(lengthsFromHistogram({ 3: 2, 2000: 1 }, 1024)).toEqual([3, 3, 1024]);
  });

  it('on the shipped tweet profile: longest pads far less than fixed, grouped less than longest', () => {
    const p = loadProfile();
    expect(p.splits.train.rows).toBe(27_481);
    expect(p.splits.test?.rows).toBe(3_534);
    const L = lengthsFromHistogram(p.splits.train.tokens.histogram);
    expect(L).toHaveLength(27_481);
    const fixed = epochTokens(L, 16, 'fixed');
    const longest = epochTokens(L, 16, 'longest');
    const grouped = epochTokens(L, 16, 'grouped');
    expect(fixed.tokens).toBe(27_481 * p.splits.train.tokens.max);
    expect(longest.tokens).toBeLessThan(fixed.tokens / 2);
    expect(grouped.tokens).toBeLessThan(longest.tokens);
    expect(grouped.tokens).toBeGreaterThanOrEqual(grouped.realTokens);
  });
});

describe('projection', () => {
  it('the reference workload: 27,481 rows, batch 16, 3 epochs = 1,718 steps/epoch, 5,154 steps', () => {
    const p = project({
      trainRows: 27_481,
      evalRows: 3_534,
      epochs: 3,
      batchSize: 16,
      gradAccum: 1,
      trainTokensPerEpoch: 1_000_000,
      evalTokensPerEpoch: 150_000,
      trainTokensPerSec: 250,
      evalTokensPerSec: 1_000,
      batching: 'longest',
    });
    expect(p.stepsPerEpoch).toBe(1_718); // ceil(27481 / 16)
    expect(p.totalSteps).toBe(5_154);
    expect(p.trainHours).toBeCloseTo((3 * 1_000_000) / 250 / 3600, 10); // 3.333 h
    expect(p.evalHours).toBeCloseTo((3 * 150_000) / 1_000 / 3600, 10); // 0.125 h
    expect(p.hours).toBeCloseTo(p.trainHours + p.evalHours, 10);
    expect(p.arithmetic[0]).toContain('1,718 steps/epoch × 3 epochs = 5,154 steps');
  });

  it('gradient accumulation: optimizer steps = floor(micro-batches / accumulation)', () => {
    const p = project({
      trainRows: 100,
      evalRows: 0,
      epochs: 2,
      batchSize: 8,
      gradAccum: 4,
      trainTokensPerEpoch: 3_200,
      evalTokensPerEpoch: 0,
      trainTokensPerSec: 100,
      evalTokensPerSec: null,
      batching: 'fixed',
    });
    expect(p.samplesPerStep).toBe(32);
    expect(p.stepsPerEpoch).toBe(3); // 13 micro-batches -> 3 steps of 4
    expect(p.totalSteps).toBe(6);
    expect(p.evalIncluded).toBe(false);
    expect(p.hours).toBeCloseTo(64 / 3600, 10);
  });

  it('steps per epoch as ftplan run (and HF Trainer) counts them: the partial micro-batch counts, a partial step is dropped', () => {
    expect(runStepsPerEpoch(27_481, 16)).toBe(1_718); // ceil(27481 / 16)
    expect(runStepsPerEpoch(100, 8, 4)).toBe(3); // 13 micro-batches -> 3 steps of 4
    expect(runStepsPerEpoch(100, 8, 2, 2)).toBe(3); // 2 ranks × 2 accumulation = 4 micro-batches a step
    expect(runStepsPerEpoch(27_481, 48, 11)).toBe(52); // 573 micro-batches -> 52 steps of 11 (528 rows each)
    expect(runStepsPerEpoch(5, 16, 4)).toBe(1); // never 0
  });

  it('rejects impossible inputs', () => {
    const base = { trainRows: 10, evalRows: 0, epochs: 1, batchSize: 1, gradAccum: 1, trainTokensPerEpoch: 10, evalTokensPerEpoch: 0, trainTokensPerSec: 1, evalTokensPerSec: null, batching: 'fixed' };
    expect(() => project({ ...base, batchSize: 0 })).toThrow(/batchSize/);
    expect(() => project({ ...base, trainTokensPerSec: 0 })).toThrow(/trainTokensPerSec must be positive/);
  });
});

describe('timing a sample of batch lengths', () => {
  it('batchLengthSample: k lengths spread over the epoch\'s padded batch lengths, seeded', () => {
    const lengths = lengthsFromHistogram(loadProfile().splits.train!.tokens.histogram);
    const a = batchLengthSample(lengths, 16, 'longest', 7, { seed: 3 });
    expect(a).toHaveLength(7);
    expect(batchLengthSample(lengths, 16, 'longest', 7, { seed: 3 })).toEqual(a);
    // strata: sorted, the sample climbs from short to long batches
    const sorted = [...a].sort((x, y) => x - y);
    expect(sorted[0]).toBeLessThan(sorted[6] as number);
    const mean = epochTokens(lengths, 16, 'longest', { seed: 3 }).meanPaddedLength;
    expect(sorted[0]).toBeLessThan(mean);
    expect(sorted[6]).toBeGreaterThan(mean);
    expect(Math.max(...a)).toBeLessThanOrEqual(Math.max(...lengths));
    expect(batchLengthSample(lengths, 16, 'fixed', 3, { fixedLength: 40 })).toEqual([40, 40, 40]);
  });

  it('lengthSchedule: the --steps strata first, then 64 more quantiles of the padded batch lengths, so long timing sees many shapes', () => {
    const lengths = Array.from({ length: 2000 }, (_, i) => 5 + ((i * 7919) % 60));
    const s = lengthSchedule(lengths, 16, 'longest', 5, { seed: 3 });
    expect(s).toHaveLength(5 + SHAPES_SAMPLE);
    expect(s.slice(0, 5)).toEqual(batchLengthSample(lengths, 16, 'longest', 5, { seed: 3 }));
    expect(new Set(s).size).toBeGreaterThan(5); // more distinct shapes than the strata alone
    const padded = new Set([3, 4].flatMap((seed) => batchLengthSample(lengths, 16, 'longest', 1000, { seed })));
    for (const t of s) expect(padded.has(t)).toBe(true); // every one a real padded batch length
    expect(lengthSchedule(lengths, 16, 'fixed', 5, { fixedLength: 64 })).toEqual([64, 64, 64, 64, 64]);
  });

  it('fitStepTime: Theil–Sen slope through each length\'s mean, level through the mean step; a stall is capped at 2× its length\'s median', () => {
    const lens = [10, 20, 30, 40, 50, 10, 20, 30, 40, 50, 10, 20, 30, 40, 50];
    const ms = lens.map((t) => 5 + 0.5 * t);
    const exact = fitStepTime(lens, ms);
    expect(exact.fit).toBe('theil-sen');
    expect(exact.msPerPosition).toBeCloseTo(0.5, 10);
    expect(exact.interceptMs).toBeCloseTo(5, 10);
    expect(stepMsAt(exact, 36)).toBeCloseTo(23, 10);
    // right skew: one step at length 10 took 1.5× (under the cap). The sum of the steps grows by 5 ms,
    // so the mean step, which is what a run adds up, grows by 5/15; the slope stays 0.5.
    const skewed = [...ms];
    skewed[0] = 15;
    const s = fitStepTime(lens, skewed);
    expect(s.msPerPosition).toBeCloseTo(0.5, 10);
    expect(stepMsAt(s, 30)).toBeCloseTo(20 + 5 / 15, 10); // 30 = the mean timed length
    // a stall: another process took the CPU for a whole step at length 40 (500 ms instead of 25);
    // it counts as 2 × 25 = 50 ms, not 500
    const stalled = [...ms];
    stalled[3] = 500;
    const st = fitStepTime(lens, stalled);
    expect(st.msPerPosition).toBeCloseTo(0.5, 10);
    expect(stepMsAt(st, 36)).toBeCloseTo(23 + 25 / 15, 10);
    // one length: the (capped) mean step
    expect(fitStepTime([32, 32, 32], [10, 30, 11])).toEqual({ interceptMs: (10 + 22 + 11) / 3, msPerPosition: 0, fit: 'mean' });
    // longer never costs less: a falling fit is noise, clamped to flat
    expect(fitStepTime([10, 20], [30, 10]).msPerPosition).toBe(0);
    // linear in the steps: 5,000 timed steps fit at once
    const many = Array.from({ length: 5000 }, (_, i) => 30 + (i % 5) * 3);
    expect(fitStepTime(many, many.map((t) => 2 + 0.25 * t)).msPerPosition).toBeCloseTo(0.25, 10);
  });
});
