/**
 * metrics.ts — classification metrics from predictions: accuracy, macro-F1, per-class precision
 * and recall, the confusion matrix (rows: true label, columns: predicted). Pure.
 */
import { isLmMetrics, lmScore, type LmEvalMetrics } from './lm-metrics.js';

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface EvalMetrics {
  loss: number;
  accuracy: number;
  macroF1: number;
  perClass: ClassMetrics[];
  confusion: number[][];
  rows: number;
}

export function argmaxRows(logits: Float32Array, classes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < logits.length; i += classes) {
    let best = 0;
    for (let k = 1; k < classes; k++) if ((logits[i + k] as number) > (logits[i + best] as number)) best = k;
    out.push(best);
  }
  return out;
}

/** Mean cross-entropy of logits [n, classes] against labels (log-sum-exp, stable). */
export function crossEntropy(logits: Float32Array, labels: readonly number[], classes: number): number {
  let sum = 0;
  labels.forEach((y, r) => {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    const max = Math.max(...row);
    let z = 0;
    for (const v of row) z += Math.exp(v - max);
    sum += max + Math.log(z) - (row[y] as number);
  });
  return sum / labels.length;
}

export function classificationMetrics(predicted: readonly number[], labels: readonly number[], names: readonly string[], loss = NaN): EvalMetrics {
  const K = names.length;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  labels.forEach((y, i) => (confusion[y] as number[])[predicted[i] as number]!++);
  const perClass = names.map((label, k) => {
    const tp = (confusion[k] as number[])[k] as number;
    const predictedK = confusion.reduce((a, row) => a + (row[k] as number), 0);
    const support = (confusion[k] as number[]).reduce((a, b) => a + b, 0);
    const precision = predictedK ? tp / predictedK : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support };
  });
  const correct = confusion.reduce((a, row, k) => a + (row[k] as number), 0);
  return {
    loss,
    accuracy: labels.length ? correct / labels.length : 0,
    macroF1: perClass.reduce((a, c) => a + c.f1, 0) / K,
    perClass,
    confusion,
    rows: labels.length,
  };
}

/** An evaluation of either task: classification metrics, or causal-LM ones (lm-metrics.ts). */
export type RunMetrics = EvalMetrics | LmEvalMetrics;

/** What a run improves on (early stopping, the curves): accuracy; causal-lm: exact match where rows are scored, else token accuracy. */
export function metricScore(m: RunMetrics): number {
  return isLmMetrics(m) ? lmScore(m) : m.accuracy;
}

export function metricScoreName(m: RunMetrics): string {
  return isLmMetrics(m) ? (m.exactMatch !== null ? 'exact match' : 'token accuracy') : 'accuracy';
}
