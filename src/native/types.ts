/** types.ts — the addon's functions and arguments as TypeScript sees them (the results are records.ts's schemas). */
import type { AnyModelConfig } from '../model/model-config.js';
import type {
  ActivationProbe,
  CpuCacheStats,
  CpuMemoryUse,
  DenormalState,
  DistInfo,
  DropoutCheck,
  FlopsEstimate,
  FusedAttentionCheck,
  FusedAttentionTiming,
  LmEval,
  LmLossCheck,
  LossGradients,
  NativeBenchmarkResult,
  Nf4Check,
  ParameterCounts,
  RuntimeInfo,
  SessionMemory,
  StateLoadReport,
  StepResult,
} from './records.js';

export type Dtype = 'fp32' | 'bf16';

/** What trains: every weight, LoRA adapters on a frozen base, LoRA on an NF4-quantised base, or the head only. */
export type Method = 'full' | 'lora' | 'qlora' | 'head';

/**
 * Parameter-efficient fine-tuning, with Hugging Face PEFT's semantics (docs/peft.md). Absent fields
 * keep PEFT's LoraConfig defaults (r 8, alpha 8, dropout 0); method absent = 'full'.
 */
export interface PeftOptions {
  method?: Method;
  /** lora/qlora: adapter rank, an integer >= 1 */
  loraR?: number;
  /** lora/qlora: the adapters' output is scaled by loraAlpha / loraR */
  loraAlpha?: number;
  /** lora/qlora: dropout on the adapters' input, in [0, 1) */
  loraDropout?: number;
  /** leaf module names that get adapters (q_proj, v_proj, c_attn, ...); absent or empty: every linear layer of the blocks */
  loraTargets?: string[];
  /** lora: how the frozen base weights are held; qlora: the dtype NF4 weights are dequantised to */
  baseDtype?: Dtype;
  /** qlora: quantise the per-block absmax scales too (bitsandbytes' double quantisation) */
  nf4DoubleQuant?: boolean;
  /** head: also train the last N blocks */
  unfreezeLast?: number;
  /** every method: recompute each block's activations in the backward pass instead of keeping them */
  gradientCheckpointing?: boolean;
}

export interface TrainOptions extends PeftOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  dtype?: Dtype;
  device?: string;
  seed?: number;
  threads?: number;
  /** measurements only: weights filled from a repeated random tile instead of drawn one by one (native/synthetic_init.h) */
  syntheticWeights?: boolean;
}

export interface BenchmarkOptions extends TrainOptions {
  /** GPT-2's record or a decoder's (model-config.ts); a causal-lm decoder times steps whose every next token counts */
  model: AnyModelConfig;
  batchSize: number;
  seqLen: number;
  gradAccum?: number;
  warmupSteps?: number;
  steps?: number;
  /** timed steps beyond `steps`, up to maxSteps, until they add up to minTimedMs */
  minTimedMs?: number;
  maxSteps?: number;
  /** padded lengths to cycle through, one per timed step (default: seqLen for every step) */
  seqLens?: number[];
  evalBatchSize?: number;
  evalSteps?: number;
  /** memory probe: one step at each batch size at probeSeqLen, after the timed steps */
  probeBatchSizes?: number[];
  probeSeqLen?: number;
  /** stop the probe at the first size that fits (sizes largest first: the largest batch that fits) */
  probeStopAtFit?: boolean;
}

export interface NativeBatch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array; // [batchSize * seqLen], right padded
  lengths: Int32Array; // [batchSize]
  /** classification targets: one class per row */
  labels?: Int32Array; // [batchSize]
  /**
   * causal-lm targets, Hugging Face's `labels`: [batchSize * seqLen], the same positions as
   * inputIds, -100 where a token does not count (prompt tokens, and every padding position). The
   * model shifts: the logits at t are scored against lmLabels at t + 1; the loss is the mean
   * cross-entropy over the micro-batch's counted targets (at least one).
   */
  lmLabels?: Int32Array;
}

export interface DistributedOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  timeoutMs: number;
  bucketBytes?: number;
}

export type NamedTensors = Record<string, { shape: number[]; data: Float32Array }>;

/** What a session's model holds and trains. */
export interface ParameterInfo {
  total: number;
  trainable: number;
  /** bytes of the frozen weights as held (bf16, NF4 codes + scales, fp32) */
  frozenBytes: number;
  /** bytes of the trainable parameters (fp32) */
  trainableBytes: number;
  /** module paths that carry LoRA adapters (HF names, e.g. model.layers.0.self_attn.q_proj) */
  loraModules: string[];
}

export interface NativeSession {
  /** builds the model and its optimizer (seeded); returns the parameter count */
  init(): Promise<number>;
  /** the trainable parameters only (LoRA A/B under `<module>.lora_A.weight`, the head, unfrozen blocks), float32 */
  trainableState(): Promise<NamedTensors>;
  /** the whole model under HF names with each LoRA delta merged in (W + alpha/r · B·A), float32 */
  mergedState(): Promise<NamedTensors>;
  parameterInfo(): Promise<ParameterInfo>;
  loadState(state: NamedTensors): Promise<StateLoadReport>;
  state(): Promise<NamedTensors>;
  /** AdamW moments and steps + random generator states, for an exact resume */
  saveTrainingState(path: string): Promise<void>;
  loadTrainingState(path: string): Promise<void>;
  /** seeds: one per micro-batch; the generators are re-seeded before each (same dropout on any rank) */
  step(microBatches: NativeBatch[], opts?: { seeds?: number[] }): Promise<StepResult>;
  /** join a c10d process group (TCPStore + Gloo on CPU / NCCL on CUDA); after init() */
  initDistributed(opts: DistributedOptions): Promise<DistInfo>;
  /** element-wise sum across the group */
  allreduce(values: Float64Array): Promise<Float64Array>;
  /** median ms of a float32 all-reduce of each size in bytes */
  allreduceBenchmark(opts: { bytes: number[]; iters?: number }): Promise<number[]>;
  /** eval mode: classification [batchSize, numLabels]; causal-lm [batchSize, seqLen, vocabSize] (every position at once: small vocabularies and tests; evaluation uses lmEval) */
  logits(batch: NativeBatch): Promise<Float32Array>;
  /** causal-lm, eval mode, batch with lmLabels: per row the summed cross-entropy, counted targets and targets the argmax predicts (all of them: greedy decoding reproduces the row); no [B, T, V] logits at once */
  lmEval(batch: NativeBatch): Promise<LmEval>;
  /** batch with its targets: the loss and every trainable parameter's gradient; no optimizer step. Eval mode (dropout off) unless opts.training (dropout on, generators seeded with opts.seed first) */
  gradients(batch: NativeBatch, opts?: { training?: boolean; seed?: number }): Promise<LossGradients>;
  setLr(lr: number): void;
  /** what the session's tensors hold now and at most since init() (training's peak), on which device */
  memory(): Promise<SessionMemory>;
  /** lets go of the model and its optimizer now (not when the garbage collector finds the session); init() builds it again */
  close(): Promise<void>;
}

export interface NativeAddon {
  runtimeInfo(): RuntimeInfo;
  /** 6N + attention per trained token; N the matmul weights (decoders: the LM head counted for causal-lm) */
  flopsPerToken(model: AnyModelConfig, seqLen: number): FlopsEstimate;
  /** total, trunk (`transformer`: HF's GPT2Model / LlamaModel) and head; a tied LM head adds 0 */
  parameterCounts(model: AnyModelConfig): Promise<ParameterCounts>;
  benchmark(opts: BenchmarkOptions): Promise<NativeBenchmarkResult>;
  probeActivations(opts: TrainOptions & { model: AnyModelConfig; seqLen: number }): Promise<ActivationProbe>;
  Session: new (opts: TrainOptions & { model: AnyModelConfig }) => NativeSession;
  /** the CPU allocator's block cache (large blocks kept for reuse across steps); {cache: false} turns it off */
  cpuAllocator(opts?: { cache?: boolean; release?: boolean }): CpuCacheStats;
  /** fail CPU tensor allocations past this many bytes held (0: no limit); FTPLAN_CPU_MEMORY_LIMIT sets it at load */
  setCpuMemoryLimit(bytes: number): void;
  cpuMemory(): CpuMemoryUse;
  // Tests and benchmarks (native/js/selftest.cpp).
  /** largest relative parameter difference between the fused CPU AdamW and LibTorch's after `steps` steps */
  fusedAdamwCheck(steps: number, weightDecay: number, gradScale: number): number;
  /** one tensor through NF4 quantise -> dequantise, bitsandbytes' scheme (native/nf4.h): codes, scales, values */
  nf4Check(values: Float32Array, doubleQuant: boolean): Nf4Check;
  /** one forward + backward of the CPU dropout kernel on n elements (native/dropout.h) */
  dropoutCheck(n: number, p: number): DropoutCheck;
  /** the fused causal softmax + dropout (native/attention.h) against torch's ops on random [n, t, t] scores */
  fusedAttentionCheck(n: number, t: number, p: number): FusedAttentionCheck;
  /** median ms of forward + backward of the fused op and of the composed torch ops on [n, t, t] scores, interleaved */
  fusedAttentionTiming(n: number, t: number, p: number, reps: number): FusedAttentionTiming;
  /** the chunked causal-LM loss (native/lm_loss.h) against the plain one on random [n, c] hidden states and a [v, c] head: loss and gradient differences, peak bytes of each */
  lmLossCheck(n: number, c: number, v: number, chunkRows: number, bf16: boolean): LmLossCheck;
  /** rows per chunk of the models' causal-LM loss (0: automatic, the default); sets it when given (tests: several chunks on a tiny model) */
  lmChunkRows(rows?: number): number;
  /** whether CPU tensors use ftplan's dropout kernel (true, the default) or torch's; sets it when given */
  cpuDropout(enabled?: boolean): boolean;
  /** whether the CPU attention (LibTorch without SDPA) uses the fused op (true, the default); sets it when given */
  fusedAttention(enabled?: boolean): boolean;
  /** whether the classifier runs its last block for each row's last real token only (true, the default) or on every position as HF does; sets it when given */
  lastBlockPruned(enabled?: boolean): boolean;
  /** whether the decoders' RMSNorm on fp32 CPU inputs uses the fused kernel (true, the default) or torch's ops; sets it when given */
  fusedRmsNorm(enabled?: boolean): boolean;
  /** whether LibTorch work flushes denormal floats to zero (FTZ/DAZ, the default); sets it when given; what the compute thread and its intra-op threads do now */
  flushDenormal(enabled?: boolean): DenormalState;
  /** throw one kind of C++ exception (bad_alloc, c10, c10_oom, invalid_argument, runtime_error, unknown), sync or in a worker */
  _raise(kind: string, async?: boolean): Promise<void> | undefined;
  /** each result record's field names, from the C++ field lists (compared with NATIVE_RECORDS at load) */
  _records(): Record<string, string[]>;
}
