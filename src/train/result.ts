/**
 * result.ts — what `ftplan run` returns (its --json, and the input of its Markdown report): how the
 * run ended, its throughput and spend, its evaluations, and the prediction it is compared with.
 */
import type { OpenedModel } from '../model/open.js';
import type { ParameterInfo } from '../native/types.js';
import type { RunMetrics } from './metrics.js';
import type { PeftRecord } from './peft.js';

export interface RunReport {
  schema: 'ftplan.run/1';
  model: string;
  /** causal-lm runs say so (a classification run's JSON is as it was) */
  task?: 'causal-lm';
  /** causal-lm: the rows' format, the tokenizer, and per split the rows kept, skipped (no counted token within the model's positions, empty, --limit) and cut */
  lmData?: {
    format: string;
    formatSource: string;
    tokenizer: string;
    splits: { name: string; rowsRead: number; rows: number; skipped: { noTarget: number; empty: number; limit: number }; truncated: number; targets: number }[];
  };
  dataset: string;
  device: string;
  outputDir: string;
  /** paused: stopped at the step the caller asked for (a sweep's rung), the schedule left as the whole run's, evaluated, resumable */
  status: 'completed' | 'max-steps' | 'budget' | 'interrupted' | 'early-stopped' | 'paused';
  message: string;
  steps: number;
  totalSteps: number;
  epochsDone: number;
  wallSeconds: number;
  /** wall time before the first training step: loading, tokenizing, the short measurement, the model */
  startupSeconds: number;
  trainSeconds: number;
  tokensPerSec: number;
  meanStepMs: number;
  jsOverheadMs: number;
  spentUsd: number | null;
  finishUsd: number | null;
  /** classification: accuracy, F1, confusion; causal-lm: loss, perplexity, token accuracy, exact match */
  finalEval: RunMetrics | null;
  evals: { step: number; epoch: number; metrics: RunMetrics }[];
  checkpoint: string | null;
  /** the checkpoint this run continued from (--resume) */
  resumedFrom: string | null;
  init: OpenedModel['report'];
  /**
   * What trained (absent: full fine-tuning without checkpointing, as before): the method, LoRA's
   * settings, the trainable count (the core's, else from the shapes), the sentence the log printed;
   * adapter: the folder the run's LoRA adapter went to (PEFT's layout; --adapter: the one it started
   * from); merged: the --merge folder.
   */
  peft?: PeftRecord & { description: string; parameterInfo: ParameterInfo | null; startedFrom: string | null; adapter: string | null; merged: string | null };
  /** data-parallel: the c10d group this run trained in (null: one process) */
  distributed: {
    backend: string;
    worldSize: number;
    nproc: number;
    nnodes: number;
    threadsPerRank: number;
    bucketMb: number;
    buckets: number;
    meanAllreduceMs: number;
    globalMicroBatchesPerStep: number;
  } | null;
  /** predicted (from the estimate) against actual, on this device */
  vsEstimate: {
    source: string;
    predictedTokensPerSec: number;
    actualTokensPerSec: number;
    predictedTrainSeconds: number;
    actualTrainSeconds: number;
    predictedEvalSeconds: number | null;
    actualEvalSeconds: number;
    predictedCostUsd: number | null;
    actualCostUsd: number | null;
    errorPct: number;
    /** the estimate's bare measurement, before the calibration from earlier runs */
    measuredTokensPerSec: number;
    uncalibratedErrorPct: number;
    /** the calibration the prediction carried (null: none stored yet) */
    calibrationApplied: { ratio: number; runs: number } | null;
    /** the store after this run: ratio is what the next estimate applies (shrunk toward 1), observedRatio the runs' geometric mean */
    calibration: { key: string; ratio: number; observedRatio: number; runs: number; file: string };
  } | null;
}

