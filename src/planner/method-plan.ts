/**
 * method-plan.ts — one price row under a method: the memory fit (micro-batch, accumulation,
 * checkpointing, sharding) and the step on that instance. Pure; recommend.ts prices the rows.
 *
 * Which way a row trains, in order: data-parallel replicas (each GPU holds the whole model) at the
 * largest micro-batch that fits without checkpointing, else with it; when not even one row fits a
 * replica and the instance has several GPUs, FSDP/ZeRO-3 over them (weights, gradients and optimizer
 * state sharded). `ftplan run` trains replicas only, so a sharded row says so and `launch` refuses it.
 * --exact keeps the given micro-batch, accumulation and checkpointing and only checks that they fit.
 */
import type { GpuSpec, PriceRow } from '../pricing/rows.js';
import { bandFor, type ErrorBands, type RowBand } from './error-band.js';
import { exactFit, fitMethod, type ActivationInput, type LossKind, type MemoryParts, type MethodFit } from './method-memory.js';
import { methodCounts, type MethodCounts, type MethodSpec, type Precision } from './method.js';
import { methodStep, type MethodStep } from './method-time.js';
import type { PlannedModel } from './model-shape.js';
import type { LocalMeasurement } from './performance.js';

export interface MethodPlanInput {
  spec: MethodSpec;
  precision: Precision;
  loss: LossKind;
  /** activation bytes per row (measured by the probe, or analytic) */
  activation: ActivationInput;
  /** --exact: the configuration as given, not chosen */
  exact?: { microBatch: number; gradAccum: number; checkpointing: boolean } | null;
  /** force sharding (the published comparison's FSDP rows); absent: only when a replica does not fit */
  shards?: number;
  /** the optimizer steps each parameter inside the backward (frameworks that do; ftplan does not) */
  optimizerInBackward?: boolean;
  /** AdamW's temporaries (method-memory.ts); absent: ftplan's per-tensor AdamW */
  optimizerTemporaries?: 'per-tensor' | 'foreach' | 'fused';
  bands: ErrorBands | null;
  kernelsPerLayer: number;
  parameterTensors: number;
}

export type Sharding = 'none' | 'fsdp';

export interface MethodRow {
  counts: MethodCounts;
  fit: MethodFit;
  sharding: Sharding;
  step: MethodStep | null;
  band: RowBand | null;
}

export const SHARDING_REFUSAL = 'needs FSDP/ZeRO-3 sharding of weights, gradients and optimizer state over the instance\'s GPUs; ftplan run trains data-parallel replicas only';

export function methodCountsFor(model: PlannedModel, mi: MethodPlanInput): MethodCounts {
  return methodCounts(model, mi.spec, mi.parameterTensors);
}

export function methodRow(o: { model: PlannedModel; measurement: LocalMeasurement | null; gpus: Record<string, GpuSpec>; meanSeqLen: number; batchSize: number }, mi: MethodPlanInput, r: PriceRow): MethodRow {
  const gpu = o.gpus[r.gpu] as GpuSpec;
  const counts = methodCountsFor(o.model, mi);
  const config = (shards: number) => ({ model: o.model, spec: mi.spec, counts, precision: mi.precision, activation: mi.activation, loss: mi.loss, shards, optimizerInBackward: mi.optimizerInBackward, optimizerTemporaries: mi.optimizerTemporaries });
  const rowsPerGpu = Math.ceil(o.batchSize / r.gpuCount);
  const tryFit = (shards: number): MethodFit => (mi.exact ? exactFit(config(shards), gpu.memoryGiB, mi.exact.microBatch, mi.exact.gradAccum, mi.exact.checkpointing) : fitMethod(config(shards), gpu.memoryGiB, rowsPerGpu));
  let fit = tryFit(mi.shards ?? 1);
  if (!fit.fits && mi.shards === undefined && r.gpuCount > 1) {
    const sharded = tryFit(r.gpuCount);
    if (sharded.fits) fit = { ...sharded, reason: `${sharded.reason}; ${SHARDING_REFUSAL}` };
  }
  const sharding: Sharding = fit.shards > 1 ? 'fsdp' : 'none';
  if (!fit.fits) return { counts, fit, sharding, step: null, band: null };
  const step = methodStep(
    { model: o.model, spec: mi.spec, counts, precision: mi.precision, measurement: o.measurement, kernelsPerLayer: mi.kernelsPerLayer },
    gpu,
    o.gpus,
    { count: r.gpuCount, shards: fit.shards, microBatch: fit.microBatch, gradAccum: fit.gradAccum, seqLen: o.meanSeqLen, checkpointing: fit.gradientCheckpointing },
  );
  return { counts, fit, sharding, step, band: bandFor(mi.bands, step.basis) };
}

/** The memory parts as plain numbers (JSON): what the pick's peak is made of. */
export function memoryBreakdown(m: MemoryParts) {
  return {
    weightsBytes: m.weightsBytes,
    gradientBytes: m.gradientBytes,
    momentBytes: m.momentBytes,
    activationBytes: m.activationBytes,
    lossBytes: m.lossBytes,
    temporariesBytes: m.temporariesBytes,
    peakBytes: m.peakBytes,
    peakAt: m.peakAt,
  };
}

/**
 * One configuration on one GPU type, exactly as given (the published comparison and `--exact`):
 * `count` GPUs, each at `microBatch` × `gradAccum`, with or without checkpointing; sharded when
 * `mi.shards` says so. The memory is reported even when it does not fit; the step only when it does
 * (or when `always`: a published run that did run is predicted even where the model says it would not fit).
 */
export function predictExact(o: { model: PlannedModel; measurement: LocalMeasurement | null; gpus: Record<string, GpuSpec>; gpu: string; count: number; seqLen: number }, mi: MethodPlanInput & { exact: NonNullable<MethodPlanInput['exact']> }): { fit: MethodFit; step: MethodStep; counts: MethodCounts } {
  const gpu = o.gpus[o.gpu];
  if (!gpu) throw new RangeError(`no GPU ${o.gpu} in the GPU table`);
  const counts = methodCountsFor(o.model, mi);
  const shards = mi.shards ?? 1;
  const fit = exactFit({ model: o.model, spec: mi.spec, counts, precision: mi.precision, activation: mi.activation, loss: mi.loss, shards, optimizerInBackward: mi.optimizerInBackward, optimizerTemporaries: mi.optimizerTemporaries }, gpu.memoryGiB, mi.exact.microBatch, mi.exact.gradAccum, mi.exact.checkpointing);
  const step = methodStep({ model: o.model, spec: mi.spec, counts, precision: mi.precision, measurement: o.measurement, kernelsPerLayer: mi.kernelsPerLayer }, gpu, o.gpus, {
    count: o.count,
    shards,
    microBatch: mi.exact.microBatch,
    gradAccum: mi.exact.gradAccum,
    seqLen: o.seqLen,
    checkpointing: mi.exact.checkpointing,
  });
  return { fit, step, counts };
}
