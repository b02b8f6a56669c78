/**
 * native.ts — loads the LibTorch addon (lazily: require() of it maps ~290 shared libraries, ~0.5 s)
 * and gives it types. When loading fails, one error lists every path tried and every fix.
 * The records it returns are native/records.ts's schemas; the argument checks in front of every
 * call are native/checked.ts's (docs/native-boundary.md).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { FtplanError } from './errors.js';
import { PACKAGE_ROOT } from './paths.js';
import type { ModelConfig } from './model/presets.js';
import { checkedAddon } from './native/checked.js';
import {
  recordMismatches,
  type ActivationProbe,
  type CpuCacheStats,
  type CpuMemoryUse,
  type DenormalState,
  type DistInfo,
  type DropoutCheck,
  type FlopsEstimate,
  type FusedAttentionCheck,
  type FusedAttentionTiming,
  type NativeBenchmarkResult,
  type ParameterCounts,
  type RuntimeInfo,
  type StateLoadReport,
  type StepResult,
} from './native/records.js';

export * from './native/records.js';
export { checkedAddon };

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

export type NamedTensors = Record<string, { shape: number[]; data: Float32Array }>;

export interface NativeSession {
  /** builds the model and its optimizer (seeded); returns the parameter count */
  init(): Promise<number>;
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
  logits(batch: NativeBatch): Promise<Float32Array>;
  setLr(lr: number): void;
}

export interface NativeAddon {
  runtimeInfo(): RuntimeInfo;
  flopsPerToken(model: ModelConfig, seqLen: number): FlopsEstimate;
  parameterCounts(model: ModelConfig): Promise<ParameterCounts>;
  benchmark(opts: BenchmarkOptions): Promise<NativeBenchmarkResult>;
  probeActivations(opts: TrainOptions & { model: ModelConfig; seqLen: number }): Promise<ActivationProbe>;
  Session: new (opts: TrainOptions & { model: ModelConfig }) => NativeSession;
  /** the CPU allocator's block cache (large blocks kept for reuse across steps); {cache: false} turns it off */
  cpuAllocator(opts?: { cache?: boolean; release?: boolean }): CpuCacheStats;
  /** fail CPU tensor allocations past this many bytes held (0: no limit); FTPLAN_CPU_MEMORY_LIMIT sets it at load */
  setCpuMemoryLimit(bytes: number): void;
  cpuMemory(): CpuMemoryUse;
  // Tests and benchmarks (native/js/selftest.cpp).
  /** largest relative parameter difference between the fused CPU AdamW and LibTorch's after `steps` steps */
  fusedAdamwCheck(steps: number, weightDecay: number, gradScale: number): number;
  /** one forward + backward of the CPU dropout kernel on n elements (native/dropout.h) */
  dropoutCheck(n: number, p: number): DropoutCheck;
  /** the fused causal softmax + dropout (native/attention.h) against torch's ops on random [n, t, t] scores */
  fusedAttentionCheck(n: number, t: number, p: number): FusedAttentionCheck;
  /** median ms of forward + backward of the fused op and of the composed torch ops on [n, t, t] scores, interleaved */
  fusedAttentionTiming(n: number, t: number, p: number, reps: number): FusedAttentionTiming;
  /** whether CPU tensors use ftplan's dropout kernel (true, the default) or torch's; sets it when given */
  cpuDropout(enabled?: boolean): boolean;
  /** whether the CPU attention (LibTorch without SDPA) uses the fused op (true, the default); sets it when given */
  fusedAttention(enabled?: boolean): boolean;
  /** whether the classifier runs its last block for each row's last real token only (true, the default) or on every position as HF does; sets it when given */
  lastBlockPruned(enabled?: boolean): boolean;
  /** whether LibTorch work flushes denormal floats to zero (FTZ/DAZ, the default); sets it when given; what the compute thread and its intra-op threads do now */
  flushDenormal(enabled?: boolean): DenormalState;
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
