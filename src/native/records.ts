/**
 * native/records.ts — what the addon returns: one zod schema per native record, the TypeScript
 * types inferred from them (src/native.ts re-exports both). Each record's fields are declared once
 * on the C++ side too, as one field list (native/record.h) from which the addon's converters are
 * generated; the addon reports those lists (`_records()`) and loadRawNative compares them with the
 * schemas here, so an addon built from other sources fails to load with a rebuild fix instead of
 * returning records this code does not know. test/native-boundary.test.ts parses every result.
 */
import { z } from 'zod';

const whole = z.number().int();
/** Bytes or a count that is -1 when not measured (rssPeakBytes off Linux, peakBytes out of memory). */
const orUnmeasured = z.number().int().min(-1);

export const RuntimeInfoSchema = z.strictObject({
  torchVersion: z.string(),
  torchVersionMajor: whole,
  torchVersionMinor: whole,
  cudaCompiled: z.boolean(),
  cudaAvailable: z.boolean(),
  cudaDeviceCount: whole,
  hasSdpa: z.boolean(),
  defaultThreads: whole,
  parallelInfo: z.string(),
  buildConfig: z.string(),
  cpuTrackingAllocator: z.boolean(),
  /** built with libtorch's c10d (Gloo): data-parallel runs available */
  c10d: z.boolean(),
  nccl: z.boolean(),
  devices: z.array(z.string()),
});
export type RuntimeInfo = z.infer<typeof RuntimeInfoSchema>;

export const FlopsEstimateSchema = z.strictObject({ flopsPerToken: z.number(), matmulParameters: whole });
export type FlopsEstimate = z.infer<typeof FlopsEstimateSchema>;
export const ParameterCountsSchema = z.strictObject({ total: whole, transformer: whole, head: whole });
export type ParameterCounts = z.infer<typeof ParameterCountsSchema>;

export const ProbePointSchema = z.strictObject({
  batchSize: whole,
  seqLen: whole,
  peakBytes: orUnmeasured,
  activationBytes: orUnmeasured,
  outOfMemory: z.boolean(),
});
export type ProbePoint = z.infer<typeof ProbePointSchema>;

/** What the benchmark measured; what it was asked (batch size, accumulation, lengths) the caller has. */
export const BenchResultSchema = z.strictObject({
  stepMs: z.array(z.number()),
  /** the padded length of each timed step */
  stepSeqLens: z.array(whole),
  /** every step, warm-up included */
  losses: z.array(z.number()),
  evalMs: z.array(z.number()),
  setupMs: z.number(),
  parameters: whole,
  transformerParameters: whole,
  matmulParameters: whole,
  flopsPerToken: z.number(),
  peakMemoryBytes: whole,
  staticMemoryBytes: whole,
  peakMemorySource: z.enum(['cpu-counting-allocator', 'cuda-caching-allocator']),
  rssPeakBytes: orUnmeasured,
  rssBeforeBytes: orUnmeasured,
  device: z.string(),
  deviceName: z.string(),
  deviceMemoryBytes: orUnmeasured,
  /** intra-op threads the steps ran with */
  threads: whole,
  probe: z.array(ProbePointSchema),
  /** what trained (full, lora, qlora, head; docs/peft.md) */
  method: z.enum(['full', 'lora', 'qlora', 'head']),
  gradientCheckpointing: z.boolean(),
  trainableParameters: whole,
  /** every weight as held: fp32, bf16 (a frozen LoRA base), NF4 codes + scales */
  weightBytes: whole,
  /** the trainable parameters' gradients and AdamW moments */
  trainableStateBytes: whole,
  /** peakMemoryBytes minus weightBytes and trainableStateBytes: activations and the step's temporaries */
  activationBytes: whole,
});
export type NativeBenchmarkResult = z.infer<typeof BenchResultSchema>;

export const ActivationPointSchema = z.strictObject({ layers: whole, batch: whole, bytes: whole });
export type ActivationPoint = z.infer<typeof ActivationPointSchema>;
/** Activation bytes per row at the seqLen the probe was given. */
export const ActivationProbeSchema = z.strictObject({
  points: z.array(ActivationPointSchema),
  /** bytes one more row costs in each block */
  perSamplePerLayer: whole,
  /** bytes one more row costs outside the blocks */
  perSampleBase: whole,
});
export type ActivationProbe = z.infer<typeof ActivationProbeSchema>;

/** In a process group loss, samples and tokens are the group's (no rank knows the others' batches). */
export const StepResultSchema = z.strictObject({
  /** the step's time inside the native core (the rest of a call's wall time is the JS round trip) */
  nativeMs: z.number(),
  loss: z.number(),
  gradNorm: z.number(),
  samples: whole,
  tokens: whole,
  /** what the losses average over: rows (classification) or counted next tokens (causal-lm) */
  targets: whole,
  /** gradient buckets all-reduced this step (0: one process) */
  buckets: whole,
  /** time of the gradient all-reduce inside nativeMs (0: one process) */
  allreduceMs: z.number(),
});
export type StepResult = z.infer<typeof StepResultSchema>;

/** Tensors by Hugging Face name, float32, row-major. */
export const NamedTensorsSchema = z.record(z.string(), z.strictObject({ shape: z.array(whole), data: z.instanceof(Float32Array) }));
/** One batch's loss and every parameter's gradient (dropout off, no optimizer step). */
export const LossGradientsSchema = z.strictObject({ loss: z.number(), gradients: NamedTensorsSchema });
export type LossGradients = z.infer<typeof LossGradientsSchema>;
/** A causal-LM batch evaluated per row: summed cross-entropy, counted targets, targets the argmax predicts. */
export const LmEvalSchema = z.strictObject({ lossSum: z.array(z.number()), targets: z.array(whole), correct: z.array(whole) });
export type LmEval = z.infer<typeof LmEvalSchema>;
export const LmLossCheckSchema = z.strictObject({
  lossError: z.number(),
  maxHiddenGradError: z.number(),
  maxWeightGradError: z.number(),
  chunks: whole,
  chunkedPeakBytes: whole,
  plainPeakBytes: whole,
});
export type LmLossCheck = z.infer<typeof LmLossCheckSchema>;

export const StateLoadReportSchema = z.strictObject({ loaded: z.array(z.string()), missing: z.array(z.string()), unexpected: z.array(z.string()) });
export type StateLoadReport = z.infer<typeof StateLoadReportSchema>;
export const DistInfoSchema = z.strictObject({ backend: z.string(), rank: whole, worldSize: whole });
export type DistInfo = z.infer<typeof DistInfoSchema>;
export const CpuCacheStatsSchema = z.strictObject({ cache: z.boolean(), cachedBytes: whole, capBytes: whole, hits: whole, misses: whole });
export type CpuCacheStats = z.infer<typeof CpuCacheStatsSchema>;
export const CpuMemoryUseSchema = z.strictObject({ limitBytes: whole, allocatedBytes: whole });
export type CpuMemoryUse = z.infer<typeof CpuMemoryUseSchema>;
export const DenormalStateSchema = z.strictObject({ enabled: z.boolean(), computeThread: z.boolean(), intraOpThreads: z.boolean(), threads: whole });
export type DenormalState = z.infer<typeof DenormalStateSchema>;
export const DropoutCheckSchema = z.strictObject({
  keptFraction: z.number(),
  maxForwardError: z.number(),
  maxBackwardError: z.number(),
  sameWithSameSeed: z.boolean(),
  differsWithOtherSeed: z.boolean(),
  sameAcrossThreads: z.boolean(),
  bf16MatchesFp32Mask: z.boolean(),
});
export type DropoutCheck = z.infer<typeof DropoutCheckSchema>;
export const FusedAttentionCheckSchema = z.strictObject({
  maxForwardError: z.number(),
  maxBackwardError: z.number(),
  maxDropoutForwardError: z.number(),
  maxDropoutBackwardError: z.number(),
  upperTriangleZero: z.boolean(),
  maxBf16Error: z.number(),
});
export type FusedAttentionCheck = z.infer<typeof FusedAttentionCheckSchema>;
export const FusedAttentionTimingSchema = z.strictObject({ fusedMs: z.number(), composedMs: z.number() });
export type FusedAttentionTiming = z.infer<typeof FusedAttentionTimingSchema>;

/** What a session's model holds and trains (types.ts's ParameterInfo). */
export const ParameterInfoSchema = z.strictObject({
  total: whole,
  trainable: whole,
  frozenBytes: whole,
  trainableBytes: whole,
  loraModules: z.array(z.string()),
});
/** What a session's tensors hold (Session.memory(); native/device.h FTPLAN_SESSION_MEMORY). */
export const SessionMemorySchema = z.strictObject({
  device: z.string(),
  deviceName: z.string(),
  deviceMemoryBytes: whole,
  threads: whole,
  /** cpu-counting-allocator | cuda-caching-allocator */
  source: z.string(),
  /** init(): building the model and its optimizer */
  setupMs: z.number(),
  /** now; between steps: the weights, gradients and optimizer state */
  currentBytes: whole,
  /** the most since init() built the model (the build's own transient float32 weights not counted) */
  peakBytes: whole,
  /** gradients + AdamW moments of what trains */
  trainableStateBytes: whole,
});
export type SessionMemory = z.infer<typeof SessionMemorySchema>;
/** One tensor through NF4 quantise -> dequantise (bitsandbytes' scheme, native/nf4.h). */
export const Nf4CheckSchema = z.strictObject({
  /** packed bytes, two 4-bit indices each, high nibble first */
  codes: z.array(whole),
  /** float32 scale per block of 64 (plain quantisation) */
  absmax: z.array(z.number()),
  /** double quantisation: 8-bit scales, their float32 scales per 256, and the mean subtracted */
  qabsmax: z.array(whole),
  absmax2: z.array(z.number()),
  offset: z.number(),
  dequantized: z.array(z.number()),
  bytes: whole,
});
export type Nf4Check = z.infer<typeof Nf4CheckSchema>;

/** Every record the addon returns, by its C++ name (native/js/records.h, FTPLAN_JS_RESULTS). */
export const NATIVE_RECORDS = {
  RuntimeInfo: RuntimeInfoSchema,
  FlopsEstimate: FlopsEstimateSchema,
  ParameterCounts: ParameterCountsSchema,
  BenchResult: BenchResultSchema,
  ProbePoint: ProbePointSchema,
  ActivationProbe: ActivationProbeSchema,
  ActivationPoint: ActivationPointSchema,
  StepResult: StepResultSchema,
  LossGradients: LossGradientsSchema,
  LmEval: LmEvalSchema,
  LmLossCheck: LmLossCheckSchema,
  StateLoadReport: StateLoadReportSchema,
  DistInfo: DistInfoSchema,
  CpuCacheStats: CpuCacheStatsSchema,
  CpuMemoryUse: CpuMemoryUseSchema,
  DenormalState: DenormalStateSchema,
  DropoutCheck: DropoutCheckSchema,
  FusedAttentionCheck: FusedAttentionCheckSchema,
  FusedAttentionTiming: FusedAttentionTimingSchema,
  ParameterInfo: ParameterInfoSchema,
  SessionMemory: SessionMemorySchema,
  Nf4Check: Nf4CheckSchema,
} as const;

/**
 * How the addon's own record field lists (`_records()`: {Record: [field, ...]}) differ from
 * NATIVE_RECORDS; empty when they agree.
 */
export function recordMismatches(reported: unknown): string[] {
  if (reported === null || typeof reported !== 'object' || Array.isArray(reported)) return ['it does not report its records (_records)'];
  const out: string[] = [];
  const names = new Set([...Object.keys(NATIVE_RECORDS), ...Object.keys(reported)]);
  for (const name of names) {
    const schema = (NATIVE_RECORDS as Record<string, z.ZodObject>)[name];
    const fields = (reported as Record<string, unknown>)[name];
    if (!schema) {
      out.push(`${name}: a record this ftplan does not know`);
      continue;
    }
    if (!Array.isArray(fields)) {
      out.push(`${name}: missing`);
      continue;
    }
    const ours = Object.keys(schema.shape);
    const extra = fields.filter((f) => !ours.includes(String(f)));
    const lacking = ours.filter((f) => !fields.includes(f));
    if (extra.length || lacking.length)
      out.push(`${name}: ${[extra.length ? `unknown ${extra.join(', ')}` : '', lacking.length ? `no ${lacking.join(', ')}` : ''].filter(Boolean).join('; ')}`);
  }
  return out;
}
