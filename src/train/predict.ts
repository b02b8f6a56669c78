/**
 * predict.ts — what a run is compared with: a saved estimate (--estimate), or a short measurement
 * now through the estimate's own pipeline (measure/measure.ts); and, after the run, the comparison
 * of predicted with actual that feeds the calibration store.
 */
import { availableParallelism } from 'node:os';
import { batchPlan } from '../batch-plan.js';
import { calibrate, calibrationFile, calibrationKey, calibrationModel, readCalibration, recordCalibration } from '../calibration.js';
import { epochTokens } from '../data/batching.js';
import { measure } from '../measure/measure.js';
import { calibrationName, FULL, nativePeft, type PeftSettings } from './peft.js';
import type { SavedEstimate } from '../measure/read.js';
import { lengthSchedule } from '../measure/steps.js';
import { modelTask, type AnyModelConfig } from '../model/model-config.js';
import type { NativeAddon } from '../native.js';
import type { RunArgs } from '../commands/options.js';
import type { Encoded } from './data.js';
import type { RunReport } from './result.js';
import { defaultThreads } from '../util/host.js';

/**
 * tokensPerSec is what the user was told: the measured throughput times the calibration the
 * estimate applied (earlier runs' actual ÷ measured on this device and model);
 * measuredTokensPerSec is the bare measurement, which the calibration store is fed against.
 */
export interface Predicted {
  tokensPerSec: number;
  measuredTokensPerSec: number;
  calibration: { ratio: number; runs: number } | null;
  evalTokensPerSec: number | null;
  deviceName: string;
  source: string;
}

/** The short measurement before a run: 1 warm-up and at least 4 steps and 1.5 s of them, one eval batch, no memory warm-up or activation probe (a run needs no plan). */
export const SHORT_MEASUREMENT = { memoryWarmupSteps: 0, warmupSteps: 1, steps: 4, minMs: 1500, evalSteps: 1 } as const;

export async function predictThroughput(args: RunArgs, config: AnyModelConfig, train: readonly Encoded[], device: string, addon: NativeAddon, saved: SavedEstimate | null, peft: PeftSettings = FULL): Promise<Predicted> {
  if (saved) {
    const { measurement: m, calibration: cal } = saved;
    return { tokensPerSec: calibrate(m, cal).tokensPerSec, measuredTokensPerSec: m.tokensPerSec, calibration: cal, evalTokensPerSec: m.evalTokensPerSec, deviceName: m.deviceName, source: `${args.estimate} (measured ${m.measuredAt})` };
  }
  // This process's steps: the run's micro-batch and accumulation on one rank.
  const batch = batchPlan(args.batchSize, args.gradAccum);
  const lengths = train.map((r) => r.ids.length);
  const meanLen = epochTokens(lengths, batch.microBatch, args.batching, { seed: args.seed }).meanPaddedLength;
  const sampleLens = lengthSchedule(lengths, batch.microBatch, args.batching, SHORT_MEASUREMENT.steps, { seed: args.seed });
  const m = await measure(
    {
      name: args.model,
      model: config,
      batch,
      dtype: args.dtype,
      device,
      threads: args.threads ?? defaultThreads(availableParallelism()),
      seed: args.seed,
      seq: { seqLen: Math.max(1, Math.round(meanLen)), meanLen, sampleLens },
      ...SHORT_MEASUREMENT,
      evalBatchSize: args.evalBatchSize,
      activationSeqLen: null,
      peft: nativePeft(peft),
    },
    addon,
  );
  const stored = readCalibration(calibrationKey(m.deviceName, calibrationModel(calibrationName(args.model, peft), modelTask(config)), args.dtype));
  const cal = stored ? { ratio: stored.ratio, runs: stored.runs } : null;
  return {
    tokensPerSec: calibrate(m, cal).tokensPerSec,
    measuredTokensPerSec: m.tokensPerSec,
    calibration: cal,
    evalTokensPerSec: m.evalTokensPerSec,
    deviceName: m.deviceName,
    source: `measured before the run: ${m.steps} steps of ${batch.microBatch} rows at the data's padded lengths ${Math.min(...sampleLens)}–${Math.max(...sampleLens)}`,
  };
}

/**
 * Predicted against actual for the steps the run took, and the calibration store updated with this
 * run's actual ÷ measured throughput (what the next estimate on this device and model applies).
 */
export function compareWithPrediction(
  predicted: Predicted,
  actual: { model: string; dtype: string; tokens: number; trainMs: number; evalTokens: number; evalMs: number; pricePerHour: number | null },
): NonNullable<RunReport['vsEstimate']> {
  const { tokens, trainMs, evalTokens, evalMs } = actual;
  const actualTps = (tokens / trainMs) * 1000;
  const predTrain = tokens / predicted.tokensPerSec;
  const predEval = predicted.evalTokensPerSec && evalTokens ? evalTokens / predicted.evalTokensPerSec : null;
  const key = calibrationKey(predicted.deviceName, actual.model, actual.dtype);
  const entry = recordCalibration(key, actualTps / predicted.measuredTokensPerSec);
  const price = actual.pricePerHour;
  return {
    source: predicted.source,
    predictedTokensPerSec: predicted.tokensPerSec,
    actualTokensPerSec: actualTps,
    predictedTrainSeconds: predTrain,
    actualTrainSeconds: trainMs / 1000,
    predictedEvalSeconds: predEval,
    actualEvalSeconds: evalMs / 1000,
    predictedCostUsd: price !== null ? ((predTrain + (predEval ?? 0)) / 3600) * price : null,
    actualCostUsd: price !== null ? ((trainMs + evalMs) / 3_600_000) * price : null,
    errorPct: ((predTrain - trainMs / 1000) / (trainMs / 1000)) * 100,
    measuredTokensPerSec: predicted.measuredTokensPerSec,
    uncalibratedErrorPct: ((tokens / predicted.measuredTokensPerSec - trainMs / 1000) / (trainMs / 1000)) * 100,
    calibrationApplied: predicted.calibration,
    calibration: { key, ratio: entry.ratio, observedRatio: entry.observedRatio, runs: entry.runs, file: calibrationFile() },
  };
}
