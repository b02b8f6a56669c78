/**
 * native.ts — loads the LibTorch addon (lazily: require() of it maps ~290 shared libraries, ~0.5 s)
 * and gives it types. When loading fails, one error lists every path tried and every fix.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FtplanError, NATIVE_CODES, NativeCallError, type ErrorCode } from './errors.js';
import { z } from 'zod';
import { ModelConfigSchema, type ModelConfig } from './model/presets.js';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type Dtype = 'fp32' | 'bf16';

export interface TrainOptions {
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
}

export interface BenchmarkOptions extends TrainOptions {
  model: ModelConfig;
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

// ---------------------------------------------------------------------------------------------
// What the addon returns: one zod schema per native record, the types inferred from them. Each
// record's fields are declared once on the C++ side too (native/record.h) and the addon reports
// them (`_records()`): loadRawNative compares the two, so an addon built from other sources fails
// to load with a rebuild fix instead of returning records this code does not know.

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
export const ParameterCountsSchema = z.strictObject({ total: whole, transformer: whole, head: whole });

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
});
export type NativeBenchmarkResult = z.infer<typeof BenchResultSchema>;

export const ActivationPointSchema = z.strictObject({ layers: whole, batch: whole, bytes: whole });
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
  /** gradient buckets all-reduced this step (0: one process) */
  buckets: whole,
  /** time of the gradient all-reduce inside nativeMs (0: one process) */
  allreduceMs: z.number(),
});
export type StepResult = z.infer<typeof StepResultSchema>;

export const StateLoadReportSchema = z.strictObject({ loaded: z.array(z.string()), missing: z.array(z.string()), unexpected: z.array(z.string()) });
export const DistInfoSchema = z.strictObject({ backend: z.string(), rank: whole, worldSize: whole });
export const CpuCacheStatsSchema = z.strictObject({ cache: z.boolean(), cachedBytes: whole, capBytes: whole, hits: whole, misses: whole });
export const CpuMemoryUseSchema = z.strictObject({ limitBytes: whole, allocatedBytes: whole });
export const DenormalStateSchema = z.strictObject({ enabled: z.boolean(), computeThread: z.boolean(), intraOpThreads: z.boolean(), threads: whole });
export const DropoutCheckSchema = z.strictObject({
  keptFraction: z.number(),
  maxForwardError: z.number(),
  maxBackwardError: z.number(),
  sameWithSameSeed: z.boolean(),
  differsWithOtherSeed: z.boolean(),
  sameAcrossThreads: z.boolean(),
  bf16MatchesFp32Mask: z.boolean(),
});
export const FusedAttentionCheckSchema = z.strictObject({
  maxForwardError: z.number(),
  maxBackwardError: z.number(),
  maxDropoutForwardError: z.number(),
  maxDropoutBackwardError: z.number(),
  upperTriangleZero: z.boolean(),
  maxBf16Error: z.number(),
});
export const FusedAttentionTimingSchema = z.strictObject({ fusedMs: z.number(), composedMs: z.number() });

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
  StateLoadReport: StateLoadReportSchema,
  DistInfo: DistInfoSchema,
  CpuCacheStats: CpuCacheStatsSchema,
  CpuMemoryUse: CpuMemoryUseSchema,
  DenormalState: DenormalStateSchema,
  DropoutCheck: DropoutCheckSchema,
  FusedAttentionCheck: FusedAttentionCheckSchema,
  FusedAttentionTiming: FusedAttentionTimingSchema,
} as const;

/**
 * How the addon's own record field lists (`_records()`: {Record: [field, ...]}) differ from
 * NATIVE_RECORDS; empty when they agree.
 */
export function recordMismatches(reported: unknown): string[] {
  if (!isObj(reported)) return ['it does not report its records (_records)'];
  const out: string[] = [];
  const names = new Set([...Object.keys(NATIVE_RECORDS), ...Object.keys(reported)]);
  for (const name of names) {
    const schema = (NATIVE_RECORDS as Record<string, z.ZodObject>)[name];
    const fields = reported[name];
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

export interface NativeBatch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array; // [batchSize * seqLen], right padded
  lengths: Int32Array; // [batchSize]
  labels?: Int32Array; // [batchSize]
}

export interface DistributedOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  timeoutMs: number;
  bucketBytes?: number;
}

type Rec<S extends z.ZodType> = z.infer<S>;
export type NamedTensors = Record<string, { shape: number[]; data: Float32Array }>;

export interface NativeSession {
  /** builds the model and its optimizer (seeded); returns the parameter count */
  init(): Promise<number>;
  loadState(state: NamedTensors): Promise<Rec<typeof StateLoadReportSchema>>;
  state(): Promise<NamedTensors>;
  /** AdamW moments and steps + random generator states, for an exact resume */
  saveTrainingState(path: string): Promise<void>;
  loadTrainingState(path: string): Promise<void>;
  /** seeds: one per micro-batch; the generators are re-seeded before each (same dropout on any rank) */
  step(microBatches: NativeBatch[], opts?: { seeds?: number[] }): Promise<StepResult>;
  /** join a c10d process group (TCPStore + Gloo on CPU / NCCL on CUDA); after init() */
  initDistributed(opts: DistributedOptions): Promise<Rec<typeof DistInfoSchema>>;
  /** element-wise sum across the group */
  allreduce(values: Float64Array): Promise<Float64Array>;
  /** median ms of a float32 all-reduce of each size in bytes */
  allreduceBenchmark(opts: { bytes: number[]; iters?: number }): Promise<number[]>;
  logits(batch: NativeBatch): Promise<Float32Array>;
  setLr(lr: number): void;
}

export interface NativeAddon {
  runtimeInfo(): RuntimeInfo;
  flopsPerToken(model: ModelConfig, seqLen: number): Rec<typeof FlopsEstimateSchema>;
  parameterCounts(model: ModelConfig): Promise<Rec<typeof ParameterCountsSchema>>;
  benchmark(opts: BenchmarkOptions): Promise<NativeBenchmarkResult>;
  probeActivations(opts: TrainOptions & { model: ModelConfig; seqLen: number }): Promise<ActivationProbe>;
  Session: new (opts: TrainOptions & { model: ModelConfig }) => NativeSession;
  /** the CPU allocator's block cache (large blocks kept for reuse across steps); {cache: false} turns it off */
  cpuAllocator(opts?: { cache?: boolean; release?: boolean }): Rec<typeof CpuCacheStatsSchema>;
  /** fail CPU tensor allocations past this many bytes held (0: no limit); FTPLAN_CPU_MEMORY_LIMIT sets it at load */
  setCpuMemoryLimit(bytes: number): void;
  cpuMemory(): Rec<typeof CpuMemoryUseSchema>;
  // Tests and benchmarks (native/js/selftest.cpp).
  /** largest relative parameter difference between the fused CPU AdamW and LibTorch's after `steps` steps */
  fusedAdamwCheck(steps: number, weightDecay: number, gradScale: number): number;
  /** one forward + backward of the CPU dropout kernel on n elements (native/dropout.h) */
  dropoutCheck(n: number, p: number): Rec<typeof DropoutCheckSchema>;
  /** the fused causal softmax + dropout (native/attention.h) against torch's ops on random [n, t, t] scores */
  fusedAttentionCheck(n: number, t: number, p: number): Rec<typeof FusedAttentionCheckSchema>;
  /** median ms of forward + backward of the fused op and of the composed torch ops on [n, t, t] scores, interleaved */
  fusedAttentionTiming(n: number, t: number, p: number, reps: number): Rec<typeof FusedAttentionTimingSchema>;
  /** whether CPU tensors use ftplan's dropout kernel (true, the default) or torch's; sets it when given */
  cpuDropout(enabled?: boolean): boolean;
  /** whether the CPU attention (LibTorch without SDPA) uses the fused op (true, the default); sets it when given */
  fusedAttention(enabled?: boolean): boolean;
  /** whether the classifier runs its last block for each row's last real token only (true, the default) or on every position as HF does; sets it when given */
  lastBlockPruned(enabled?: boolean): boolean;
  /** whether LibTorch work flushes denormal floats to zero (FTZ/DAZ, the default); sets it when given; what the compute thread and its intra-op threads do now */
  flushDenormal(enabled?: boolean): Rec<typeof DenormalStateSchema>;
  /** throw one kind of C++ exception (bad_alloc, c10, c10_oom, invalid_argument, runtime_error, unknown), sync or in a worker */
  _raise(kind: string, async?: boolean): Promise<void> | undefined;
  /** each result record's field names, from the C++ field lists (compared with NATIVE_RECORDS at load) */
  _records(): Record<string, string[]>;
}

/** What build-native.mjs recorded about the libtorch the addon was linked against. */
export interface LibtorchRecord {
  source: string;
  version: string | null;
  cuda: boolean;
  libDir: string;
  rpath: string | null;
  builtWith: 'cmake-js' | 'node-gyp';
}

let cached: NativeAddon | undefined;
let cachedRaw: NativeAddon | undefined;

/** FTPLAN_NATIVE, when set, is the only candidate: an explicit choice is never silently replaced. */
export function addonCandidates(): string[] {
  if (process.env.FTPLAN_NATIVE) return [resolve(process.env.FTPLAN_NATIVE)];
  return [join(PACKAGE_ROOT, 'build/Release/ftplan.node')];
}

/** The addon behind the TS checks (tests of the C++ side's own validation use it). */
export function loadRawNative(): NativeAddon {
  if (cachedRaw) return cachedRaw;
  const require = createRequire(import.meta.url);
  const attempts: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      attempts.push(`${path}: not built`);
      continue;
    }
    try {
      const mod = require(path) as Partial<NativeAddon>;
      if (typeof mod?.runtimeInfo !== 'function' || typeof mod.benchmark !== 'function') {
        attempts.push(`${path}: loaded, but it is not an ftplan addon (no runtimeInfo/benchmark exports)`);
        continue;
      }
      const mismatches = recordMismatches(typeof mod._records === 'function' ? mod._records() : undefined);
      if (mismatches.length) {
        attempts.push(`${path}: built from other sources than this ftplan: ${mismatches.join('; ')}`);
        continue;
      }
      cachedRaw = mod as NativeAddon;
      return cachedRaw;
    } catch (e) {
      attempts.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new FtplanError('ERR_NATIVE_MISSING', ['the ftplan native addon could not be loaded:', ...attempts.map((a) => `  - ${a}`)].join('\n'), {
    fix: [
      'build it: `npm run build:native` (needs libtorch: see `node scripts/find-libtorch.mjs`),',
      'or run the set-up: `bash scripts/setup.sh`, which installs libtorch-dev when no libtorch is found;',
      'FTPLAN_NATIVE=/path/to/ftplan.node picks a specific build.',
    ].join('\n  '),
    exitCode: 1,
  });
}

/** The addon with every argument checked in TS first and every failure a typed NativeCallError. */
export function loadNative(): NativeAddon {
  if (!cached) cached = checkedAddon(loadRawNative());
  return cached;
}

// ---------------------------------------------------------------------------------------------
// The native boundary: arguments checked here, before the call (a clear ERR_INVALID_ARGUMENT naming
// the argument instead of whatever the C++ side would make of it); what the C++ side throws or
// rejects with (its code: ERR_INVALID_ARGUMENT, ERR_OUT_OF_MEMORY, ERR_TORCH, ERR_NATIVE, ERR_BUSY)
// becomes a NativeCallError with that code.

class ArgError extends Error {}
const bad = (msg: string): never => {
  throw new ArgError(msg);
};
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
function int(v: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) bad(`${what} must be a whole number (got ${String(v)})`);
  if ((v as number) < min || (v as number) > max) bad(`${what} must be in [${min}, ${max}] (got ${v})`);
  return v as number;
}
function optInt(o: Record<string, unknown>, key: string, min: number, max?: number): void {
  if (o[key] !== undefined) int(o[key], key, min, max);
}
/** A finite number in [min, max], or in [min, max) when maxOpen. */
function optNum(o: Record<string, unknown>, key: string, min: number, max = Number.MAX_VALUE, maxOpen = false): void {
  const v = o[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${key} must be a finite number (got ${String(v)})`);
  if ((v as number) < min || (v as number) > max || (maxOpen && v === max)) bad(`${key} must be in [${min}, ${max}${maxOpen ? ')' : ']'} (got ${v})`);
}
function positive(v: unknown, key: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`${key} must be a finite number > 0 (got ${String(v)})`);
}
function model(v: unknown): ModelConfig {
  const r = ModelConfigSchema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    bad(`model.${i?.path.join('.')}: ${i?.message}`);
  }
  return (r as { data: ModelConfig }).data;
}
function train(o: unknown, what: string): Record<string, unknown> {
  if (!isObj(o)) bad(`${what} must be an object`);
  const t = o as Record<string, unknown>;
  // The bounds the native trainer holds as invariants (native/trainer.cpp): a zero learning rate
  // trains nothing, a beta of 1 never forgets, a zero eps divides by zero.
  if (t.lr !== undefined) positive(t.lr, 'lr');
  optNum(t, 'beta1', 0, 1, true);
  optNum(t, 'beta2', 0, 1, true);
  if (t.eps !== undefined) positive(t.eps, 'eps');
  optNum(t, 'weightDecay', 0);
  optNum(t, 'maxGradNorm', 0);
  if (t.dtype !== undefined && t.dtype !== 'fp32' && t.dtype !== 'bf16') bad(`dtype must be fp32 or bf16 (got ${String(t.dtype)})`);
  if (t.device !== undefined && (typeof t.device !== 'string' || !/^(cpu|cuda(:\d+)?)$/.test(t.device))) bad(`device must be cpu, cuda or cuda:N (got ${String(t.device)})`);
  optInt(t, 'seed', 0);
  optInt(t, 'threads', 0, 1024);
  return t;
}
function batch(b: unknown, cfg: ModelConfig, needLabels: boolean, what: string): void {
  if (!isObj(b)) bad(`${what} must be an object`);
  const x = b as unknown as NativeBatch;
  const B = int(x.batchSize, `${what}.batchSize`, 1);
  const T = int(x.seqLen, `${what}.seqLen`, 1, cfg.nPositions);
  if (!(x.inputIds instanceof Int32Array) || x.inputIds.length !== B * T) bad(`${what}.inputIds must be an Int32Array of batchSize × seqLen = ${B * T} elements`);
  if (!(x.lengths instanceof Int32Array) || x.lengths.length !== B) bad(`${what}.lengths must be an Int32Array of ${B} elements`);
  for (const id of x.inputIds) if (id < 0 || id >= cfg.vocabSize) bad(`${what}.inputIds: token id ${id} is outside the vocab [0, ${cfg.vocabSize})`);
  for (const n of x.lengths) if (n < 1 || n > T) bad(`${what}.lengths: ${n} real tokens in a row of ${T}`);
  if (needLabels) {
    if (!(x.labels instanceof Int32Array) || x.labels.length !== B) bad(`${what}.labels must be an Int32Array of ${B} elements`);
    for (const y of x.labels as Int32Array) if (y < 0 || y >= cfg.numLabels) bad(`${what}.labels: label ${y} is outside [0, ${cfg.numLabels})`);
  }
}
function state(v: unknown): void {
  if (!isObj(v)) bad('state must be an object of {shape, data} entries');
  for (const [name, t] of Object.entries(v as Record<string, unknown>)) {
    if (!isObj(t) || !Array.isArray(t.shape) || !(t.data instanceof Float32Array)) bad(`state['${name}'] must be {shape: number[], data: Float32Array}`);
    const e = t as { shape: unknown[]; data: Float32Array };
    let n = 1;
    for (const d of e.shape) n *= int(d, `state['${name}'].shape`, 0);
    if (n !== e.data.length) bad(`state['${name}'] has ${e.data.length} values for shape [${e.shape.join(', ')}]`);
  }
}
function path(v: unknown, fn: string): void {
  if (typeof v !== 'string' || v === '' || v.includes('\0')) bad(`${fn}() takes a file path`);
}

function typed(fn: string, err: unknown): NativeCallError {
  if (err instanceof NativeCallError) return err;
  if (err instanceof ArgError) return new NativeCallError('ERR_INVALID_ARGUMENT', fn, `${fn}: ${err.message}`);
  const e = err as { code?: unknown; message?: unknown };
  const code = (typeof e?.code === 'string' && NATIVE_CODES.has(e.code) ? e.code : 'ERR_NATIVE') as ErrorCode;
  return new NativeCallError(code, fn, `${fn}: ${typeof e?.message === 'string' ? e.message : String(err)}`, { cause: err });
}
/** Check, then call; a synchronous throw or a rejection becomes a NativeCallError. */
function call<T>(fn: string, check: () => void, run: () => T): T {
  try {
    check();
    const r = run();
    if (r instanceof Promise) return r.catch((e: unknown) => Promise.reject(typed(fn, e))) as T;
    return r;
  } catch (e) {
    throw typed(fn, e);
  }
}

/** A fast-path switch export, `name(enabled?)`: enabled must be a boolean when given. */
function switchCall<T>(fn: string, enabled: unknown, run: () => T): T {
  return call(fn, () => {
    if (enabled !== undefined && typeof enabled !== 'boolean') bad(`${fn}(enabled) takes a boolean`);
  }, run);
}

export function checkedAddon(raw: NativeAddon): NativeAddon {
  class CheckedSession implements NativeSession {
    readonly #s: NativeSession;
    readonly #cfg: ModelConfig;
    constructor(opts: TrainOptions & { model: ModelConfig }) {
      let cfg!: ModelConfig;
      this.#s = call('Session', () => {
        train(opts, 'session options');
        cfg = model(opts.model);
      }, () => new raw.Session(opts));
      this.#cfg = cfg;
    }
    init() {
      return call('Session.init', () => {}, () => this.#s.init());
    }
    loadState(st: Record<string, { shape: number[]; data: Float32Array }>) {
      return call('Session.loadState', () => state(st), () => this.#s.loadState(st));
    }
    state() {
      return call('Session.state', () => {}, () => this.#s.state());
    }
    saveTrainingState(p: string) {
      return call('Session.saveTrainingState', () => path(p, 'saveTrainingState'), () => this.#s.saveTrainingState(p));
    }
    loadTrainingState(p: string) {
      return call('Session.loadTrainingState', () => {
        path(p, 'loadTrainingState');
        if (!existsSync(p)) bad(`${p}: no such file`);
      }, () => this.#s.loadTrainingState(p));
    }
    step(micro: NativeBatch[], opts?: { seeds?: number[] }) {
      return call('Session.step', () => {
        if (!Array.isArray(micro) || micro.length === 0) bad('step() needs at least one micro-batch');
        micro.forEach((b, i) => batch(b, this.#cfg, true, `microBatches[${i}]`));
        if (opts !== undefined) {
          if (!isObj(opts)) bad('step() options must be an object {seeds?}');
          if (opts.seeds !== undefined) {
            if (!Array.isArray(opts.seeds) || opts.seeds.length !== micro.length) bad('seeds must hold one number per micro-batch');
            opts.seeds.forEach((x, i) => int(x, `seeds[${i}]`, 0));
          }
        }
      }, () => this.#s.step(micro, opts));
    }
    initDistributed(o: DistributedOptions) {
      return call('Session.initDistributed', () => {
        if (!isObj(o)) bad('initDistributed() takes {rank, worldSize, masterAddr, masterPort, timeoutMs, bucketBytes?}');
        int(o.worldSize, 'worldSize', 1);
        int(o.rank, 'rank', 0, o.worldSize - 1);
        if (typeof o.masterAddr !== 'string' || o.masterAddr.length === 0) bad('masterAddr must be a host name or address');
        int(o.masterPort, 'masterPort', 1, 65535);
        int(o.timeoutMs, 'timeoutMs', 1);
        optInt(o as unknown as Record<string, unknown>, 'bucketBytes', 1);
      }, () => this.#s.initDistributed(o));
    }
    allreduce(values: Float64Array) {
      return call('Session.allreduce', () => {
        if (!(values instanceof Float64Array)) bad('allreduce() takes a Float64Array');
      }, () => this.#s.allreduce(values));
    }
    allreduceBenchmark(o: { bytes: number[]; iters?: number }) {
      return call('Session.allreduceBenchmark', () => {
        if (!isObj(o) || !Array.isArray(o.bytes)) bad('allreduceBenchmark() takes {bytes: number[], iters?}');
        o.bytes.forEach((b, i) => int(b, `bytes[${i}]`, 4));
        optInt(o as unknown as Record<string, unknown>, 'iters', 1);
      }, () => this.#s.allreduceBenchmark(o));
    }
    logits(b: NativeBatch) {
      return call('Session.logits', () => batch(b, this.#cfg, false, 'batch'), () => this.#s.logits(b));
    }
    setLr(lr: number) {
      return call('Session.setLr', () => {
        positive(lr, 'lr');
      }, () => this.#s.setLr(lr));
    }
  }
  const seqLen = (v: unknown, cfg: ModelConfig, what: string) => int(v, what, 1, cfg.nPositions);
  return {
    runtimeInfo: () => call('runtimeInfo', () => {}, () => raw.runtimeInfo()),
    flopsPerToken: (m, T) => call('flopsPerToken', () => seqLen(T, model(m), 'seqLen'), () => raw.flopsPerToken(m, T)),
    parameterCounts: (m) => call('parameterCounts', () => model(m), () => raw.parameterCounts(m)),
    benchmark: (o) =>
      call('benchmark', () => {
        train(o, 'benchmark options');
        const cfg = model(o.model);
        int(o.batchSize, 'batchSize', 1);
        seqLen(o.seqLen, cfg, 'seqLen');
        const r = o as unknown as Record<string, unknown>;
        optInt(r, 'gradAccum', 1);
        optInt(r, 'warmupSteps', 0);
        optInt(r, 'steps', 1);
        optInt(r, 'evalBatchSize', 0);
        optInt(r, 'evalSteps', 0);
        optInt(r, 'probeSeqLen', 0, cfg.nPositions);
        optInt(r, 'maxSteps', 0);
        optNum(r, 'minTimedMs', 0);
        if (o.seqLens !== undefined) {
          if (!Array.isArray(o.seqLens)) bad('seqLens must be an array');
          for (const T of o.seqLens) seqLen(T, cfg, 'seqLens[]');
        }
        if (o.probeBatchSizes !== undefined) {
          if (!Array.isArray(o.probeBatchSizes)) bad('probeBatchSizes must be an array');
          for (const b of o.probeBatchSizes) int(b, 'probeBatchSizes[]', 1);
        }
        if (o.probeStopAtFit !== undefined && typeof o.probeStopAtFit !== 'boolean') bad('probeStopAtFit must be a boolean');
      }, () => raw.benchmark(o)),
    probeActivations: (o) =>
      call('probeActivations', () => {
        train(o, 'probe options');
        seqLen(o.seqLen, model(o.model), 'seqLen');
      }, () => raw.probeActivations(o)),
    fusedAdamwCheck: (steps, weightDecay, gradScale) =>
      call('fusedAdamwCheck', () => {
        int(steps, 'steps', 1, 1_000_000);
        optNum({ weightDecay, gradScale }, 'weightDecay', 0);
        optNum({ weightDecay, gradScale }, 'gradScale', 0);
      }, () => raw.fusedAdamwCheck(steps, weightDecay, gradScale)),
    dropoutCheck: (n, p) =>
      call('dropoutCheck', () => {
        int(n, 'n', 1, 2 ** 26);
        if (typeof p !== 'number' || !(p > 0 && p < 1)) bad('p must be a number in (0, 1)');
      }, () => raw.dropoutCheck(n, p)),
    cpuDropout: (enabled) => switchCall('cpuDropout', enabled, () => raw.cpuDropout(enabled)),
    fusedAttentionCheck: (n, t, p) =>
      call('fusedAttentionCheck', () => {
        int(n, 'n', 1, 4096);
        int(t, 't', 1, 1024);
        if (typeof p !== 'number' || !(p > 0 && p < 1)) bad('p must be a number in (0, 1)');
      }, () => raw.fusedAttentionCheck(n, t, p)),
    fusedAttentionTiming: (n, t, p, reps) =>
      call('fusedAttentionTiming', () => {
        int(n, 'n', 1, 4096);
        int(t, 't', 1, 1024);
        int(reps, 'reps', 1, 10000);
        if (typeof p !== 'number' || !(p >= 0 && p < 1)) bad('p must be a number in [0, 1)');
      }, () => raw.fusedAttentionTiming(n, t, p, reps)),
    flushDenormal: (enabled) => switchCall('flushDenormal', enabled, () => raw.flushDenormal(enabled)),
    fusedAttention: (enabled) => switchCall('fusedAttention', enabled, () => raw.fusedAttention(enabled)),
    lastBlockPruned: (enabled) => switchCall('lastBlockPruned', enabled, () => raw.lastBlockPruned(enabled)),
    cpuAllocator: (opts) =>
      call('cpuAllocator', () => {
        if (opts === undefined) return;
        if (!isObj(opts)) bad('cpuAllocator() takes {cache?: boolean, release?: boolean}');
        for (const k of ['cache', 'release'] as const) if (opts[k] !== undefined && typeof opts[k] !== 'boolean') bad(`${k} must be a boolean`);
      }, () => raw.cpuAllocator(opts)),
    Session: CheckedSession,
    setCpuMemoryLimit: (bytes) => call('setCpuMemoryLimit', () => int(bytes, 'bytes', 0, 9e15), () => raw.setCpuMemoryLimit(bytes)),
    cpuMemory: () => call('cpuMemory', () => {}, () => raw.cpuMemory()),
    _raise: (kind, async) => call('_raise', () => {
      if (typeof kind !== 'string') bad('_raise() takes a kind');
    }, () => raw._raise(kind, async)),
    _records: () => call('_records', () => {}, () => raw._records()),
  };
}

export function libtorchRecord(): LibtorchRecord | null {
  const path = join(PACKAGE_ROOT, 'build/libtorch.json');
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LibtorchRecord;
  } catch {
    return null;
  }
}

export interface BlasInfo {
  /** openblas-openmp, openblas-pthread, reference, mkl, blis, … or unknown */
  kind: string;
  /** the BLAS library file the process has mapped */
  path: string | null;
  /** true when the reference BLAS is in use: ~30x slower training on CPU */
  slow: boolean;
}

/** Which BLAS the running process has mapped (call after the addon is loaded). Linux only. */
export function detectBlas(maps = '/proc/self/maps'): BlasInfo {
  let text = '';
  try {
    text = readFileSync(maps, 'utf8');
  } catch {
    return { kind: 'unknown', path: null, slow: false };
  }
  const libs = new Set<string>();
  for (const line of text.split('\n')) {
    const path = line.slice(line.indexOf('/'));
    if (line.includes('/') && /(blas|mkl_|libblis)/i.test(path)) libs.add(path.trim());
  }
  const paths = [...libs];
  const pick = (re: RegExp) => paths.find((p) => re.test(p));
  const mkl = pick(/mkl_/);
  if (mkl) return { kind: 'mkl', path: mkl, slow: false };
  const openblas = pick(/openblas/);
  if (openblas) {
    const flavour = /openblas-(openmp|pthread|serial)/.exec(openblas)?.[1];
    return { kind: flavour ? `openblas-${flavour}` : 'openblas', path: openblas, slow: false };
  }
  const blis = pick(/blis/);
  if (blis) return { kind: 'blis', path: blis, slow: false };
  const ref = pick(/libblas\.so/);
  if (ref) {
    let real = ref;
    try {
      real = realpathSync(ref);
    } catch {
      /* keep the mapped name */
    }
    return { kind: 'reference', path: real, slow: true };
  }
  return { kind: paths.length ? 'unknown' : 'none mapped', path: paths[0] ?? null, slow: false };
}
