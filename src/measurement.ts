/**
 * measurement.ts — the typed record of what `estimate` measured on this machine. The planner takes
 * it as it is (and can re-read it from JSON), so it holds numbers and provenance, never prices.
 */
import { z } from 'zod';
import { DecoderConfigSchema } from './model/decoder-config.js';
import { ModelConfigSchema } from './model/presets.js';

/** 'theil-sen' over steps of several lengths, or 'mean' when all steps had one length */
export type StepTimeModel = z.infer<typeof StepTimeModelSchema>;

/** A step longer than this many times its length's median is capped there (a stall, not a step). */
export const STEP_OUTLIER_CAP = 2;

/**
 * Step time as an affine function of the padded length, for predicting the *sum* of a run's steps.
 * Slope: Theil–Sen (the median of pairwise slopes) through each length's mean step, clamped at 0
 * (longer never costs less). Level: the line passes through the mean of all timed steps, each capped
 * at STEP_OUTLIER_CAP × its length's median — the mean, not the median, because step times are
 * right-skewed (on this VM the mean `tiny` step is 5–7% above the median: a median-level line
 * under-predicted every run by that much, bench/RESULTS.md), and capped so that one stall (another
 * process taking the CPU for a whole step) does not count as a step's cost.
 * One length: the capped mean step. Linear in the number of steps (5,000 timed steps are common).
 */
export function fitStepTime(lens: readonly number[], ms: readonly number[]): StepTimeModel {
  if (lens.length !== ms.length || ms.length === 0) throw new RangeError('fitStepTime: one length per timed step');
  const groups = new Map<number, number[]>();
  lens.forEach((T, i) => {
    const g = groups.get(T) ?? [];
    g.push(ms[i] as number);
    groups.set(T, g);
  });
  const points: { T: number; mean: number }[] = [];
  let sum = 0;
  let sumT = 0;
  for (const [T, g] of groups) {
    const cap = STEP_OUTLIER_CAP * median(g);
    const capped = g.map((m) => Math.min(m, cap));
    const total = capped.reduce((a, b) => a + b, 0);
    points.push({ T, mean: total / g.length });
    sum += total;
    sumT += T * g.length;
  }
  const meanMs = sum / ms.length;
  if (points.length < 2) return { interceptMs: meanMs, msPerPosition: 0, fit: 'mean' };
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++)
    for (let j = i + 1; j < points.length; j++) {
      const a = points[i] as { T: number; mean: number };
      const b = points[j] as { T: number; mean: number };
      slopes.push((b.mean - a.mean) / (b.T - a.T));
    }
  const slope = Math.max(0, median(slopes));
  return { interceptMs: meanMs - slope * (sumT / ms.length), msPerPosition: slope, fit: 'theil-sen' };
}

export function stepMsAt(model: StepTimeModel, seqLen: number): number {
  return model.interceptMs + model.msPerPosition * seqLen;
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const dtype = z.enum(['fp32', 'bf16']);

export const StepTimeModelSchema = z.object({
  interceptMs: z.number(),
  msPerPosition: z.number(),
  fit: z.enum(['theil-sen', 'mean']),
});

/**
 * What `estimate` measured, and what a saved one must hold to be re-planned
 * (`estimate --measurement m.json`): the one declaration of the record; `Measurement` is inferred
 * from it. Loose: fields a later ftplan adds pass through an older reader.
 */
export const MeasurementSchema = z.looseObject({
  schema: z.literal('ftplan.measurement/1'),
  model: z.string(),
  /** GPT-2's record, or a Llama-family decoder's (modelType, task) */
  modelConfig: z.union([DecoderConfigSchema, ModelConfigSchema]),
  /** "cpu" | "cuda:0" */
  device: z.string(),
  deviceName: z.string(),
  deviceMemoryBytes: z.number(),
  dtype,
  /** the micro-batch the steps took (rows per forward/backward) */
  batchSize: z.number().int().positive(),
  /** micro-batches per timed step */
  gradAccum: z.number().int().positive(),
  seqLen: z.number().int().positive(),
  threads: z.number(),
  warmupSteps: z.number().int().nonnegative(),
  steps: z.number().int().nonnegative(),
  /** the mean step over the data's padded lengths, ms: the fitted step-time model at seqLen (the
   * mean of the timed steps when every step had one length) */
  stepMs: z.number().positive(),
  stepMsMin: z.number(),
  stepMsMax: z.number(),
  stepMsAll: z.array(z.number()),
  /** the padded length of each timed step (a sample of the data's batch lengths) */
  stepSeqLens: z.array(z.number().int()).optional(),
  /** step ms ≈ interceptMs + msPerPosition · padded length (fitStepTime) */
  stepModel: StepTimeModelSchema.optional(),
  tokensPerStep: z.number().positive(),
  tokensPerSec: z.number().positive(),
  samplesPerSec: z.number(),
  /** forward-only eval batch (median), when measured */
  evalBatchSize: z.number().int().nonnegative(),
  evalStepMs: z.number().nullable(),
  evalTokensPerSec: z.number().positive().nullable(),
  /** tensors: peak during the run minus what was held before (CPU: counting allocator; CUDA: caching allocator) */
  peakMemoryBytes: z.number(),
  peakMemorySource: z.string(),
  /** tensors held between steps: weights, gradients, AdamW moments */
  staticMemoryBytes: z.number(),
  /** CPU only: the process's peak resident set during the timed steps (includes the runtime) */
  rssPeakBytes: z.number().nullable(),
  parameters: z.number().int().positive(),
  matmulParameters: z.number().int(),
  /** 6N + attention (GPT-2: 12·L·C·T), forward + backward; a causal-LM decoder's N counts the LM head */
  flopsPerToken: z.number().positive(),
  achievedFlops: z.number().positive(),
  losses: z.array(z.number()),
  setupMs: z.number(),
  /** activation bytes per row at the data set's longest row (native probe on reduced-depth twins) */
  activation: z.object({
    seqLen: z.number().int().positive(),
    perSamplePerLayer: z.number().nonnegative(),
    perSampleBase: z.number().nonnegative(),
    measuredOn: z.string(),
    dtype,
  }),
  libtorch: z.looseObject({ version: z.string(), cuda: z.boolean(), source: z.string().nullable(), hasSdpa: z.boolean() }),
  blas: z.looseObject({ kind: z.string(), path: z.string().nullable(), slow: z.boolean() }),
  host: z.looseObject({ cpus: z.number(), loadBefore: z.number(), loadAfter: z.number() }),
  measuredAt: z.string(),
});
export type Measurement = z.infer<typeof MeasurementSchema>;

/** A measurement without the activation probe: the short one before a run, which needs no plan. */
export const MeasurementWithoutActivationSchema = MeasurementSchema.omit({ activation: true });
export type MeasurementWithoutActivation = z.infer<typeof MeasurementWithoutActivationSchema>;
