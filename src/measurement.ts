/**
 * measurement.ts — the typed record of what `estimate` measured on this machine. The planner takes
 * it as it is (and can re-read it from JSON), so it holds numbers and provenance, never prices.
 */
import type { Dtype } from './native.js';
import { z } from 'zod';
import { ModelConfigSchema, type ModelConfig } from './model/presets.js';
import type { ActivationModel } from './planner/memory.js';

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
  /** activation bytes per row at the data set's longest row (native probe on reduced-depth twins) */
  activation: ActivationModel;
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

/** What a saved measurement must hold to be re-planned (`estimate --measurement m.json`). */
export const MeasurementSchema = z.looseObject({
  schema: z.literal('ftplan.measurement/1'),
  model: z.string(),
  modelConfig: ModelConfigSchema,
  device: z.string(),
  deviceName: z.string(),
  deviceMemoryBytes: z.number(),
  dtype: z.enum(['fp32', 'bf16']),
  batchSize: z.number().int().positive(),
  gradAccum: z.number().int().positive(),
  seqLen: z.number().int().positive(),
  threads: z.number(),
  stepMs: z.number().positive(),
  tokensPerStep: z.number().positive(),
  tokensPerSec: z.number().positive(),
  evalTokensPerSec: z.number().positive().nullable(),
  flopsPerToken: z.number().positive(),
  achievedFlops: z.number().positive(),
  parameters: z.number().int().positive(),
  losses: z.array(z.number()),
  activation: z.object({
    seqLen: z.number().int().positive(),
    perSamplePerLayer: z.number().nonnegative(),
    perSampleBase: z.number().nonnegative(),
    measuredOn: z.string(),
    dtype: z.enum(['fp32', 'bf16']),
  }),
  libtorch: z.looseObject({ version: z.string(), cuda: z.boolean() }),
  blas: z.looseObject({ kind: z.string(), slow: z.boolean() }),
  host: z.looseObject({ cpus: z.number(), loadBefore: z.number(), loadAfter: z.number() }),
  measuredAt: z.string(),
});
