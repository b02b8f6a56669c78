/**
 * run.ts — `ftplan run`: the real fine-tune on the native core (the same Session the estimate's
 * numbers come from), with evaluation each epoch (and every --eval-steps), metrics.jsonl, a curves
 * SVG, checkpoints in the Hugging Face layout, a progress bar with the spend, a budget guard, and a
 * clean stop on SIGINT/SIGTERM (the current step finishes, a checkpoint is written).
 * `ftplan eval`: a saved checkpoint's metrics on a data set's eval split.
 *
 * The step loop runs in TypeScript, one native call per optimizer step; each step reports the time
 * spent inside the native core, so the JS round trip is measured (`jsOverheadMs` in the report).
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { loadDataset, locateDataset, type Dataset, type SplitData } from '../data/loaders.js';
import { gpt2TokenizerFiles } from '../data/gpt2-files.js';
import { tokenizerFor } from '../data/tokenizer.js';
import { fromNative, FtplanError } from '../errors.js';
import { obtainModel, readHfConfig, saveCheckpoint, type ModelNeed } from '../model/hf.js';
import { writeFileAtomic } from '../util/fs.js';
import { parameterCount } from '../planner/memory.js';
import { runStepsPerEpoch } from '../planner/projection.js';
import { openModel, type OpenedModel } from '../model/open.js';
import { loadNative, type NativeAddon, type NativeSession } from '../native.js';
import { epochBatches, encodeExamples, toNativeBatch, type Encoded } from '../train/data.js';
import { argmaxRows, classificationMetrics, crossEntropy, type EvalMetrics } from '../train/metrics.js';
import { lrFactor, warmupSteps } from '../train/schedule.js';
import { guardHostMemory, lengthSchedule, readEstimate, resolveDevice, stepTiming, timeRunSteps } from './estimate.js';
import { calibrate, calibrationFile, calibrationKey, readCalibration, recordCalibration } from '../calibration.js';
import { epochTokens } from '../data/batching.js';
import { modelShape } from '../model/open.js';
import type { ModelConfig } from '../model/presets.js';
import { loadCatalog, type PriceRow } from '../pricing/catalog.js';
import { EVAL_OPTIONS, EvalArgsSchema, parseArgs, RUN_OPTIONS, RunArgsSchema, type RunArgs } from './options.js';
import { launchWorkers, microSeed, workerEnv, workerThreads, type DistEnv } from '../train/distributed.js';

interface TrainerState {
  global_step: number;
  epochs_done: number;
  total_steps: number;
  seed: number;
  batch_size: number;
  grad_accum: number;
  /** ranks of the run that wrote it (absent: 1); grad_accum × world_size is what must match */
  world_size?: number;
  epochs: number;
  train_rows: number;
  lr: number;
  scheduler: string;
}

/** A failed write during a run: which file, the system's reason, the checkpoint still intact, what to do. */
function checkpointWriteError(e: unknown, what: string, previous: string | null): FtplanError {
  const err = e as NodeJS.ErrnoException & { fn?: string };
  const reasons: Record<string, string> = { ENOSPC: 'no space left on the device', EFBIG: 'file too large (a file-size limit: ulimit -f)', EDQUOT: 'disk quota exceeded', EACCES: 'permission denied', EROFS: 'read-only file system', ENOENT: 'the folder is gone' };
  const why = err?.code && reasons[err.code] ? `${err.code}: ${reasons[err.code]}` : (err?.message ?? String(e)).split('\n')[0];
  const file = err?.path ? `${err.path}: ` : '';
  const kept = previous ? `the previous checkpoint ${previous} is intact` : 'no earlier checkpoint of this run exists';
  return new FtplanError('ERR_IO', `writing ${what} failed (${file}${why}); the run stopped, ${kept}`, {
    fix: `free disk space or point --output-dir at a disk with room${previous ? `, then continue with \`ftplan run … --resume ${previous}\` (the same flags; the output folder may be copied elsewhere first)` : ', then run again'}`,
    exitCode: 1,
    cause: e,
  });
}

/** --output-dir must be a folder this process can write, found out before anything is measured. */
export function checkOutputDir(dir: string): void {
  const abs = resolve(dir);
  try {
    // Level by level: Node's recursive mkdir loops forever on some paths (under /proc, say).
    const missing: string[] = [];
    for (let p = abs; !existsSync(p); p = dirname(p)) missing.unshift(p);
    for (const p of missing) mkdirSync(p);
    const probe = join(abs, `.ftplan-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `--output-dir ${dir}: is not a writable folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      fix: 'pick a folder you can write to, with room for the checkpoints',
    });
  }
}

/** A checkpoint folder, or the latest complete `checkpoint-N` in an output folder. */
export function findCheckpoint(path: string): { dir: string; state: TrainerState } {
  const read = (dir: string): TrainerState | null => {
    try {
      if (!existsSync(join(dir, 'training_state.pt'))) return null;
      return JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')) as TrainerState;
    } catch {
      return null;
    }
  };
  const direct = read(path);
  if (direct) return { dir: resolve(path), state: direct };
  const found = existsSync(path)
    ? readdirSync(path)
        .filter((d) => /^checkpoint-\d+$/.test(d))
        .map((d) => ({ dir: resolve(path, d), state: read(join(path, d)) }))
        .filter((c): c is { dir: string; state: TrainerState } => c.state !== null)
        .sort((a, b) => b.state.global_step - a.state.global_step)
    : [];
  if (!found[0]) {
    throw new FtplanError('ERR_INPUT', `--resume: no complete checkpoint in ${resolve(path)}`, { fix: 'point --resume (or --output-dir) at the folder of the run to continue; checkpoints are written each epoch and every --save-steps' });
  }
  return found[0];
}

/** The model's folder (a hub id fetched into the cache first), or null for a preset. */
async function modelSourceDir(spec: string, need: ModelNeed): Promise<string | null> {
  const s = await obtainModel(spec, need);
  return s.kind === 'folder' ? s.dir : null;
}

export async function evaluate(session: NativeSession, rows: readonly Encoded[], batchSize: number, padId: number, labels: readonly string[]): Promise<EvalMetrics> {
  const K = labels.length;
  const predicted: number[] = [];
  const truth: number[] = [];
  let lossSum = 0;
  for (const idx of epochBatches(rows, batchSize, 'longest', 0, 0, false)) {
    const batch = toNativeBatch(rows, idx, padId);
    let logits: Float32Array;
    try {
      logits = await session.logits(batch);
    } catch (e) {
      throw fromNative(e, 'evaluating');
    }
    const y = Array.from(batch.labels as Int32Array);
    lossSum += crossEntropy(logits, y, K) * y.length;
    predicted.push(...argmaxRows(logits, K));
    truth.push(...y);
  }
  return classificationMetrics(predicted, truth, labels, lossSum / truth.length);
}

function evalSplit(ds: Dataset): SplitData | undefined {
  return ds.splits.test ?? ds.splits.validation;
}

/** A small SVG of train loss and eval loss/accuracy against steps: over- and under-fitting at a glance. */
export function curvesSvg(train: { step: number; loss: number }[], evals: { step: number; loss: number; accuracy: number }[]): string {
  const W = 720;
  const H = 360;
  const pad = 50;
  const maxStep = Math.max(1, ...train.map((p) => p.step), ...evals.map((p) => p.step));
  const maxLoss = Math.max(0.1, ...train.map((p) => p.loss), ...evals.map((p) => p.loss)) * 1.05;
  const X = (s: number) => pad + (s / maxStep) * (W - 2 * pad);
  const Y = (v: number, max: number) => H - pad - (v / max) * (H - 2 * pad);
  const line = (pts: [number, number][], colour: string) => (pts.length ? `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>` : '');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><rect width="${W}" height="${H}" fill="#fff"/>`,
    `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#444"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#444"/>`,
    `<text x="${W / 2}" y="${H - 12}" font-size="12" text-anchor="middle">optimizer step (max ${maxStep})</text>`,
    `<text x="10" y="${pad - 10}" font-size="12">loss (max ${maxLoss.toFixed(2)}); accuracy 0–1 on the same axis height</text>`,
    line(train.map((p) => [X(p.step), Y(p.loss, maxLoss)]), '#1e88e5'),
    line(evals.map((p) => [X(p.step), Y(p.loss, maxLoss)]), '#e53935'),
    line(evals.map((p) => [X(p.step), Y(p.accuracy, 1)]), '#43a047'),
    `<text x="${W - 200}" y="${pad}" font-size="12" fill="#1e88e5">train loss</text><text x="${W - 200}" y="${pad + 16}" font-size="12" fill="#e53935">eval loss</text><text x="${W - 200}" y="${pad + 32}" font-size="12" fill="#43a047">eval accuracy</text>`,
    '</svg>',
  ].join('\n');
}

export interface RunReport {
  schema: 'ftplan.run/1';
  model: string;
  dataset: string;
  device: string;
  outputDir: string;
  status: 'completed' | 'max-steps' | 'budget' | 'interrupted' | 'early-stopped';
  message: string;
  steps: number;
  totalSteps: number;
  epochsDone: number;
  wallSeconds: number;
  /** wall time before the first training step: loading, tokenizing, the short measurement, the model */
  startupSeconds: number;
  trainSeconds: number;
  tokensPerSec: number;
  meanStepMs: number;
  jsOverheadMs: number;
  spentUsd: number | null;
  finishUsd: number | null;
  finalEval: EvalMetrics | null;
  evals: { step: number; epoch: number; metrics: EvalMetrics }[];
  checkpoint: string | null;
  /** the checkpoint this run continued from (--resume) */
  resumedFrom: string | null;
  init: OpenedModel['report'];
  /** data-parallel: the c10d group this run trained in (null: one process) */
  distributed: {
    backend: string;
    worldSize: number;
    nproc: number;
    nnodes: number;
    threadsPerRank: number;
    bucketMb: number;
    buckets: number;
    meanAllreduceMs: number;
    globalMicroBatchesPerStep: number;
  } | null;
  /** predicted (from the estimate) against actual, on this device */
  vsEstimate: {
    source: string;
    predictedTokensPerSec: number;
    actualTokensPerSec: number;
    predictedTrainSeconds: number;
    actualTrainSeconds: number;
    predictedEvalSeconds: number | null;
    actualEvalSeconds: number;
    predictedCostUsd: number | null;
    actualCostUsd: number | null;
    errorPct: number;
    /** the estimate's bare measurement, before the calibration from earlier runs */
    measuredTokensPerSec: number;
    uncalibratedErrorPct: number;
    /** the calibration the prediction carried (null: none stored yet) */
    calibrationApplied: { ratio: number; runs: number } | null;
    /** the store after this run */
    /** the store after this run: ratio is what the next estimate applies (shrunk toward 1), observedRatio the runs' geometric mean */
    calibration: { key: string; ratio: number; observedRatio: number; runs: number; file: string };
  } | null;
}

/** The price of `--instance` from the price tables (its cheapest row). */
export function instancePrice(instance: string): { price: number; row: PriceRow } {
  const rows = loadCatalog().rows.filter((r) => r.instanceType === instance).sort((a, b) => a.price - b.price);
  if (!rows[0]) throw new FtplanError('ERR_INPUT', `--instance ${instance}: not in the price tables`, { fix: 'see `ftplan pricing` for instance types, or pass --price-per-hour' });
  return { price: rows[0].price, row: rows[0] };
}

/** Unicode sparkline of a series, resampled to `width` columns. */
export function sparkline(values: number[], width = 60): string {
  if (!values.length) return '';
  const bars = '▁▂▃▄▅▆▇█';
  const cols = Math.min(width, values.length);
  const pts = Array.from({ length: cols }, (_, i) => {
    const a = Math.floor((i * values.length) / cols);
    const b = Math.max(a + 1, Math.floor(((i + 1) * values.length) / cols));
    const slice = values.slice(a, b);
    return slice.reduce((x, y) => x + y, 0) / slice.length;
  });
  const lo = Math.min(...pts);
  const hi = Math.max(...pts);
  return pts.map((v) => bars[hi > lo ? Math.round(((v - lo) / (hi - lo)) * 7) : 0]).join('');
}

export async function runTraining(args: RunArgs, log: (s: string) => void = (s) => process.stderr.write(`${s}\n`), dist: DistEnv | null = null): Promise<RunReport> {
  const t0 = Date.now();
  const world = dist?.worldSize ?? 1;
  const rank = dist?.rank ?? 0;
  const lead = rank === 0; // rank 0 writes checkpoints, metrics and reports; the others write nothing
  if (lead) checkOutputDir(args.outputDir);
  if (args.instance && args.pricePerHour === undefined) args = { ...args, pricePerHour: instancePrice(args.instance).price };
  const saved = args.estimate ? readEstimate(args.estimate) : null; // a bad --estimate fails before any work
  const ds = await loadDataset(args.dataset, { textColumn: args.textColumn, labelColumn: args.labelColumn, limit: args.limit, seed: args.seed, emptyText: args.emptyText, unknownLabels: args.unknownLabels });
  const addon = loadNative();
  let device = resolveDevice(args.device, addon);
  // one GPU per worker: cuda:LOCAL_RANK, unless --device named one
  if (dist && device.startsWith('cuda') && !/^cuda:\d+$/.test(args.device)) device = `cuda:${dist.localRank}`;
  const resumeFrom = args.resume !== undefined ? findCheckpoint(args.resume || args.outputDir) : null;
  // The tokenizer of the model the run started from (a checkpoint carries the same files), and the
  // data tokenized once, before the short measurement that needs its lengths.
  // A hub model is fetched here, weights included unless they are not used, so a bad id or a
  // refused token fails before any measuring.
  // Resuming, the checkpoint's own copy of the tokenizer stands in when --model cannot be had.
  const tokenizerSource =
    (resumeFrom ? await modelSourceDir(args.model, 'shape').catch(() => resumeFrom.dir) : await modelSourceDir(args.model, args.init === 'random' ? 'shape' : 'weights')) ?? undefined;
  const tokenizer = tokenizerFor(tokenizerSource);
  const shape = (await modelShape(resumeFrom?.dir ?? args.model, ds.labels.length)).config;
  const train = encodeExamples(ds.splits.train!.examples, tokenizer, shape.nPositions);
  if (dist && !addon.runtimeInfo().c10d) {
    throw new FtplanError('ERR_INPUT', '--nproc/--nnodes > 1: this build of the native addon has no c10d (libtorch\'s ProcessGroupGloo and the gloo headers were missing at build time)', { fix: 'on Debian: apt-get install libgloo-dev, then npm run build:native (scripts/setup.sh does both)' });
  }
  // Refuse before allocating when the plan cannot fit this machine's memory (CPU).
  guardHostMemory(args.model, device, shape, args.batchSize, Math.min(shape.nPositions, train.reduce((m, r) => Math.max(m, r.ids.length), 1)), args.dtype);
  // Data-parallel workers skip the short single-process measurement (it would not predict a group's
  // step); --estimate still gives the comparison.
  const predicted = dist && !args.estimate ? null : await predictThroughput(args, shape, train, device, addon, saved);
  const opened = await openModel(resumeFrom?.dir ?? args.model, {
    numLabels: ds.labels.length,
    init: resumeFrom ? 'pretrained' : args.init,
    lr: args.lr,
    weightDecay: args.weightDecay,
    maxGradNorm: args.maxGradNorm,
    dtype: args.dtype,
    device,
    seed: args.seed,
    threads: dist ? workerThreads(args, availableParallelism()) : (args.threads ?? availableParallelism()),
  });
  const { session, config } = opened;
  let backend = '';
  if (dist) {
    try {
      const g = await session.initDistributed({ rank: dist.rank, worldSize: dist.worldSize, masterAddr: dist.masterAddr, masterPort: dist.masterPort, timeoutMs: Math.round(args.distTimeout * 1000), bucketBytes: Math.round(args.bucketMb * 1024 * 1024) });
      backend = g.backend;
    } catch (e) {
      throw fromNative(e, `joining the process group as rank ${dist.rank} of ${dist.worldSize}`);
    }
    if (lead) log(`c10d ${backend}: ${dist.worldSize} ranks, master ${dist.masterAddr}:${dist.masterPort}, timeout ${args.distTimeout} s`);
  }
  const evalData = evalSplit(ds);
  const evalRows = evalData ? encodeExamples(args.evalLimit ? evalData.examples.slice(0, args.evalLimit) : evalData.examples, tokenizer, config.nPositions) : [];
  const fixedLength = args.batching === 'fixed' ? Math.max(...train.map((r) => r.ids.length)) : undefined;
  const evalPaddedTokens = epochBatches(evalRows, args.evalBatchSize, 'longest', 0, 0, false).reduce((a, b) => a + b.length * Math.max(...b.map((i) => (evalRows[i] as Encoded).ids.length)), 0);
  // A step takes gradAccum micro-batches on each of `world` ranks: the single-process run with
  // --grad-accum gradAccum·world uses the same micro-batches, in the same steps.
  const globalAccum = args.gradAccum * world;
  const stepsPerEpoch = runStepsPerEpoch(train.length, args.batchSize, args.gradAccum, world);
  const planned = stepsPerEpoch * args.epochs;
  const totalSteps = args.maxSteps ? Math.min(args.maxSteps, planned) : planned;
  const warmup = warmupSteps(totalSteps, args.warmupRatio);
  const out = resolve(args.outputDir);
  if (lead) mkdirSync(out, { recursive: true });
  const metricsFile = join(out, 'metrics.jsonl');
  if (!resumeFrom && lead) writeFileSync(metricsFile, '');
  const record = (o: object) => {
    if (!lead) return;
    try {
      appendFileSync(metricsFile, `${JSON.stringify(o)}\n`);
    } catch (e) {
      throw checkpointWriteError(e, metricsFile, checkpoint);
    }
  };
  log(`${opened.report.init === 'pretrained' ? `loaded ${opened.report.file} (${opened.report.loaded} tensors; initialised: ${opened.report.initialised.join(', ') || 'none'})` : `random init of ${args.model}`}; ${train.length} train / ${evalRows.length} eval rows; ${totalSteps} steps (${stepsPerEpoch}/epoch) on ${device}`);

  let stop: RunReport['status'] | null = null;
  let message = '';
  const onSignal = (sig: string) => {
    if (stop === 'interrupted') process.exit(130); // a second signal: leave now
    stop = 'interrupted';
    message = `${sig}: stopped after the current step`;
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);

  const bar = process.stderr.isTTY && !args.json && !dist ? new cliProgress.SingleBar({ format: 'step {value}/{total} | epoch {epoch} | loss {loss} | {tps} tok/s | ETA {eta_formatted} | {spent}', hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  const trainCurve: { step: number; loss: number }[] = [];
  const evals: RunReport['evals'] = [];
  let step = 0;
  let startEpoch = 0;
  let startInEpoch = 0;
  if (resumeFrom) {
    const st = resumeFrom.state;
    // The micro-batches per optimizer step across all ranks must match; how they split over ranks may differ.
    const mismatch = (['seed', 'batch_size', 'grad_accum', 'epochs', 'train_rows', 'lr', 'scheduler'] as const).filter((k) =>
      k === 'grad_accum' ? st.grad_accum * (st.world_size ?? 1) !== globalAccum : st[k] !== { seed: args.seed, batch_size: args.batchSize, epochs: args.epochs, train_rows: train.length, lr: args.lr, scheduler: args.scheduler }[k],
    );
    if (mismatch.length) {
      throw new FtplanError('ERR_INPUT', `${resumeFrom.dir} was written by a run with other settings (${mismatch.map((k) => `${k} ${JSON.stringify(st[k])}`).join(', ')})`, { fix: 'resume with the flags of the run that wrote it' });
    }
    try {
      await session.loadTrainingState(join(resumeFrom.dir, 'training_state.pt'));
    } catch (e) {
      throw fromNative(e, `loading ${join(resumeFrom.dir, 'training_state.pt')}`);
    }
    step = st.global_step;
    startEpoch = Math.floor(step / stepsPerEpoch);
    startInEpoch = step % stepsPerEpoch;
    log(`resuming from ${resumeFrom.dir} at step ${step} (epoch ${startEpoch + 1})`);
  }
  let trainMs = 0;
  let allreduceMs = 0;
  let buckets = 0;
  let nativeMs = 0;
  let tokens = 0;
  let epochsDone = startEpoch;
  let checkpoint: string | null = resumeFrom?.dir ?? null; // the latest complete checkpoint
  const spent = () => (args.pricePerHour ? ((Date.now() - t0) / 3_600_000) * args.pricePerHour : null);
  if (opened.source.kind !== 'folder') gpt2TokenizerFiles(); // built once now, so a checkpoint save costs only its writing
  let lastSaveMs: number | undefined;
  const parameterBytes = 4 * parameterCount(config);
  // A checkpoint folder is written whole under a temporary name, then renamed: a crash (even
  // SIGKILL) mid-write leaves the earlier checkpoints as they were. The final model at the top of
  // the output folder is written file by file, each atomically.
  const saveTo = async (dir: string, withTrainingState: boolean) => {
    if (!lead) return;
    const ts = Date.now();
    const target = withTrainingState ? `${dir}.partial-${process.pid}` : dir;
    try {
      if (withTrainingState) rmSync(target, { recursive: true, force: true }); // a leftover of a crashed save
      saveCheckpoint(target, config, await session.state(), { labels: ds.labels, tokenizerFrom: tokenizerSource });
      const state = { global_step: step, epochs_done: epochsDone, total_steps: totalSteps, steps_per_epoch: stepsPerEpoch, seed: args.seed, batch_size: args.batchSize, grad_accum: args.gradAccum, world_size: world, epochs: args.epochs, train_rows: train.length, lr: args.lr, scheduler: args.scheduler };
      writeFileAtomic(join(target, 'trainer_state.json'), `${JSON.stringify(state, null, 2)}\n`);
      if (withTrainingState) {
        const file = join(target, 'training_state.pt');
        await session.saveTrainingState(file).catch((e: unknown) => Promise.reject(Object.assign(e as object, { path: file })));
        rmSync(dir, { recursive: true, force: true });
        renameSync(target, dir);
      }
    } catch (e) {
      // Disk full, a file-size limit, a folder gone: the half-written folder goes, the checkpoints
      // written before stay as they were, and the run stops saying which file failed and why.
      if (withTrainingState) rmSync(target, { recursive: true, force: true });
      throw checkpointWriteError(e, dir, checkpoint);
    }
    checkpoint = dir;
    lastSaveMs = Date.now() - ts;
  };
  let evalMs = 0;
  let evalTokens = 0;
  let bestAccuracy = -1;
  let sinceBest = 0;
  const runEval = async (epoch: number) => {
    if (!evalRows.length) return;
    const te = Date.now();
    const metrics = await evaluate(session, evalRows, args.evalBatchSize, config.padTokenId, ds.labels);
    evalMs += Date.now() - te;
    evalTokens += evalPaddedTokens;
    evals.push({ step, epoch, metrics });
    if (metrics.accuracy > bestAccuracy) {
      bestAccuracy = metrics.accuracy;
      sinceBest = 0;
    } else if (args.earlyStoppingPatience && ++sinceBest >= args.earlyStoppingPatience && !stop) {
      stop = 'early-stopped';
      message = `eval accuracy did not improve for ${args.earlyStoppingPatience} evaluation(s) (best ${(bestAccuracy * 100).toFixed(2)}%)`;
    }
    record({ type: 'eval', step, epoch, loss: metrics.loss, accuracy: metrics.accuracy, macroF1: metrics.macroF1, perClass: metrics.perClass, confusion: metrics.confusion });
  };

  const startupMs = Date.now() - t0;
  bar?.start(totalSteps, step, { epoch: startEpoch + 1, loss: '-', tps: '-', spent: '' });
  try {
    outer: for (let epoch = startEpoch; epoch < args.epochs; epoch++) {
      const batches = epochBatches(train, args.batchSize, args.batching, args.seed, epoch);
      for (let s = epoch === startEpoch ? startInEpoch : 0; s < stepsPerEpoch; s++) {
        if (step >= totalSteps) {
          stop = 'max-steps';
          message = `--max-steps ${args.maxSteps} reached`;
          break outer;
        }
        const mean = step ? trainMs / step : 0;
        const cost = spent();
        // the next step, and writing the checkpoint the stop leaves behind
        const reserveMs = mean + Math.max(lastSaveMs ?? 100 + (parameterBytes / 100e6) * 1000, 3 * mean);
        let overBudget = lead && args.budget !== undefined && cost !== null && trainMs > 0 && cost + (reserveMs / 3_600_000) * (args.pricePerHour as number) > args.budget;
        if (dist) {
          // Every rank stops at the same step: a signal seen by any rank, or rank 0's budget guard.
          let agreed: Float64Array;
          try {
            agreed = await session.allreduce(Float64Array.from([stop === 'interrupted' ? 1 : 0, overBudget ? 1 : 0]));
          } catch (e) {
            throw fromNative(e, `agreeing on step ${step + 1} with the other ranks`);
          }
          if (agreed[0]! > 0 && !stop) {
            stop = 'interrupted';
            message = 'a signal reached another rank: stopped after the current step';
          }
          overBudget = agreed[1]! > 0;
        }
        if (stop) break outer;
        if (overBudget) {
          stop = 'budget';
          message = `the next step would pass the $${args.budget} budget${cost !== null ? ` ($${cost.toFixed(4)} spent)` : ''}`;
          break outer;
        }
        session.setLr(Math.max(args.lr * lrFactor(args.scheduler, step, totalSteps, warmup), 1e-12));
        // This rank's share of the step's micro-batches, and their dropout seeds by global index.
        const first = s * globalAccum + rank * args.gradAccum;
        const micro = batches.slice(first, first + args.gradAccum).map((idx) => toNativeBatch(train, idx, config.padTokenId, fixedLength));
        const seeds = micro.map((_, j) => microSeed(args.seed, step, rank * args.gradAccum + j));
        const ts = Date.now();
        let r;
        try {
          r = await session.step(micro, { seeds });
        } catch (e) {
          throw fromNative(e, `training step ${step + 1}${dist ? ` (rank ${rank} of ${world})` : ''}`);
        }
        allreduceMs += r.allreduceMs ?? 0;
        buckets = r.buckets ?? 0;
        trainMs += Date.now() - ts;
        nativeMs += r.nativeMs;
        tokens += r.tokens;
        step++;
        trainCurve.push({ step, loss: r.loss });
        record({ type: 'train', step, epoch: epoch + 1, loss: r.loss, gradNorm: r.gradNorm, lr: args.lr * lrFactor(args.scheduler, step - 1, totalSteps, warmup), ms: Date.now() - ts, tokens: r.tokens });
        const c = spent();
        bar?.update(step, { epoch: epoch + 1, loss: r.loss.toFixed(4), tps: ((tokens / trainMs) * 1000).toFixed(0), spent: c !== null ? `$${c.toFixed(4)}` : '' });
        if (args.evalSteps && step % args.evalSteps === 0) await runEval(epoch + 1);
        if (args.saveSteps && step % args.saveSteps === 0 && s + 1 < stepsPerEpoch) await saveTo(join(out, `checkpoint-${step}`), true);
      }
      epochsDone = epoch + 1;
      await runEval(epochsDone);
      await saveTo(join(out, `checkpoint-${step}`), true);
    }
  } finally {
    bar?.stop();
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
  const ended = stop as RunReport['status'] | null; // set by the loop, the evaluation or a signal handler
  if (ended === 'budget' || ended === 'interrupted') await saveTo(join(out, `checkpoint-${step}`), true);
  else {
    if (ended === 'max-steps' && (!evals.length || evals[evals.length - 1]!.step !== step)) await runEval(epochsDone + 1);
    await saveTo(out, false); // the final model at the top of the output folder
  }
  if (lead) writeFileSync(join(out, 'curves.svg'), curvesSvg(trainCurve, evals.map((e) => ({ step: e.step, loss: e.metrics.loss, accuracy: e.metrics.accuracy }))));
  const meanStepMs = step ? trainMs / step : 0;
  const cost = spent();
  const finishUsd = cost !== null && step < totalSteps ? ((totalSteps - step) * meanStepMs / 3_600_000) * (args.pricePerHour as number) : null;
  const status: RunReport['status'] = stop ?? 'completed';
  let vsEstimate: RunReport['vsEstimate'] = null;
  if (step > 0 && trainMs > 0 && predicted && lead) {
    const actualTps = (tokens / trainMs) * 1000;
    const predTrain = tokens / predicted.tokensPerSec;
    const predEval = predicted.evalTokensPerSec && evalTokens ? evalTokens / predicted.evalTokensPerSec : null;
    const key = calibrationKey(predicted.deviceName, args.model, args.dtype);
    const entry = recordCalibration(key, actualTps / predicted.measuredTokensPerSec);
    const price = args.pricePerHour ?? null;
    vsEstimate = {
      source: predicted.source,
      predictedTokensPerSec: predicted.tokensPerSec,
      actualTokensPerSec: actualTps,
      predictedTrainSeconds: predTrain,
      actualTrainSeconds: trainMs / 1000,
      predictedEvalSeconds: predEval,
      actualEvalSeconds: evalMs / 1000,
      predictedCostUsd: price !== null ? ((predTrain + (predEval ?? 0)) / 3600) * price : null,
      actualCostUsd: price !== null ? ((trainMs + evalMs) / 3_600_000) * price : null,
      errorPct: ((predTrain - trainMs / 1000) / (trainMs / 1000)) * 100,
      measuredTokensPerSec: predicted.measuredTokensPerSec,
      uncalibratedErrorPct: ((tokens / predicted.measuredTokensPerSec - trainMs / 1000) / (trainMs / 1000)) * 100,
      calibrationApplied: predicted.calibration,
      calibration: { key, ratio: entry.ratio, observedRatio: entry.observedRatio, runs: entry.runs, file: calibrationFile() },
    };
  }
  if (status === 'budget') message += `; finishing the remaining ${totalSteps - step} steps would cost about $${finishUsd?.toFixed(4)} more`;
  return {
    schema: 'ftplan.run/1',
    model: args.model,
    dataset: args.dataset,
    device,
    outputDir: out,
    status,
    message: message || 'completed',
    steps: step,
    totalSteps,
    epochsDone,
    wallSeconds: (Date.now() - t0) / 1000,
    startupSeconds: startupMs / 1000,
    trainSeconds: trainMs / 1000,
    tokensPerSec: trainMs ? (tokens / trainMs) * 1000 : 0,
    meanStepMs,
    jsOverheadMs: step ? (trainMs - nativeMs) / step : 0,
    spentUsd: cost,
    finishUsd,
    finalEval: evals.length ? evals[evals.length - 1]!.metrics : null,
    evals,
    checkpoint,
    resumedFrom: resumeFrom?.dir ?? null,
    init: opened.report,
    distributed: dist
      ? { backend, worldSize: world, nproc: args.nproc, nnodes: args.nnodes, threadsPerRank: workerThreads(args), bucketMb: args.bucketMb, buckets, meanAllreduceMs: step ? allreduceMs / step : 0, globalMicroBatchesPerStep: globalAccum }
      : null,
    vsEstimate,
  };
}

/**
 * What the run is compared with: a saved estimate, or a short measurement now. tokensPerSec is what the user was told: the measured throughput
 * times the calibration the estimate applied (earlier runs' actual ÷ measured on this device and
 * model); measuredTokensPerSec is the bare measurement, which the calibration store is fed against.
 */
interface Predicted {
  tokensPerSec: number;
  measuredTokensPerSec: number;
  calibration: { ratio: number; runs: number } | null;
  evalTokensPerSec: number | null;
  deviceName: string;
  source: string;
}

async function predictThroughput(args: RunArgs, config: ModelConfig, train: readonly Encoded[], device: string, addon: NativeAddon, saved: ReturnType<typeof readEstimate> | null): Promise<Predicted> {
  if (saved) {
    const { measurement: m, calibration: cal } = saved;
    return { tokensPerSec: calibrate(m, cal).tokensPerSec, measuredTokensPerSec: m.tokensPerSec, calibration: cal, evalTokensPerSec: m.evalTokensPerSec, deviceName: m.deviceName, source: `${args.estimate} (measured ${m.measuredAt})` };
  }
  const lengths = train.map((r) => r.ids.length);
  const meanLen = epochTokens(lengths, args.batchSize, args.batching, { seed: args.seed }).meanPaddedLength;
  const seqLen = Math.max(1, Math.round(meanLen));
  const seqLens = lengthSchedule(lengths, args.batchSize, args.batching, 4, { seed: args.seed });
  const threads = args.threads ?? availableParallelism();
  let r;
  let steps;
  try {
    // eval step time and the device from the native benchmark; train step time the run's way (timeRunSteps)
    r = await addon.benchmark({ model: config, batchSize: args.batchSize, gradAccum: args.gradAccum, seqLen, seqLens, steps: 1, minTimedMs: 0, warmupSteps: 0, evalBatchSize: args.evalBatchSize, evalSteps: 1, dtype: args.dtype, device, threads, seed: args.seed });
    steps = await timeRunSteps(addon, { model: config, batchSize: args.batchSize, gradAccum: args.gradAccum, dtype: args.dtype, device, threads, seed: args.seed, warmupSteps: 1, steps: 4, minMs: 1500, lens: seqLens });
  } catch (e) {
    throw fromNative(e, 'measuring the short estimate before the run');
  }
  const timing = stepTiming({ ...steps, samplesPerStep: args.batchSize * args.gradAccum }, meanLen);
  const stored = readCalibration(calibrationKey(r.deviceName, args.model, args.dtype));
  const cal = stored ? { ratio: stored.ratio, runs: stored.runs } : null;
  return {
    tokensPerSec: calibrate(timing, cal).tokensPerSec,
    measuredTokensPerSec: timing.tokensPerSec,
    calibration: cal,
    evalTokensPerSec: r.evalMs[0] ? ((args.evalBatchSize * seqLen) / (r.evalMs[0] as number)) * 1000 : null,
    deviceName: r.deviceName,
    source: `measured before the run: ${steps.stepMs.length} steps of ${args.batchSize} rows at the data's padded lengths ${Math.min(...seqLens)}–${Math.max(...seqLens)}`,
  };
}

function readCurve(dir: string, type: string, field: string): number[] {
  try {
    return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, number | string>)
      .filter((o) => o.type === type)
      .map((o) => o[field] as number);
  } catch {
    return [];
  }
}

function renderMetrics(m: EvalMetrics): string {
  const lines = [`accuracy ${(m.accuracy * 100).toFixed(2)}% · macro-F1 ${m.macroF1.toFixed(4)} · loss ${m.loss.toFixed(4)} · ${m.rows} rows`];
  for (const c of m.perClass) lines.push(`  ${c.label.padEnd(12)} precision ${c.precision.toFixed(3)}  recall ${c.recall.toFixed(3)}  f1 ${c.f1.toFixed(3)}  support ${c.support}`);
  lines.push(`  confusion (rows: true, columns: predicted): ${JSON.stringify(m.confusion)}`);
  return lines.join('\n');
}

/** A signed percentage: +4.2%, -3.0%. */
const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;

/** The run's report for a budgeting review: what it cost against what was predicted. */
export function runMarkdown(r: RunReport): string {
  const v = r.vsEstimate;
  const m = r.finalEval;
  return [
    `# ftplan run: ${r.model} on ${r.dataset}`,
    '',
    `- Status: ${r.status} (${r.message}); ${r.steps}/${r.totalSteps} steps, ${r.epochsDone} epoch(s), on ${r.device}.`,
    `- Wall time ${r.wallSeconds.toFixed(1)} s; training ${r.trainSeconds.toFixed(1)} s at ${r.tokensPerSec.toFixed(1)} tokens/s.`,
    r.spentUsd !== null ? `- Spent ≈ $${r.spentUsd.toFixed(4)}${r.finishUsd !== null ? `; finishing ≈ $${r.finishUsd.toFixed(4)} more` : ''}.` : '',
    m ? `- Eval: accuracy ${(m.accuracy * 100).toFixed(2)}%, macro-F1 ${m.macroF1.toFixed(4)}, loss ${m.loss.toFixed(4)} (${m.rows} rows).` : '- Eval: no eval split.',
    '',
    '## Predicted against actual',
    '',
    v
      ? [
          '| | predicted | actual | error |',
          '|---|---|---|---|',
          `| training time | ${v.predictedTrainSeconds.toFixed(1)} s | ${v.actualTrainSeconds.toFixed(1)} s | ${pct(v.errorPct)} |`,
          `| tokens/s | ${v.predictedTokensPerSec.toFixed(1)} | ${v.actualTokensPerSec.toFixed(1)} | ${pct(((v.predictedTokensPerSec - v.actualTokensPerSec) / v.actualTokensPerSec) * 100)} |`,
          v.predictedEvalSeconds !== null ? `| eval time | ${v.predictedEvalSeconds.toFixed(1)} s | ${v.actualEvalSeconds.toFixed(1)} s | ${pct(((v.predictedEvalSeconds - v.actualEvalSeconds) / Math.max(1e-9, v.actualEvalSeconds)) * 100)} |` : '',
          v.predictedCostUsd !== null ? `| cost | $${v.predictedCostUsd.toFixed(4)} | $${v.actualCostUsd!.toFixed(4)} | ${pct(((v.predictedCostUsd - v.actualCostUsd!) / v.actualCostUsd!) * 100)} |` : '',
          '',
          `Prediction: ${v.source}${v.calibrationApplied ? `, calibrated ×${v.calibrationApplied.ratio.toFixed(3)} from ${v.calibrationApplied.runs} earlier run(s) (the bare measurement, ${v.measuredTokensPerSec.toFixed(1)} tokens/s, would have been ${pct(v.uncalibratedErrorPct)} off)` : ' (no calibration from earlier runs applied)'}. Calibration now ×${v.calibration.ratio.toFixed(3)} (the runs measured ×${v.calibration.observedRatio.toFixed(3)} over ${v.calibration.runs} run(s), shrunk toward 1), stored in ${v.calibration.file} for the next estimate.`,
        ]
          .filter(Boolean)
          .join('\n')
      : 'No steps were run.',
    '',
    '## Evaluations',
    '',
    '| step | epoch | loss | accuracy | macro-F1 |',
    '|---|---|---|---|---|',
    ...r.evals.map((e) => `| ${e.step} | ${e.epoch} | ${e.metrics.loss.toFixed(4)} | ${(e.metrics.accuracy * 100).toFixed(2)}% | ${e.metrics.macroF1.toFixed(4)} |`),
    '',
    `Checkpoint: ${r.checkpoint}. Metrics: metrics.jsonl; curves: curves.svg in ${r.outputDir}.`,
    '',
  ]
    .filter((l, i, a) => l !== '' || a[i - 1] !== '')
    .join('\n');
}

export async function runRun(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseArgs(RunArgsSchema, RUN_OPTIONS, raw, 'run');
  const dist = workerEnv();
  if (!dist && args.nproc * args.nnodes > 1) {
    // the launcher: this node's workers do the run. A hub model and data set are fetched here
    // once, so the workers find them in the cache instead of downloading them side by side.
    await locateDataset(args.dataset);
    await obtainModel(args.model, args.init === 'random' || args.resume !== undefined ? 'shape' : 'weights');
    const res = await launchWorkers(args);
    process.exitCode = res.code;
    return;
  }
  if (dist && dist.worldSize !== args.nproc * args.nnodes) {
    throw new FtplanError('ERR_INPUT', `WORLD_SIZE ${dist.worldSize} does not match --nproc ${args.nproc} × --nnodes ${args.nnodes}`, { fix: 'start workers through `ftplan run --nproc N`' });
  }
  const r = await runTraining(args, args.json ? () => {} : undefined, dist && dist.worldSize > 1 ? dist : null);
  if (dist && dist.rank !== 0) return; // rank 0 reports
  if (args.report) writeFileAtomic(args.report, runMarkdown(r));
  if (args.json) out(`${JSON.stringify(r, null, 2)}\n`);
  else {
    out(
      [
        `${r.status}: ${r.message}`,
        `${r.steps}/${r.totalSteps} steps, ${r.epochsDone} epoch(s), ${r.wallSeconds.toFixed(1)} s wall; ${r.tokensPerSec.toFixed(1)} tokens/s; ${r.meanStepMs.toFixed(1)} ms/step (of which ${r.jsOverheadMs.toFixed(2)} ms outside the native core)`,
        r.spentUsd !== null ? `spent ≈ $${r.spentUsd.toFixed(4)}${r.finishUsd !== null ? `; finishing ≈ $${r.finishUsd.toFixed(4)} more` : ''}` : '',
        r.finalEval ? `eval: ${renderMetrics(r.finalEval)}` : 'eval: no eval split',
        `train loss  ${sparkline(readCurve(r.outputDir, 'train', 'loss'))}`,
        r.evals.length > 1 ? `eval acc.   ${sparkline(r.evals.map((e) => e.metrics.accuracy), r.evals.length)}  (${r.evals.map((e) => (e.metrics.accuracy * 100).toFixed(1)).join(' → ')} %)` : '',
        r.vsEstimate
          ? `vs estimate (${r.vsEstimate.source}): train ${r.vsEstimate.predictedTrainSeconds.toFixed(1)} s predicted, ${r.vsEstimate.actualTrainSeconds.toFixed(1)} s actual (${pct(r.vsEstimate.errorPct)}${r.vsEstimate.calibrationApplied ? `, calibrated ×${r.vsEstimate.calibrationApplied.ratio.toFixed(3)}; uncalibrated ${pct(r.vsEstimate.uncalibratedErrorPct)}` : ''}); ${r.vsEstimate.predictedTokensPerSec.toFixed(1)} vs ${r.vsEstimate.actualTokensPerSec.toFixed(1)} tokens/s${r.vsEstimate.predictedCostUsd !== null ? `; cost $${r.vsEstimate.predictedCostUsd.toFixed(4)} predicted, $${r.vsEstimate.actualCostUsd!.toFixed(4)} actual` : ''}; calibration ×${r.vsEstimate.calibration.ratio.toFixed(3)} (${r.vsEstimate.calibration.runs} run(s)) saved to ${r.vsEstimate.calibration.file}`
          : '',
        `checkpoint: ${r.checkpoint}; metrics: ${join(r.outputDir, 'metrics.jsonl')}; curves: ${join(r.outputDir, 'curves.svg')}`,
      ]
        .filter(Boolean)
        .join('\n') + '\n',
    );
  }
  if (r.status === 'interrupted') process.exitCode = 130;
}

export async function runEval(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseArgs(EvalArgsSchema, EVAL_OPTIONS, raw, 'eval');
  // The model's classes (config.json id2label): evaluation data without a training split maps its
  // labels onto them, instead of guessing the classes from the eval rows (a class they lack would
  // shift every id after it).
  const source = await obtainModel(args.model, 'weights');
  const modelLabels = source.kind === 'folder' ? (readHfConfig(source.dir).labels ?? undefined) : undefined;
  const ds = await loadDataset(args.dataset, { textColumn: args.textColumn, labelColumn: args.labelColumn, limit: args.limit, emptyText: args.emptyText, unknownLabels: args.unknownLabels, evalOnly: true, modelLabels });
  const split = evalSplit(ds);
  if (!split) throw new FtplanError('ERR_INPUT', `${args.dataset} has no eval split (test or validation)`, { fix: 'pass a data set with a test.* or validation.* file, or the file to evaluate on itself' });
  if (split.examples.length === 0) {
    const d = split.dropped;
    throw new FtplanError('ERR_INPUT', `${split.files.join(', ')}: no rows left to evaluate (${split.rowsRead} read; dropped: ${d.missingLabel} without a label, ${d.unknownLabel} with a class the model does not have, ${d.emptyText} empty)`, {
      fix: 'check --label-column and that the labels are the model\'s classes (its config.json id2label)',
    });
  }
  const addon = loadNative();
  const device = resolveDevice(args.device, addon);
  const opened = await openModel(args.model, { numLabels: ds.labels.length, dtype: args.dtype, device, threads: args.threads ?? availableParallelism() });
  if (opened.report.initialised.includes('score.weight')) {
    throw new FtplanError('ERR_INPUT', `${args.model} has no classification head (score.weight) to evaluate`, { fix: 'evaluate a folder that ftplan run wrote (it saves the head)' });
  }
  const tokenizer = tokenizerFor(opened.source.kind === 'folder' ? opened.source.dir : undefined);
  const rows = encodeExamples(split.examples, tokenizer, opened.config.nPositions);
  const m = await evaluate(opened.session, rows, args.evalBatchSize, opened.config.padTokenId, ds.labels);
  const which = ds.source === 'file' ? 'the whole file' : `the ${split.name} split`;
  const dropped = split.rowsRead - split.examples.length;
  out(
    args.json
      ? `${JSON.stringify({ schema: 'ftplan.eval/1', model: args.model, dataset: args.dataset, split: split.name, files: split.files, rowsRead: split.rowsRead, dropped: split.dropped, labels: ds.labels, labelSource: ds.labelSource, metrics: m }, null, 2)}\n`
      : `${which} (${split.files.join(', ')}): ${split.examples.length} rows${dropped ? ` (${dropped} of ${split.rowsRead} dropped)` : ''}; labels: ${ds.labelSource}\n${renderMetrics(m)}\n`,
  );
}
