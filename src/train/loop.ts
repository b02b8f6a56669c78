/**
 * loop.ts — the training loop of `ftplan run`: optimizer steps over the epochs, evaluation each
 * epoch and every --eval-steps (with early stopping), checkpoints each epoch and every --save-steps,
 * the budget guard, and a clean stop on SIGINT/SIGTERM (the current step finishes, a checkpoint is
 * written). Data-parallel ranks agree before each step on whether to stop.
 *
 * The loop runs in TypeScript, one native call per optimizer step; each step reports the time spent
 * inside the native core, so the JS round trip is measured (`jsOverheadMs` in the report). What the
 * loop changes lives in one RunState; what it reads, in one LoopContext.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SingleBar } from 'cli-progress';
import { microBatchesPerStep, type BatchPlan } from '../batch-plan.js';
import type { RunArgs } from '../commands/options.js';
import { fromNative } from '../errors.js';
import { modelTask, type AnyModelConfig } from '../model/model-config.js';
import type { AdapterInfo } from '../model/peft-adapter.js';
import type { NativeSession } from '../native.js';
import { checkpointWriteError, writeCheckpoint, type TrainerState } from './checkpoint.js';
import { epochBatches, toNativeBatch, type Encoded } from './data.js';
import { microSeed } from './distributed.js';
import { evaluate, evaluateLm } from './evaluate.js';
import { metricScore, metricScoreName } from './metrics.js';
import type { RunReport } from './result.js';
import { lrFactor } from './schedule.js';

export type RunStatus = RunReport['status'];

/** What the loop reads: the flags, the model, the data and the step arithmetic, fixed for the run. */
export interface LoopContext {
  args: RunArgs;
  session: NativeSession;
  /** GPT-2's record or a decoder's; a decoder's task says which head and which evaluation */
  config: AnyModelConfig;
  /** the classification head's classes (none for causal-lm) */
  labels: string[];
  /** the folder whose tokenizer files checkpoints carry (undefined: GPT-2's, built in) */
  tokenizerFrom: string | undefined;
  /** a decoder's source config.json, whose other fields (bos/eos ids, …) checkpoints carry */
  baseConfig?: Record<string, unknown>;
  /** lora/qlora: what the adapter folders record (checkpoints hold the adapter, not the frozen base) */
  adapter?: AdapterInfo | null;
  train: readonly Encoded[];
  evalRows: readonly Encoded[];
  /** padded tokens of one pass over evalRows */
  evalPaddedTokens: number;
  /** the micro-batch, accumulation and ranks of every step */
  batch: BatchPlan;
  /** this process's rank; rank 0 (the lead) writes checkpoints, metrics and reports, the others nothing */
  rank: number;
  distributed: boolean;
  outputDir: string;
  metricsFile: string;
  stepsPerEpoch: number;
  totalSteps: number;
  warmup: number;
  /** --batching fixed: every batch padded to this length */
  fixedLength: number | undefined;
  /** fp32 bytes of the weights: the first checkpoint's expected write time before one is timed */
  parameterBytes: number;
  /** the run's start (Date.now()), for the spend */
  startedAt: number;
  bar: SingleBar | null;
  /** stop at this step with the whole run's schedule, evaluated and resumable (a sweep's rung; undefined: run to the end) */
  pauseAt?: number;
}

/** What the loop changes as it goes. */
export interface RunState {
  step: number;
  epochsDone: number;
  startEpoch: number;
  startInEpoch: number;
  stop: RunStatus | null;
  message: string;
  trainMs: number;
  nativeMs: number;
  allreduceMs: number;
  buckets: number;
  tokens: number;
  evalMs: number;
  evalTokens: number;
  /** the best eval score so far: accuracy; causal-lm exact match (or token accuracy) */
  bestAccuracy: number;
  sinceBest: number;
  trainCurve: { step: number; loss: number }[];
  evals: RunReport['evals'];
  /** the latest complete checkpoint */
  checkpoint: string | null;
  /** how long the last checkpoint took to write (undefined: none written yet) */
  lastSaveMs: number | undefined;
}

export function initialState(resumed: { dir: string; step: number; stepsPerEpoch: number } | null): RunState {
  const step = resumed?.step ?? 0;
  const startEpoch = resumed ? Math.floor(step / resumed.stepsPerEpoch) : 0;
  return {
    step,
    epochsDone: startEpoch,
    startEpoch,
    startInEpoch: resumed ? step % resumed.stepsPerEpoch : 0,
    stop: null,
    message: '',
    trainMs: 0,
    nativeMs: 0,
    allreduceMs: 0,
    buckets: 0,
    tokens: 0,
    evalMs: 0,
    evalTokens: 0,
    bestAccuracy: -1,
    sinceBest: 0,
    trainCurve: [],
    evals: [],
    checkpoint: resumed?.dir ?? null,
    lastSaveMs: undefined,
  };
}

const lead = (ctx: LoopContext) => ctx.rank === 0;

/** The spend so far at --price-per-hour (null: no price given). */
export function spentUsd(ctx: LoopContext, now = Date.now()): number | null {
  return ctx.args.pricePerHour ? ((now - ctx.startedAt) / 3_600_000) * ctx.args.pricePerHour : null;
}

/** One line of metrics.jsonl (the lead only). */
export function recordMetrics(ctx: LoopContext, state: RunState, o: object): void {
  if (!lead(ctx)) return;
  try {
    appendFileSync(ctx.metricsFile, `${JSON.stringify(o)}\n`);
  } catch (e) {
    throw checkpointWriteError(e, ctx.metricsFile, state.checkpoint);
  }
}

/** SIGINT/SIGTERM stop the run after the current step; a second signal leaves at once. Returns the uninstaller. */
export function watchSignals(state: RunState): () => void {
  const onSignal = (sig: string) => {
    if (state.stop === 'interrupted') process.exit(130);
    state.stop = 'interrupted';
    state.message = `${sig}: stopped after the current step`;
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  return () => {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  };
}

/** A checkpoint at `dir` (the lead only), with the training state for --resume or as the final model. */
export async function saveCheckpointNow(ctx: LoopContext, state: RunState, dir: string, withTrainingState: boolean): Promise<void> {
  if (!lead(ctx)) return;
  const t = Date.now();
  const { args, batch } = ctx;
  const trainerState: TrainerState = { global_step: state.step, epochs_done: state.epochsDone, total_steps: ctx.totalSteps, steps_per_epoch: ctx.stepsPerEpoch, seed: args.seed, batch_size: batch.microBatch, grad_accum: batch.gradAccum, world_size: batch.ranks, epochs: args.epochs, train_rows: ctx.train.length, lr: args.lr, scheduler: args.scheduler };
  await writeCheckpoint(dir, { session: ctx.session, config: ctx.config, labels: ctx.labels, tokenizerFrom: ctx.tokenizerFrom, baseConfig: ctx.baseConfig, adapter: ctx.adapter }, trainerState, withTrainingState, state.checkpoint);
  state.checkpoint = dir;
  state.lastSaveMs = Date.now() - t;
}

/**
 * Evaluates on the eval rows (none: nothing), records it, and stops early when the score (accuracy;
 * causal-lm: exact match, or token accuracy without scored rows) has not improved for
 * --early-stopping-patience evaluations.
 */
export async function evaluateNow(ctx: LoopContext, state: RunState, epoch: number): Promise<void> {
  if (!ctx.evalRows.length) return;
  const t = Date.now();
  const lm = modelTask(ctx.config) === 'causal-lm';
  const metrics = lm ? await evaluateLm(ctx.session, ctx.evalRows, ctx.args.evalBatchSize, ctx.config.padTokenId) : await evaluate(ctx.session, ctx.evalRows, ctx.args.evalBatchSize, ctx.config.padTokenId, ctx.labels);
  state.evalMs += Date.now() - t;
  state.evalTokens += ctx.evalPaddedTokens;
  state.evals.push({ step: state.step, epoch, metrics });
  const patience = ctx.args.earlyStoppingPatience;
  const score = metricScore(metrics);
  if (score > state.bestAccuracy) {
    state.bestAccuracy = score;
    state.sinceBest = 0;
  } else if (patience && ++state.sinceBest >= patience && !state.stop) {
    state.stop = 'early-stopped';
    state.message = `eval ${metricScoreName(metrics)} did not improve for ${patience} evaluation(s) (best ${(state.bestAccuracy * 100).toFixed(2)}%)`;
  }
  if (lm) recordMetrics(ctx, state, { type: 'eval', step: state.step, epoch, ...metrics });
  else if (!('perplexity' in metrics)) recordMetrics(ctx, state, { type: 'eval', step: state.step, epoch, loss: metrics.loss, accuracy: metrics.accuracy, macroF1: metrics.macroF1, perClass: metrics.perClass, confusion: metrics.confusion });
}

/**
 * Whether the next step would pass --budget, counting the step and writing the checkpoint the stop
 * leaves behind (the lead's guard: the others have no price to go by).
 */
export function overBudget(ctx: LoopContext, state: RunState): boolean {
  const { args } = ctx;
  const cost = spentUsd(ctx);
  if (!lead(ctx) || args.budget === undefined || cost === null || state.trainMs <= 0) return false;
  const mean = state.step ? state.trainMs / state.step : 0;
  const reserveMs = mean + Math.max(state.lastSaveMs ?? 100 + (ctx.parameterBytes / 100e6) * 1000, 3 * mean);
  return cost + (reserveMs / 3_600_000) * (args.pricePerHour as number) > args.budget;
}

/** Every rank stops at the same step: a signal seen by any rank, or rank 0's budget guard. */
async function agreeAcrossRanks(ctx: LoopContext, state: RunState, budget: boolean): Promise<boolean> {
  let agreed: Float64Array;
  try {
    agreed = await ctx.session.allreduce(Float64Array.from([state.stop === 'interrupted' ? 1 : 0, budget ? 1 : 0]));
  } catch (e) {
    throw fromNative(e, `agreeing on step ${state.step + 1} with the other ranks`);
  }
  if (agreed[0]! > 0 && !state.stop) {
    state.stop = 'interrupted';
    state.message = 'a signal reached another rank: stopped after the current step';
  }
  return agreed[1]! > 0;
}

/** Whether the loop must stop before the next step (sets state.stop and its message when so). */
async function mustStop(ctx: LoopContext, state: RunState): Promise<boolean> {
  if (state.step >= ctx.totalSteps) {
    state.stop = 'max-steps';
    state.message = `--max-steps ${ctx.args.maxSteps} reached`;
    return true;
  }
  if (ctx.pauseAt !== undefined && state.step >= ctx.pauseAt) {
    state.stop = 'paused';
    state.message = `paused at step ${state.step} of ${ctx.totalSteps}`;
    return true;
  }
  const cost = spentUsd(ctx);
  let budget = overBudget(ctx, state);
  if (ctx.distributed) budget = await agreeAcrossRanks(ctx, state, budget);
  if (state.stop) return true;
  if (budget) {
    state.stop = 'budget';
    state.message = `the next step would pass the $${ctx.args.budget} budget${cost !== null ? ` ($${cost.toFixed(4)} spent)` : ''}`;
    return true;
  }
  return false;
}

/** One optimizer step: this rank's share of the step's micro-batches (`batches` is the epoch's), their dropout seeds by global index. */
async function trainStep(ctx: LoopContext, state: RunState, batches: number[][], s: number, epoch: number): Promise<void> {
  const { args, batch, rank } = ctx;
  const { totalSteps, warmup } = ctx;
  ctx.session.setLr(Math.max(args.lr * lrFactor(args.scheduler, state.step, totalSteps, warmup), 1e-12));
  const first = s * microBatchesPerStep(batch) + rank * batch.gradAccum;
  const micro = batches.slice(first, first + batch.gradAccum).map((idx) => toNativeBatch(ctx.train, idx, ctx.config.padTokenId, ctx.fixedLength));
  const seeds = micro.map((_, j) => microSeed(args.seed, state.step, rank * batch.gradAccum + j));
  const ts = Date.now();
  let r;
  try {
    r = await ctx.session.step(micro, { seeds });
  } catch (e) {
    throw fromNative(e, `training step ${state.step + 1}${ctx.distributed ? ` (rank ${rank} of ${batch.ranks})` : ''}`);
  }
  state.allreduceMs += r.allreduceMs ?? 0;
  state.buckets = r.buckets ?? 0;
  state.trainMs += Date.now() - ts;
  state.nativeMs += r.nativeMs;
  state.tokens += r.tokens;
  state.step++;
  state.trainCurve.push({ step: state.step, loss: r.loss });
  recordMetrics(ctx, state, { type: 'train', step: state.step, epoch: epoch + 1, loss: r.loss, gradNorm: r.gradNorm, lr: args.lr * lrFactor(args.scheduler, state.step - 1, totalSteps, warmup), ms: Date.now() - ts, tokens: r.tokens });
  const c = spentUsd(ctx);
  ctx.bar?.update(state.step, { epoch: epoch + 1, loss: r.loss.toFixed(4), tps: ((state.tokens / state.trainMs) * 1000).toFixed(0), spent: c !== null ? `$${c.toFixed(4)}` : '' });
}

/** The epochs, from where the state starts (a resumed step) to the end or a stop. */
export async function trainEpochs(ctx: LoopContext, state: RunState): Promise<void> {
  const { args } = ctx;
  for (let epoch = state.startEpoch; epoch < args.epochs; epoch++) {
    const batches = epochBatches(ctx.train, ctx.batch.microBatch, args.batching, args.seed, epoch);
    for (let s = epoch === state.startEpoch ? state.startInEpoch : 0; s < ctx.stepsPerEpoch; s++) {
      if (await mustStop(ctx, state)) return;
      await trainStep(ctx, state, batches, s, epoch);
      if (args.evalSteps && state.step % args.evalSteps === 0) await evaluateNow(ctx, state, epoch + 1);
      if (args.saveSteps && state.step % args.saveSteps === 0 && s + 1 < ctx.stepsPerEpoch) await saveCheckpointNow(ctx, state, join(ctx.outputDir, `checkpoint-${state.step}`), true);
    }
    state.epochsDone = epoch + 1;
    await evaluateNow(ctx, state, state.epochsDone);
    await saveCheckpointNow(ctx, state, join(ctx.outputDir, `checkpoint-${state.step}`), true);
  }
}

/**
 * After the loop: a stopped run (budget, signal) leaves a resumable checkpoint; otherwise the last
 * steps are evaluated (when --max-steps cut an epoch) and the final model goes to the top of the
 * output folder.
 */
export async function finishRun(ctx: LoopContext, state: RunState): Promise<void> {
  const ended = state.stop;
  if (ended === 'budget' || ended === 'interrupted') await saveCheckpointNow(ctx, state, join(ctx.outputDir, `checkpoint-${state.step}`), true);
  else if (ended === 'paused') {
    // evaluated at the pause (once: an epoch's end already was), and resumable from it
    if (!state.evals.length || state.evals[state.evals.length - 1]!.step !== state.step) await evaluateNow(ctx, state, state.epochsDone + 1);
    const dir = join(ctx.outputDir, `checkpoint-${state.step}`);
    if (state.checkpoint !== dir) await saveCheckpointNow(ctx, state, dir, true);
  } else {
    if (ended === 'max-steps' && (!state.evals.length || state.evals[state.evals.length - 1]!.step !== state.step)) await evaluateNow(ctx, state, state.epochsDone + 1);
    await saveCheckpointNow(ctx, state, ctx.outputDir, false);
  }
}
