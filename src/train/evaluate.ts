/**
 * evaluate.ts — a model's metrics on labelled rows: forward-only batches (longest-first, padded to
 * each batch's longest row), cross-entropy, accuracy, per-class precision/recall/F1, confusion.
 */
import type { Dataset, SplitData } from '../data/loaders.js';
import { fromNative } from '../errors.js';
import type { NativeSession } from '../native.js';
import { epochBatches, toNativeBatch, type Encoded } from './data.js';
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

/** The split a data set is evaluated on: test, else validation. */
export function evalSplit(ds: Dataset): SplitData | undefined {
  return ds.splits.test ?? ds.splits.validation;
}

/** Padded tokens of one pass over `rows` in eval batches (longest-first), for the eval throughput. */
export function evalPaddedTokens(rows: readonly Encoded[], batchSize: number): number {
  return epochBatches(rows, batchSize, 'longest', 0, 0, false).reduce((a, b) => a + b.length * Math.max(...b.map((i) => (rows[i] as Encoded).ids.length)), 0);
}
