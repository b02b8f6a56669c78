/**
 * steps.ts — how training steps are timed: which padded lengths the timed steps take
 * (lengthSchedule), the steps themselves taken the way `ftplan run` takes them (timeRunSteps), and
 * the mean step of an epoch read off the timed steps (stepTiming).
 */
import { performance } from 'node:perf_hooks';
import { batchLengthSample, type Batching } from '../data/batching.js';
import { fitStepTime, stepMsAt, type StepTimeModel } from '../measurement.js';
import { modelTask, type AnyModelConfig } from '../model/model-config.js';
import type { Dtype, NativeAddon, NativeBatch, NativeSession } from '../native.js';
import type { SessionMemory } from '../native/records.js';
import type { ParameterInfo, PeftOptions } from '../native/types.js';
import { microSeed } from '../train/distributed.js';

/** Lengths per timed step: one per stratum for the first `k` steps, then SHAPES_SAMPLE more quantiles, shuffled. */
export const SHAPES_SAMPLE = 64;

/**
 * The timed steps cycle through a sample of the epoch's real padded batch lengths: first one length
 * per --steps stratum, then (for the steps --min-time adds) SHAPES_SAMPLE more quantiles in shuffled
 * order, so that a long measurement sees as many distinct shapes as the run does — cycling a handful
 * of shapes measured ~10% faster per token than a run's ever-changing ones (bench/RESULTS.md).
 * `batchSize` is the micro-batch: the rows whose longest sets a batch's padded length.
 */
export function lengthSchedule(lengths: readonly number[], batchSize: number, policy: Batching, k: number, opts: { fixedLength?: number; seed?: number } = {}): number[] {
  const first = batchLengthSample(lengths, batchSize, policy, k, opts);
  if (policy === 'fixed') return first;
  return [...first, ...batchLengthSample(lengths, batchSize, policy, SHAPES_SAMPLE, { ...opts, seed: (opts.seed ?? 42) + 1 })];
}

/**
 * Fast models get more timed steps until they add up to --min-time, up to this many: a bound on the
 * JSON's per-step arrays (at 2 ms a step, 10 s), long enough to average a shared machine's speed
 * swings (bench/RESULTS.md).
 */
export const MAX_TIMED_STEPS = 5000;

/**
 * Warm-up past --warmup-steps: a first timed round in which a session's peak tensor memory rose by
 * more than WARMUP_PEAK_GROWTH is not timed but taken again, at most WARMUP_EXTRA times. A
 * session's second step can hold more than its first (Qwen2.5-0.5B's: 1.09 GB more, two copies of
 * its tied 136 M-parameter embedding's gradient), and memory touched for the first time is the
 * kernel handing out and zeroing fresh pages: that step took twice a settled one here. Growth of
 * the peak, not page faults, is the sign: a process whose allocator cache is full faults on every
 * step without anything left to warm up (a Llama-3.1-8B QLoRA proxy: ~200 MB a round), and the
 * peak is what a session reports on every device.
 */
export const WARMUP_PEAK_GROWTH = 64 * 2 ** 20;
export const WARMUP_EXTRA = 3;

export interface TimedSteps {
  /** the untimed steps each session took first: --warmup-steps and any extra (WARMUP_PEAK_GROWTH) */
  warmupSteps: number;
  stepMs: number[];
  /** the padded length of each timed step */
  stepSeqLens: number[];
  /** every step's loss, the warm-up steps' first */
  losses: number[];
  /** what the session's tensors held (training's peak; the state between steps) and where, read after the last step */
  held: SessionMemory;
  /** what its model holds and trains */
  trained: ParameterInfo;
}

/**
 * Times training steps the way `ftplan run` takes them: one awaited Session.step per optimizer step
 * from JS, with a fresh batch, setLr and per-micro-batch seeds before each, at the sampled padded
 * lengths (`lens`, cycled) — at least `steps` steps and `minMs` of them, at most MAX_TIMED_STEPS —
 * after `warmupSteps` at the longest length (and up to WARMUP_EXTRA more while a step still raises
 * the peak memory). `batchSize` is the micro-batch, `gradAccum` the
 * micro-batches per step. Side by side in one process, the native benchmark's own loop (no JS
 * between steps) ran `tiny` steps 5–7% faster than the same steps driven from JS
 * (`node bench/loop-overhead.mjs`), so the estimate times the run's path.
 * Batches are synthetic (uniform token ids, every row full), as throughput does not depend on them;
 * a causal-LM model's count every next token (the LM head's full cost).
 */
export async function timeRunSteps(
  addon: NativeAddon,
  o: { model: AnyModelConfig; batchSize: number; gradAccum: number; dtype: Dtype; device: string; threads: number; seed: number; warmupSteps: number; steps: number; minMs: number; lens: readonly number[]; peft?: PeftOptions },
): Promise<TimedSteps> {
  return (await timeRunStepsInterleaved(addon, [o.model], o))[0] as TimedSteps;
}

/**
 * timeRunSteps for several models at once (a proxy's depths): every session built and warmed up
 * first, then round by round one step of each on the same batch, the order rotating each round, so
 * a drift of the machine's speed (1.36× between identical steps here, bench/RESULTS.md) falls on
 * every model alike instead of on whichever was measured last. At least `steps` rounds and until
 * all the models' timed steps add up to `minMs` (one model: its own steps, as timeRunSteps), or
 * fewer rounds once `minMs` is reached and `settled` (given each round's step times, in model
 * order, and padded length) says the figure the caller needs is known well enough. Every session is closed at the
 * end, after its memory() and parameterInfo() are read.
 */
export async function timeRunStepsInterleaved(
  addon: NativeAddon,
  models: readonly AnyModelConfig[],
  o: { batchSize: number; gradAccum: number; dtype: Dtype; device: string; threads: number; seed: number; warmupSteps: number; steps: number; minMs: number; lens: readonly number[]; peft?: PeftOptions; settled?: (rounds: readonly number[][], lens: readonly number[]) => boolean },
): Promise<TimedSteps[]> {
  const sessions: NativeSession[] = [];
  try {
    for (const model of models) {
      // what is timed is the shape: the weights' values are a repeated tile (native/synthetic_init.h)
      const session = new addon.Session({ model, threads: o.threads, seed: o.seed, dtype: o.dtype, device: o.device, syntheticWeights: true, ...o.peft });
      sessions.push(session);
      await session.init();
    }
    return await stepInTurn(sessions, models, o);
  } finally {
    // the models go now, not when the garbage collector finds them: the next measurement builds its own
    for (const session of sessions) await session.close().catch(() => {});
  }
}

async function stepInTurn(sessions: NativeSession[], models: readonly AnyModelConfig[], o: { batchSize: number; gradAccum: number; seed: number; warmupSteps: number; steps: number; minMs: number; lens: readonly number[]; settled?: (rounds: readonly number[][], lens: readonly number[]) => boolean }): Promise<TimedSteps[]> {
  const first = models[0] as AnyModelConfig;
  let state = (o.seed ^ 0x5bd1e995) >>> 0;
  const rnd = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296;
  const lm = modelTask(first) === 'causal-lm';
  const micro = (T: number): NativeBatch[] =>
    Array.from({ length: o.gradAccum }, () => {
      const inputIds = Int32Array.from({ length: o.batchSize * T }, () => Math.floor(rnd() * first.vocabSize));
      const targets = lm ? { lmLabels: inputIds.slice() } : { labels: Int32Array.from({ length: o.batchSize }, () => Math.floor(rnd() * first.numLabels)) };
      return { batchSize: o.batchSize, seqLen: T, inputIds, lengths: new Int32Array(o.batchSize).fill(T), ...targets };
    });
  const seeds = (step: number) => Array.from({ length: o.gradAccum }, (_, j) => microSeed(o.seed, step, j));
  const longest = Math.max(...o.lens);
  const out: Omit<TimedSteps, 'held' | 'trained' | 'warmupSteps'>[] = models.map(() => ({ stepMs: [], stepSeqLens: [], losses: [] }));
  for (let i = 0; i < o.warmupSteps; i++) {
    const batch = micro(longest);
    for (const [k, session] of sessions.entries()) out[k]?.losses.push((await session.step(batch, { seeds: seeds(i) })).loss);
  }
  // a first round that raised a peak (WARMUP_PEAK_GROWTH) is retaken at the same length, so the
  // timed lengths stay the schedule's
  let extra = 0;
  let stepIndex = o.warmupSteps;
  let timed = 0;
  const rounds: number[][] = [];
  const roundLens: number[] = [];
  const peaks = async () => Promise.all(sessions.map(async (x) => (await x.memory()).peakBytes));
  const leading = () => o.warmupSteps > 0 && rounds.length === 0 && extra < WARMUP_EXTRA;
  for (let i = 0; i < Math.max(o.steps, MAX_TIMED_STEPS); i++) {
    if (timed >= o.minMs && (i >= o.steps || (o.settled?.(rounds, roundLens) ?? false))) break;
    const T = o.lens[i % o.lens.length] as number;
    const batch = micro(T);
    const round: number[] = new Array(sessions.length);
    const before = leading() ? await peaks() : null;
    for (let j = 0; j < sessions.length; j++) {
      const k = (i + j) % sessions.length;
      const session = sessions[k] as NativeSession;
      session.setLr(5e-5);
      const t0 = performance.now();
      const r = await session.step(batch, { seeds: seeds(stepIndex) });
      round[k] = performance.now() - t0;
      out[k]?.losses.push(r.loss);
    }
    stepIndex++;
    if (before && (await peaks()).some((p, k) => p - (before[k] as number) > WARMUP_PEAK_GROWTH)) {
      extra++;
      i--;
      continue;
    }
    rounds.push(round);
    roundLens.push(T);
    for (const [k, ms] of round.entries()) {
      timed += ms;
      out[k]?.stepMs.push(ms);
      out[k]?.stepSeqLens.push(T);
    }
  }
  const done: TimedSteps[] = [];
  for (const [k, session] of sessions.entries()) done.push({ ...(out[k] as TimedSteps), warmupSteps: o.warmupSteps + extra, held: await session.memory(), trained: await session.parameterInfo() });
  return done;
}

/**
 * The mean step of an epoch from timed steps of several padded lengths: fitStepTime's line (Theil–Sen
 * slope, level through the mean step), read at the epoch's mean padded length. Step time is affine
 * in the length to within the attention's T² share, so the line at the mean length is the mean step,
 * and the mean step times the steps is the run's training time. `samplesPerStep` is the rows each
 * timed step took (BatchPlan's effective batch on one rank).
 */
export function stepTiming(r: { stepMs: number[]; stepSeqLens: number[]; samplesPerStep: number }, meanLen: number): { stepMs: number; tokensPerStep: number; tokensPerSec: number; model: StepTimeModel } {
  const model = fitStepTime(r.stepSeqLens, r.stepMs);
  const stepMs = stepMsAt(model, meanLen);
  const tokensPerStep = r.samplesPerStep * meanLen;
  return { stepMs, tokensPerStep, tokensPerSec: (tokensPerStep / stepMs) * 1000, model };
}
