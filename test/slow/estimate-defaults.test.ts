// The README's `ftplan estimate`, exactly as a user first runs it: no flags, so gpt2 (124M) measured
// here at batch 16 on the tweet data's lengths, with the default 20 s of timed steps (minutes of CPU
// on a small machine: CI only; test/e2e/cli.test.ts runs the same path on the tiny preset).
import { describe, expect, it } from 'vitest';
import { ftplan } from '../helpers.js';

describe('ftplan estimate (no flags)', () => {
  it('measures gpt2 at batch 16 on the tweet data\'s length and projects 3 epochs (--json)', () => {
    const r = ftplan(['estimate', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schema).toBe('ftplan.estimate/1');
    expect(j.model).toBe('gpt2');
    expect(j.device).toBe('cpu');
    expect(j.dtype).toBe('fp32');
    expect(j.batchSize).toBe(16);
    // the mean padded length per batch of 16 under batching=longest, from the shipped profile
    expect(j.seqLen).toBeGreaterThan(20);
    expect(j.seqLen).toBeLessThan(60);
    const m = j.measurement;
    expect(m.stepMs).toBeGreaterThan(0);
    // at least 5 timed steps, and steps until they add up to the default --min-time of 20 s
    expect(m.stepMsAll.length).toBeGreaterThanOrEqual(5);
    const timed = m.stepMsAll.reduce((a: number, b: number) => a + b, 0);
    expect(timed >= 20_000 || m.stepMsAll.length === 5).toBe(true);
    expect(m.stepMsAll.length === 5 || timed - m.stepMsAll.at(-1) < 20_000).toBe(true);
    expect(m.stepSeqLens).toHaveLength(m.stepMsAll.length);
    expect(Math.min(...m.stepSeqLens)).toBeLessThan(Math.max(...m.stepSeqLens));
    expect(Math.abs(j.seqLen - m.tokensPerStep / 16)).toBeLessThanOrEqual(0.5); // the mean padded length, unrounded
    expect(m.stepModel.fit).toBe('theil-sen');
    expect(m.stepMs).toBeCloseTo(m.stepModel.interceptMs + (m.stepModel.msPerPosition * m.tokensPerStep) / 16, 6);
    expect(m.tokensPerSec).toBeCloseTo((m.tokensPerStep * 1000) / m.stepMs, 6);
    expect(m.peakMemoryBytes).toBeGreaterThan(124_000_000 * 16); // weights + grads + 2 AdamW moments, fp32
    expect(m.flopsPerToken).toBe(6 * 84_936_960 + 12 * 12 * 768 * j.seqLen);
    expect(m.achievedFlops).toBeCloseTo(m.flopsPerToken * m.tokensPerSec, 0);
    expect(j.libtorch.version).toMatch(/^(1\.13|2\.)/);
    expect(j.libtorch.blas).not.toBe('reference');
    const p = j.projection;
    expect(p.stepsPerEpoch).toBe(1_718);
    expect(p.totalSteps).toBe(5_154);
    expect(p.hours).toBeGreaterThan(0);
    expect(p.hours).toBeCloseTo(p.trainHours + p.evalHours, 10);
    // train hours follow from the measured throughput and the epoch's padded tokens
    expect(p.trainHours).toBeCloseTo((3 * p.trainTokensPerEpoch) / m.tokensPerSec / 3600, 8);
    expect(j.dataset).toMatchObject({ name: 'mteb/tweet_sentiment_extraction', trainRows: 27_481, evalRows: 3_534, source: 'shipped token-length profile' });
  }, 1_200_000);
});
