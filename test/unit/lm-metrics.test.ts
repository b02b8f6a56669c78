// Causal-LM evaluation from hand-made arrays: exact match of completions from teacher-forced
// argmax (the label at t against the argmax at t − 1), token accuracy, token-weighted loss and
// perplexity.
import { describe, expect, it } from 'vitest';
import { bitsPerToken, countTargets, exactMatch, mergeExactMatch, perplexity, tokenWeightedLoss } from '../../src/train/lm-metrics.js';

const I = -100;

describe('exactMatch', () => {
  // Three rows of T = 5. Labels: prompt masked, completion at positions 3..4 (rows 0, 1), 4 (row 2).
  const labels = [
    [I, I, I, 7, 9], // row 0: needs argmax[2] = 7, argmax[3] = 9
    [I, I, I, 7, 9], // row 1: same targets, second one missed
    [I, I, I, I, 5], // row 2: one target, needs argmax[3] = 5
  ];
  const argmax = [
    [0, 0, 7, 9, 3], // the last position predicts past the row: ignored
    [0, 0, 7, 8, 9],
    [1, 2, 3, 5, 4],
  ];
  const flat = (xs: number[][]) => xs.flat();

  it('a row matches only when every counted position is the argmax one step earlier', () => {
    const m = exactMatch(flat(argmax), flat(labels), 3, 5);
    expect(m.rows.map((r) => [r.targets, r.correct, r.exact])).toEqual([
      [2, 2, true],
      [2, 1, false],
      [1, 1, true],
    ]);
    expect([m.scored, m.exact]).toEqual([3, 2]);
    expect(m.exactMatch).toBeCloseTo(2 / 3, 12);
    expect(m.tokenAccuracy).toBeCloseTo(4 / 5, 12);
  });

  it('the argmax at the target\'s own position does not count (it predicts the next token)', () => {
    const aligned = [[0, 0, 0, 7, 9]]; // right tokens, wrong positions
    expect(exactMatch(aligned.flat(), labels[0]!, 1, 5).exact).toBe(0);
  });

  it('a label at position 0 is never predicted; rows with nothing counted are not scored', () => {
    const m = exactMatch([5, 5, 5, 5], [5, I, I, I], 1, 4);
    expect([m.scored, m.exact, Number.isNaN(m.exactMatch)]).toEqual([0, 0, true]);
    const two = exactMatch([1, 2, 3, 4, 5, 6], [I, 1, I, I, I, I], 2, 3);
    expect([two.scored, two.exact]).toEqual([1, 1]);
  });

  it('batches merge into one score; sizes are checked', () => {
    const a = exactMatch(flat(argmax.slice(0, 2)), flat(labels.slice(0, 2)), 2, 5);
    const b = exactMatch(argmax[2]!, labels[2]!, 1, 5);
    const all = exactMatch(flat(argmax), flat(labels), 3, 5);
    const merged = mergeExactMatch([a, b]);
    expect([merged.scored, merged.exact, merged.exactMatch, merged.tokenAccuracy]).toEqual([all.scored, all.exact, all.exactMatch, all.tokenAccuracy]);
    expect(() => exactMatch([1, 2, 3], [I, I], 1, 3)).toThrow(/batchSize × seqLen = 3/);
  });

  it('works on the typed arrays a batch carries', () => {
    const m = exactMatch(Int32Array.from(flat(argmax)), Int32Array.from(flat(labels)), 3, 5);
    expect(m.exact).toBe(2);
    expect(countTargets(Int32Array.from(flat(labels)), 3, 5)).toBe(5);
  });
});

describe('loss and perplexity', () => {
  it('micro-batch means weighted by their targets, not averaged per batch', () => {
    // batch 1: 1 target at loss 1.0; batch 2: 3 targets at mean 2.0 → (1 + 6) / 4
    expect(tokenWeightedLoss([{ loss: 1, targets: 1 }, { loss: 2, targets: 3 }])).toBeCloseTo(1.75, 12);
    expect(tokenWeightedLoss([{ loss: 9, targets: 0 }, { loss: 2, targets: 3 }])).toBe(2);
    expect(Number.isNaN(tokenWeightedLoss([]))).toBe(true);
    expect(Number.isNaN(tokenWeightedLoss([{ loss: Number.NaN, targets: 2 }]))).toBe(true);
  });

  it('perplexity = e^loss: a uniform guess over V tokens has perplexity V', () => {
    expect(perplexity(Math.log(128256))).toBeCloseTo(128256, 6);
    expect(perplexity(0)).toBe(1);
    expect(bitsPerToken(Math.LN2 * 3)).toBeCloseTo(3, 12);
  });
});
