/**
 * measure.ts — measure real training steps of a model on this machine: the one pipeline behind
 * `ftplan estimate` and the short measurement `ftplan run` compares itself with.
 *
 * Three native calls, each for what only it gives:
 *  1. addon.benchmark (native Trainer): device name and memory, setup time, parameter and FLOP
 *     counts, peak and static tensor memory after warm-up steps at the longest length, and the
 *     forward-only eval step. The native benchmark requires at least one timed step
 *     (run_benchmark: "steps must be at least 1"); that one step's time is not used, because
 *     its loop has no JS between steps and ran 5–7% faster than the run's path. A proxy's depths
 *     (proxy.ts) skip it: their timed Sessions report their own memory and device (sessionFigures),
 *     and a proxy times no eval batches; the whole model keeps it for its eval step.
 *  2. addon.probeActivations (reduced-depth twins): activation bytes per row per layer at the data
 *     set's longest row, for the memory fit on each GPU (estimate only: a run needs no plan).
 *  3. timeRunSteps (a native Session stepped from JS, as the run steps it): the step times.
 */
import { availableParallelism, loadavg } from 'node:os';
import { effectiveBatch, type BatchPlan } from '../batch-plan.js';
import { fromNative } from '../errors.js';
import { median, type Measurement, type MeasurementWithoutActivation } from '../measurement.js';
import type { AnyModelConfig } from '../model/model-config.js';
import { detectBlas, libtorchRecord, loadNative, type Dtype, type FlopsEstimate, type NativeAddon, type RuntimeInfo } from '../native.js';
import type { PeftOptions } from '../native/types.js';
import { outOfMemory } from './oom.js';
import { peftUnsupported } from '../train/peft.js';
import { stepTiming, timeRunSteps, type TimedSteps } from './steps.js';

export interface MeasureSpec {
  /** the model as the user named it (--model) */
  name: string;
  model: AnyModelConfig;
  /** the micro-batch and accumulation each timed step takes; one process (ranks 1) */
  batch: BatchPlan;
  dtype: Dtype;
  /** a resolved device (resolveDevice) */
  device: string;
  threads: number;
  seed: number;
  /** seqLen: the representative padded length (FLOPs, eval batch); meanLen: the epoch's mean padded
   * length the step-time line is read at; sampleLens: the padded length of each timed step, cycled */
  seq: { seqLen: number; meanLen: number; sampleLens: number[] };
  /** the native benchmark's warm-up steps at the longest length (its peak memory) */
  memoryWarmupSteps: number;
  /** the timed path: warm-up steps, then at least `steps` steps and `minMs` of them */
  warmupSteps: number;
  steps: number;
  minMs: number;
  /** forward-only eval: rows per batch (0: not measured) and timed batches */
  evalBatchSize: number;
  evalSteps: number;
  /** the padded length the activation probe runs at (the longest row); null: no probe */
  activationSeqLen: number | null;
  /** what trains (train/peft.ts nativePeft): every native call below takes it; absent: full fine-tuning */
  peft?: PeftOptions;
  /** steps already timed (a proxy's depths, interleaved: proxy.ts); the timed path is then not run */
  timedSteps?: TimedSteps;
}

/** The memory parts the native benchmark reports per method (weights as held, trainable state, activations); null from a core that predates them. */
export interface MemoryBreakdown {
  method: string;
  trainableParameters: number;
  weightBytes: number;
  trainableStateBytes: number;
  activationBytes: number;
  gradientCheckpointing: boolean;
}

/** The benchmark's PEFT fields when the core reports them (read loosely: the record schema grows with the core). */
export function memoryBreakdown(r: object): MemoryBreakdown | null {
  const x = r as Record<string, unknown>;
  const n = (k: string) => (typeof x[k] === 'number' ? (x[k] as number) : null);
  if (typeof x.method !== 'string' || n('weightBytes') === null) return null;
  return { method: x.method, trainableParameters: n('trainableParameters') ?? -1, weightBytes: n('weightBytes')!, trainableStateBytes: n('trainableStateBytes') ?? -1, activationBytes: n('activationBytes') ?? -1, gradientCheckpointing: x.gradientCheckpointing === true };
}

export async function measure(spec: MeasureSpec & { activationSeqLen: number }, addon?: NativeAddon): Promise<Measurement>;
export async function measure(spec: MeasureSpec & { activationSeqLen: null }, addon?: NativeAddon): Promise<MeasurementWithoutActivation>;
export async function measure(spec: MeasureSpec, addon: NativeAddon = loadNative()): Promise<Measurement | MeasurementWithoutActivation> {
  const { name, model, batch, dtype, device, threads, seed, seq } = spec;
  const peft = spec.peft ?? {};
  if (batch.ranks !== 1) throw new RangeError('measure: one process (ranks 1)');
  const info = addon.runtimeInfo();
  const loadBefore = loadavg()[0] ?? 0;
  let r;
  try {
    r = await addon.benchmark({
      model,
      batchSize: batch.microBatch,
      seqLen: seq.seqLen,
      seqLens: seq.sampleLens,
      gradAccum: batch.gradAccum,
      warmupSteps: spec.memoryWarmupSteps,
      steps: 1,
      minTimedMs: 0,
      evalBatchSize: spec.evalBatchSize,
      evalSteps: spec.evalBatchSize > 0 ? spec.evalSteps : 0,
      dtype,
      device,
      threads,
      seed,
      syntheticWeights: true,
      ...peft,
    });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_OUT_OF_MEMORY')
      throw await outOfMemory({ name, model, batch, dtype, seed, seqLen: Math.max(seq.seqLen, ...seq.sampleLens), device, threads }, addon, e);
    throw fromNative(e, `measuring ${name} on ${device}`);
  }
  const breakdown = memoryBreakdown(r);
  // A core that predates PEFT ignores the method and would time full fine-tuning under its name.
  if (peft.method && peft.method !== 'full' && breakdown?.method !== peft.method) throw peftUnsupported(`--method ${peft.method}`);
  if (peft.gradientCheckpointing && breakdown?.gradientCheckpointing !== true) throw peftUnsupported('--gradient-checkpointing');
  let activation: Measurement['activation'] | null = null;
  if (spec.activationSeqLen !== null) {
    try {
      const probe = await addon.probeActivations({ model, seqLen: spec.activationSeqLen, dtype, device, threads, seed, syntheticWeights: true, ...peft });
      activation = { seqLen: spec.activationSeqLen, perSamplePerLayer: probe.perSamplePerLayer, perSampleBase: probe.perSampleBase, measuredOn: `${r.device} (${r.deviceName})`, dtype };
    } catch (e) {
      throw fromNative(e, `probing activation memory of ${name} on ${device}`);
    }
  }
  let steps = spec.timedSteps;
  if (!steps) {
    try {
      steps = await timeRunSteps(addon, { model, batchSize: batch.microBatch, gradAccum: batch.gradAccum, dtype, device, threads, seed, warmupSteps: spec.warmupSteps, steps: spec.steps, minMs: spec.minMs, lens: seq.sampleLens, peft });
    } catch (e) {
      throw fromNative(e, `timing training steps of ${name} on ${device}`);
    }
  }
  return assemble(spec, { ...r, rssPeakBytes: r.device === 'cpu' && r.rssPeakBytes > 0 ? r.rssPeakBytes : null, breakdown }, steps, activation, info, loadBefore);
}

/** What a measurement takes from the core besides the step times: the benchmark's record (measure), or a timed Session's own (sessionFigures). */
export interface CoreFigures {
  device: string;
  deviceName: string;
  deviceMemoryBytes: number;
  threads: number;
  peakMemoryBytes: number;
  peakMemorySource: string;
  staticMemoryBytes: number;
  rssPeakBytes: number | null;
  parameters: number;
  matmulParameters: number;
  flopsPerToken: number;
  setupMs: number;
  /** forward-only eval batches' times; none: not measured */
  evalMs: number[];
  breakdown: MemoryBreakdown | null;
}

/**
 * A timed Session's own figures, for a measurement without the benchmark (a proxy's depths:
 * proxy.ts): its peak since the model was built and its state after the last step, what its model
 * holds and trains, the device it ran on; no eval batches, no resident-set peak (other models
 * shared the process).
 */
export function sessionFigures(spec: Pick<MeasureSpec, 'peft'>, steps: TimedSteps, flops: FlopsEstimate): CoreFigures {
  const { held, trained } = steps;
  const weightBytes = trained.frozenBytes + trained.trainableBytes;
  return {
    device: held.device,
    deviceName: held.deviceName,
    deviceMemoryBytes: held.deviceMemoryBytes,
    threads: held.threads,
    peakMemoryBytes: held.peakBytes,
    peakMemorySource: held.source,
    staticMemoryBytes: held.currentBytes,
    rssPeakBytes: null,
    parameters: trained.total,
    matmulParameters: flops.matmulParameters,
    flopsPerToken: flops.flopsPerToken,
    setupMs: held.setupMs,
    evalMs: [],
    breakdown: {
      method: spec.peft?.method ?? 'full',
      trainableParameters: trained.trainable,
      weightBytes,
      trainableStateBytes: held.trainableStateBytes,
      activationBytes: Math.max(0, held.peakBytes - weightBytes - held.trainableStateBytes),
      gradientCheckpointing: spec.peft?.gradientCheckpointing === true,
    },
  };
}

/** The measurement record from the core's figures and the timed steps. */
export function assemble(spec: MeasureSpec, core: CoreFigures, steps: TimedSteps, activation: Measurement['activation'] | null, info: RuntimeInfo, loadBefore: number): MeasurementWithoutActivation & { activation?: Measurement['activation']; memoryBreakdown?: MemoryBreakdown } {
  const { batch, seq } = spec;
  const loadAfter = loadavg()[0] ?? 0;
  const samplesPerStep = effectiveBatch(batch);
  const timing = stepTiming({ ...steps, samplesPerStep }, seq.meanLen);
  const { stepMs, tokensPerSec } = timing;
  const evalStepMs = core.evalMs.length ? median(core.evalMs) : null;
  const record = libtorchRecord();
  return {
    schema: 'ftplan.measurement/1',
    model: spec.name,
    modelConfig: spec.model,
    device: core.device,
    deviceName: core.deviceName,
    deviceMemoryBytes: core.deviceMemoryBytes,
    dtype: spec.dtype,
    batchSize: batch.microBatch,
    gradAccum: batch.gradAccum,
    seqLen: seq.seqLen,
    threads: core.threads,
    warmupSteps: steps.warmupSteps,
    steps: steps.stepMs.length,
    stepMs,
    stepMsMin: Math.min(...steps.stepMs),
    stepMsMax: Math.max(...steps.stepMs),
    stepMsAll: steps.stepMs,
    stepSeqLens: steps.stepSeqLens,
    stepModel: timing.model,
    tokensPerStep: timing.tokensPerStep,
    tokensPerSec,
    samplesPerSec: (samplesPerStep / stepMs) * 1000,
    evalBatchSize: spec.evalBatchSize,
    evalStepMs,
    evalTokensPerSec: evalStepMs ? ((spec.evalBatchSize * seq.seqLen) / evalStepMs) * 1000 : null,
    peakMemoryBytes: core.peakMemoryBytes,
    peakMemorySource: core.peakMemorySource,
    staticMemoryBytes: core.staticMemoryBytes,
    rssPeakBytes: core.rssPeakBytes,
    parameters: core.parameters,
    matmulParameters: core.matmulParameters,
    flopsPerToken: core.flopsPerToken,
    achievedFlops: core.flopsPerToken * tokensPerSec,
    losses: steps.losses,
    setupMs: core.setupMs,
    ...(activation ? { activation } : {}),
    ...(core.breakdown ? { memoryBreakdown: core.breakdown } : {}),
    libtorch: { version: info.torchVersion, cuda: info.cudaCompiled, source: record?.source ?? null, hasSdpa: info.hasSdpa },
    blas: { ...detectBlas() },
    host: { cpus: availableParallelism(), loadBefore, loadAfter },
    measuredAt: new Date().toISOString(),
  };
}
