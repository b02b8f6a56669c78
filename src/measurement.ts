/**
 * measurement.ts — the typed record of what `estimate` measured on this machine. The planner takes
 * it as it is (and can re-read it from JSON), so it holds numbers and provenance, never prices.
 */
import type { Dtype } from './native.js';
import type { ModelConfig } from './model/presets.js';

export interface Measurement {
  schema: 'ftplan.measurement/1';
  model: string;
  modelConfig: ModelConfig;
  device: string; // "cpu" | "cuda:0"
  deviceName: string;
  deviceMemoryBytes: number;
  dtype: Dtype;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  threads: number;
  warmupSteps: number;
  steps: number;
  /** median of the timed optimizer steps, ms */
  stepMs: number;
  stepMsMin: number;
  stepMsMax: number;
  stepMsAll: number[];
  tokensPerStep: number;
  tokensPerSec: number;
  samplesPerSec: number;
  /** forward-only eval batch (median), when measured */
  evalBatchSize: number;
  evalStepMs: number | null;
  evalTokensPerSec: number | null;
  /** tensors: peak during the run minus what was held before (CPU: counting allocator; CUDA: caching allocator) */
  peakMemoryBytes: number;
  peakMemorySource: string;
  /** tensors held between steps: weights, gradients, AdamW moments */
  staticMemoryBytes: number;
  /** CPU only: the process's peak resident set during the timed steps (includes the runtime) */
  rssPeakBytes: number | null;
  parameters: number;
  matmulParameters: number;
  /** 6N + 12·L·C·T, forward + backward */
  flopsPerToken: number;
  achievedFlops: number;
  losses: number[];
  setupMs: number;
  libtorch: { version: string; cuda: boolean; source: string | null; hasSdpa: boolean };
  blas: { kind: string; path: string | null; slow: boolean };
  host: { cpus: number; loadBefore: number; loadAfter: number };
  measuredAt: string;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
