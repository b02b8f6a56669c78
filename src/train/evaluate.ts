/**
 * evaluate.ts — a model's metrics on labelled rows: forward-only batches (longest-first, padded to
 * each batch's longest row), cross-entropy, accuracy, per-class precision/recall/F1, confusion.
 */
import type { Dataset, SplitData } from '../data/loaders.js';
import { fromNative } from '../errors.js';
import type { NativeSession } from '../native.js';
import { epochBatches, toNativeBatch, type Encoded } from './data.js';
import { lmEvalMetrics, type LmEvalMetrics } from './lm-metrics.js';
import { argmaxRows, classificationMetrics, crossEntropy, type EvalMetrics } from './metrics.js';

export async function evaluate(session: NativeSession, rows: readonly Encoded[], batchSize: number, padId: number, labels: readonly string[]): Promise<EvalMetrics> {
  const K = labels.length;
  const predicted: number[] = [];
  const truth: number[] = [];
  let lossSum = 0;
  for (const idx of epochBatches(rows, batchSize, 'longest', 0, 0, false)) {
    const batch = toNativeBatch(rows, idx, padId);
    let logits: Float32Array;
    try {
      logits = await session.logits(batch);
    } catch (e) {
      throw fromNative(e, 'evaluating');
    }
    const y = Array.from(batch.labels as Int32Array);
    lossSum += crossEntropy(logits, y, K) * y.length;
    predicted.push(...argmaxRows(logits, K));
    truth.push(...y);
  }
  return classificationMetrics(predicted, truth, labels, lossSum / truth.length);
}

/**
 * Causal-LM rows: forward-only batches (longest-first) through the core's lmEval — per row the
 * summed cross-entropy, counted targets and argmax hits, never the [B, T, V] logits at once — summed
 * over the split in row order: the loss per counted token, perplexity, token accuracy, and exact
 * match of the short completions (lm-metrics.ts).
 */
export async function evaluateLm(session: NativeSession, rows: readonly Encoded[], batchSize: number, padId: number): Promise<LmEvalMetrics> {
  const perRow: { lossSum: number; targets: number; correct: number; scored: boolean }[] = [];
  for (const idx of epochBatches(rows, batchSize, 'longest', 0, 0, false)) {
    const batch = toNativeBatch(rows, idx, padId);
    let r;
    try {
      r = await session.lmEval(batch);
    } catch (e) {
      throw fromNative(e, 'evaluating');
    }
    idx.forEach((i, b) => perRow.push({ lossSum: r.lossSum[b] as number, targets: r.targets[b] as number, correct: r.correct[b] as number, scored: (rows[i] as Encoded).lm?.exactMatch ?? false }));
  }
  return lmEvalMetrics(perRow);
}

/** The split a data set is evaluated on: test, else validation. */
export function evalSplit(ds: Dataset): SplitData | undefined {
  return ds.splits.test ?? ds.splits.validation;
}

/** Padded tokens of one pass over `rows` in eval batches (longest-first), for the eval throughput. */
export function evalPaddedTokens(rows: readonly Encoded[], batchSize: number): number {
  return epochBatches(rows, batchSize, 'longest', 0, 0, false).reduce((a, b) => a + b.length * Math.max(...b.map((i) => (rows[i] as Encoded).ids.length)), 0);
}
