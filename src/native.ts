/**
 * native.ts — loads the LibTorch addon (lazily: require() of it maps ~290 shared libraries, ~0.5 s)
 * and gives it types. When loading fails, one error lists every path tried and every fix.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FtplanError } from './errors.js';
import type { ModelConfig } from './model/presets.js';

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
}

export interface ActivationProbe {
  seqLen: number;
  /** bytes one more row costs in each block, at seqLen */
  perSamplePerLayer: number;
  /** bytes one more row costs outside the blocks */
  perSampleBase: number;
  points: { layers: number; batch: number; bytes: number }[];
}

export interface ProbePoint {
  batchSize: number;
  seqLen: number;
  peakBytes: number;
  activationBytes: number;
  outOfMemory: boolean;
}

export interface NativeBenchmarkResult {
  stepMs: number[];
  stepSeqLens: number[];
  losses: number[];
  evalMs: number[];
  setupMs: number;
  parameters: number;
  transformerParameters: number;
  matmulParameters: number;
  flopsPerToken: number;
  tokensPerStep: number;
  samplesPerStep: number;
  peakMemoryBytes: number;
  staticMemoryBytes: number;
  peakMemorySource: 'cpu-counting-allocator' | 'cuda-caching-allocator';
  rssPeakBytes: number;
  rssBeforeBytes: number;
  device: string;
  deviceName: string;
  deviceMemoryBytes: number;
  threads: number;
  probe: ProbePoint[];
}

export interface NativeBatch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array; // [batchSize * seqLen], right padded
  lengths: Int32Array; // [batchSize]
  labels?: Int32Array; // [batchSize]
}

export interface StepResult {
  /** the step's time inside the native core (the rest of a call's wall time is the JS round trip) */
  nativeMs: number;
  loss: number;
  gradNorm: number;
  samples: number;
  tokens: number;
  /** gradient buckets all-reduced this step (0: one process) */
  buckets?: number;
  /** time of the gradient all-reduce inside nativeMs (0: one process) */
  allreduceMs?: number;
}

export interface DistributedOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  timeoutMs: number;
  bucketBytes?: number;
}

export interface NativeSession {
  init(): Promise<number>;
  loadState(state: Record<string, { shape: number[]; data: Float32Array }>): Promise<{ loaded: string[]; missing: string[]; unexpected: string[] }>;
  state(): Promise<Record<string, { shape: number[]; data: Float32Array }>>;
  /** AdamW moments and steps + random generator states, for an exact resume */
  saveTrainingState(path: string): Promise<void>;
  loadTrainingState(path: string): Promise<void>;
  /** seeds: one per micro-batch; the generators are re-seeded before each (same dropout on any rank) */
  step(microBatches: NativeBatch[], opts?: { seeds?: number[] }): Promise<StepResult>;
  /** join a c10d process group (TCPStore + Gloo on CPU / NCCL on CUDA); after init() */
  initDistributed(opts: DistributedOptions): Promise<{ backend: string; rank: number; worldSize: number }>;
  /** element-wise sum across the group */
  allreduce(values: Float64Array): Promise<Float64Array>;
  /** median ms of a float32 all-reduce of each size in bytes */
  allreduceBenchmark(opts: { bytes: number[]; iters?: number }): Promise<number[]>;
  logits(batch: NativeBatch): Promise<Float32Array>;
  setLr(lr: number): void;
}

export interface RuntimeInfo {
  torchVersion: string;
  torchVersionMajor: number;
  torchVersionMinor: number;
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  hasSdpa: boolean;
  defaultThreads: number;
  parallelInfo: string;
  buildConfig: string;
  cpuTrackingAllocator: boolean;
  /** built with libtorch's c10d (Gloo): data-parallel runs available */
  c10d: boolean;
  nccl: boolean;
  devices: string[];
}

export interface NativeAddon {
  runtimeInfo(): RuntimeInfo;
  flopsPerToken(model: ModelConfig, seqLen: number): { flopsPerToken: number; matmulParameters: number };
  parameterCounts(model: ModelConfig): Promise<{ total: number; transformer: number; head: number }>;
  benchmark(opts: BenchmarkOptions): Promise<NativeBenchmarkResult>;
  /** the CPU allocator's block cache (large blocks kept for reuse across steps); {cache: false} turns it off */
  /** largest relative parameter difference between the fused CPU AdamW and LibTorch's after `steps` steps */
  fusedAdamwCheck(steps: number, weightDecay: number, gradScale: number): number;
  cpuAllocator(opts?: { cache?: boolean; release?: boolean }): { cache: boolean; cachedBytes: number; capBytes: number; hits: number; misses: number };
  probeActivations(opts: TrainOptions & { model: ModelConfig; seqLen: number }): Promise<ActivationProbe>;
  Session: new (opts: TrainOptions & { model: ModelConfig }) => NativeSession;
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

/** FTPLAN_NATIVE, when set, is the only candidate: an explicit choice is never silently replaced. */
export function addonCandidates(): string[] {
  if (process.env.FTPLAN_NATIVE) return [resolve(process.env.FTPLAN_NATIVE)];
  return [join(PACKAGE_ROOT, 'build/Release/ftplan.node')];
}

export function loadNative(): NativeAddon {
  if (cached) return cached;
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
      cached = mod as NativeAddon;
      return cached;
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
