/**
 * projection.ts — from a measured throughput to the wall time of a fine-tune on the same device.
 * Pure: no I/O, no native calls. The arithmetic is spelled out, nanoGPT style, so a reader can
 * check it by hand.
 */
import { batchPlan, effectiveBatch, stepsPerEpoch as epochSteps } from '../batch-plan.js';

export interface ProjectionInput {
  trainRows: number;
  evalRows: number;
  epochs: number;
  /** the micro-batch (rows per forward/backward) and micro-batches per step, on one process */
  batchSize: number;
  gradAccum: number;
  /** padded tokens of one training epoch under the batching policy */
  trainTokensPerEpoch: number;
  /** padded tokens of one pass over the eval split */
  evalTokensPerEpoch: number;
  trainTokensPerSec: number;
  evalTokensPerSec: number | null;
  batching: string;
}

export interface Projection {
  epochs: number;
  samplesPerStep: number;
  stepsPerEpoch: number;
  totalSteps: number;
  trainTokensPerEpoch: number;
  evalTokensPerEpoch: number;
  trainHours: number;
  evalHours: number;
  hours: number;
  evalIncluded: boolean;
  arithmetic: string[];
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function project(p: ProjectionInput): Projection {
  for (const [k, v] of Object.entries({ trainRows: p.trainRows, epochs: p.epochs, batchSize: p.batchSize, gradAccum: p.gradAccum })) {
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${k} must be positive`);
  }
  if (!(p.trainTokensPerSec > 0)) throw new RangeError('trainTokensPerSec must be positive');
  const batch = batchPlan(p.batchSize, p.gradAccum);
  const samplesPerStep = effectiveBatch(batch);
  const stepsPerEpoch = epochSteps(batch, p.trainRows);
  const totalSteps = stepsPerEpoch * p.epochs;
  const trainSecondsPerEpoch = p.trainTokensPerEpoch / p.trainTokensPerSec;
  const evalIncluded = p.evalTokensPerSec !== null && p.evalTokensPerSec > 0 && p.evalRows > 0;
  const evalSecondsPerEpoch = evalIncluded ? p.evalTokensPerEpoch / (p.evalTokensPerSec as number) : 0;
  const trainHours = (trainSecondsPerEpoch * p.epochs) / 3600;
  const evalHours = (evalSecondsPerEpoch * p.epochs) / 3600;
  const arithmetic = [
    `${fmt(p.trainRows)} rows ÷ ${fmt(samplesPerStep)} per step (batch ${p.batchSize} × accumulation ${p.gradAccum}) = ${fmt(stepsPerEpoch)} steps/epoch × ${p.epochs} epochs = ${fmt(totalSteps)} steps`,
    `${fmt(p.trainTokensPerEpoch)} padded tokens/epoch (batching ${p.batching}, ${fmt(p.trainTokensPerEpoch / p.trainRows, 1)} tokens/row) ÷ ${fmt(p.trainTokensPerSec, 1)} tokens/s = ${fmt(trainSecondsPerEpoch / 60, 1)} min/epoch`,
    evalIncluded
      ? `eval: ${fmt(p.evalRows)} rows, ${fmt(p.evalTokensPerEpoch)} tokens ÷ ${fmt(p.evalTokensPerSec as number, 1)} tokens/s (forward only) = ${fmt(evalSecondsPerEpoch / 60, 1)} min per epoch`
      : 'eval: not measured, not included',
    `total: ${p.epochs} × (${fmt(trainSecondsPerEpoch / 60, 1)} + ${fmt(evalSecondsPerEpoch / 60, 1)}) min = ${fmt(trainHours + evalHours, 2)} h`,
  ];
  return {
    epochs: p.epochs,
    samplesPerStep,
    stepsPerEpoch,
    totalSteps,
    trainTokensPerEpoch: p.trainTokensPerEpoch,
    evalTokensPerEpoch: p.evalTokensPerEpoch,
    trainHours,
    evalHours,
    hours: trainHours + evalHours,
    evalIncluded,
    arithmetic,
  };
}
