/**
 * lm-metrics.ts — causal-LM evaluation from the model's outputs: exact match of short completions,
 * token accuracy, and loss → perplexity. Pure.
 *
 * Exact match without generating: with HF labels (the label at t is predicted from the logits at
 * t − 1), a row's completion is matched when the argmax at every counted position equals its
 * target. That is exactly "greedy decoding from the prompt produces the completion": greedy's
 * first token is the argmax after the prompt (the same logits), and if it matches, greedy's next
 * input is the target token, i.e. the teacher-forced input — so by induction greedy reproduces the
 * whole completion iff every teacher-forced argmax matches. One forward pass per batch instead of
 * one per generated token.
 */
import { IGNORE_INDEX } from '../data/lm-examples.js';

export interface RowMatch {
  /** counted positions (targets) in the row */
  targets: number;
  /** of those, where the argmax was the target */
  correct: number;
  /** every target predicted: greedy decoding would produce the completion */
  exact: boolean;
}

export interface ExactMatch {
  rows: RowMatch[];
  /** rows with at least one target */
  scored: number;
  exact: number;
  /** exact / scored (NaN when nothing was scored) */
  exactMatch: number;
  /** correct / targets over all rows */
  tokenAccuracy: number;
}

/**
 * argmax: [batchSize * seqLen], the argmax of the logits at each position (the prediction of the
 * next token); lmLabels: [batchSize * seqLen] HF labels. Position 0's label is never predicted.
 */
export function exactMatch(argmax: ArrayLike<number>, lmLabels: ArrayLike<number>, batchSize: number, seqLen: number): ExactMatch {
  if (argmax.length !== batchSize * seqLen || lmLabels.length !== batchSize * seqLen) {
    throw new RangeError(`exactMatch: argmax (${argmax.length}) and lmLabels (${lmLabels.length}) must both hold batchSize × seqLen = ${batchSize * seqLen} values`);
  }
  const rows: RowMatch[] = [];
  let targets = 0;
  let correct = 0;
  for (let b = 0; b < batchSize; b++) {
    const row: RowMatch = { targets: 0, correct: 0, exact: false };
    for (let t = 1; t < seqLen; t++) {
      const label = lmLabels[b * seqLen + t] as number;
      if (label === IGNORE_INDEX) continue;
      row.targets++;
      if (argmax[b * seqLen + t - 1] === label) row.correct++;
    }
    row.exact = row.targets > 0 && row.correct === row.targets;
    targets += row.targets;
    correct += row.correct;
    rows.push(row);
  }
  const scored = rows.filter((r) => r.targets > 0).length;
  const exact = rows.filter((r) => r.exact).length;
  return { rows, scored, exact, exactMatch: scored ? exact / scored : Number.NaN, tokenAccuracy: targets ? correct / targets : Number.NaN };
}

/** Several batches' exact match as one. */
export function mergeExactMatch(parts: ExactMatch[]): ExactMatch {
  const rows = parts.flatMap((p) => p.rows);
  const scored = rows.filter((r) => r.targets > 0).length;
  const exact = rows.filter((r) => r.exact).length;
  const targets = rows.reduce((a, r) => a + r.targets, 0);
  const correct = rows.reduce((a, r) => a + r.correct, 0);
  return { rows, scored, exact, exactMatch: scored ? exact / scored : Number.NaN, tokenAccuracy: targets ? correct / targets : Number.NaN };
}

/**
 * The mean loss over all counted tokens from micro-batch means (each the mean over its own
 * targets, as the core computes it): weighted by targets, not averaged per batch — a batch of
 * long completions weighs more, as it would in one large batch.
 */
export function tokenWeightedLoss(batches: { loss: number; targets: number }[]): number {
  let sum = 0;
  let n = 0;
  for (const b of batches) {
    if (b.targets <= 0) continue;
    if (!Number.isFinite(b.loss)) return Number.NaN;
    sum += b.loss * b.targets;
    n += b.targets;
  }
  return n ? sum / n : Number.NaN;
}

/** exp(mean cross-entropy in nats per token); Infinity past what a double holds. */
export function perplexity(meanLoss: number): number {
  return Math.exp(meanLoss);
}

/** Bits per token, the unit some reports use: loss / ln 2. */
export function bitsPerToken(meanLoss: number): number {
  return meanLoss / Math.LN2;
}

/** Counted targets in a batch of HF labels (positions ≥ 1 of each row that are not ignored). */
export function countTargets(lmLabels: ArrayLike<number>, batchSize: number, seqLen: number): number {
  let n = 0;
  for (let b = 0; b < batchSize; b++) for (let t = 1; t < seqLen; t++) if (lmLabels[b * seqLen + t] !== IGNORE_INDEX) n++;
  return n;
}

/** A causal-LM evaluation: per counted token (loss, perplexity, token accuracy) and per short completion (exact match). */
export interface LmEvalMetrics {
  /** mean cross-entropy over every counted target of the split (nats per token) */
  loss: number;
  perplexity: number;
  /** counted targets the argmax predicted */
  tokenAccuracy: number;
  /** rows whose whole completion greedy decoding reproduces, of the rows scored (null: none scored: text or chat data, long or cut completions) */
  exactMatch: number | null;
  /** rows scored by exact match: prompt/completion rows with a short, uncut completion */
  exactMatchRows: number;
  targets: number;
  rows: number;
}

export function isLmMetrics(m: object): m is LmEvalMetrics {
  return 'perplexity' in m;
}

/** Per-row sums (the core's lmEval) → the split's metrics; `scored` says which rows count for exact match. */
export function lmEvalMetrics(rows: { lossSum: number; targets: number; correct: number; scored: boolean }[]): LmEvalMetrics {
  let lossSum = 0;
  let targets = 0;
  let correct = 0;
  let scored = 0;
  let exact = 0;
  for (const r of rows) {
    lossSum += r.lossSum;
    targets += r.targets;
    correct += r.correct;
    if (r.scored) {
      scored++;
      if (r.targets > 0 && r.correct === r.targets) exact++;
    }
  }
  const loss = targets ? lossSum / targets : Number.NaN;
  return { loss, perplexity: perplexity(loss), tokenAccuracy: targets ? correct / targets : Number.NaN, exactMatch: scored ? exact / scored : null, exactMatchRows: scored, targets, rows: rows.length };
}

/** The number a run improves on (early stopping, the curves): exact match where rows are scored, else token accuracy. */
export function lmScore(m: LmEvalMetrics): number {
  return m.exactMatch ?? m.tokenAccuracy;
}
