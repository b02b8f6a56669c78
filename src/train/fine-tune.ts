/**
 * fine-tune.ts — one `ftplan run` process from flags to report: the data and model loaded (a
 * resumed checkpoint's, or --model's), the prediction it will be compared with, the process group
 * joined (data-parallel), the loop (loop.ts), and the report with predicted against actual.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { batchPlan, microBatchesPerStep, stepsPerEpoch as epochSteps } from '../batch-plan.js';
import type { RunArgs } from '../commands/options.js';
import { gpt2TokenizerFiles } from '../data/gpt2-files.js';
import { loadDataset } from '../data/loaders.js';
import { fromNative, FtplanError } from '../errors.js';
import { guardHostMemory, resolveDevice } from '../measure/host.js';
import { readEstimate } from '../measure/read.js';
import { maxPositions } from '../model/model-config.js';
import { calibrationModel } from '../calibration.js';
import { loadNative } from '../native.js';
import { parameterCount } from '../planner/memory.js';
import { instancePrice } from '../pricing/instance-price.js';
import { curvesSvg } from '../report/run.js';
import { ADAPTER_CONFIG, baseModelName, readAdapter, readAdapterConfig, type AdapterInfo } from '../model/peft-adapter.js';
import { argsWithAdapter, checkAdapterResumable, loadAdapter } from './adapter.js';
import { checkOutputDir, checkResumable, findCheckpoint, loadTrainingState, writeMerged } from './checkpoint.js';
import { calibrationName, checkMethodFlags, describePeft, nativePeft, peftRecord, peftSettings, requirePeftSession } from './peft.js';
import { workerThreads, type DistEnv } from './distributed.js';
import { evalPaddedTokens } from './evaluate.js';
import { runInputs } from './inputs.js';
import { metricScore } from './metrics.js';
import { finishRun, initialState, spentUsd, trainEpochs, watchSignals, type LoopContext } from './loop.js';
import { compareWithPrediction, predictThroughput } from './predict.js';
import type { RunReport } from './result.js';
import { warmupSteps } from './schedule.js';
import { defaultThreads } from '../util/host.js';

/** What a caller other than the CLI may add: pauseAt stops at that step with the whole run's schedule, evaluated and resumable (a sweep's rung). */
export interface TrainingOptions {
  pauseAt?: number;
}

export async function runTraining(args: RunArgs, log: (s: string) => void = (s) => process.stderr.write(`${s}\n`), dist: DistEnv | null = null, opts: TrainingOptions = {}): Promise<RunReport> {
  const t0 = Date.now();
  const rank = dist?.rank ?? 0;
  const lead = rank === 0; // rank 0 writes checkpoints, metrics and reports; the others write nothing
  // Every step: --batch-size rows per micro-batch, --grad-accum of them on each of the group's ranks.
  const batch = batchPlan(args.batchSize, args.gradAccum, dist?.worldSize ?? 1);
  if (lead) checkOutputDir(args.outputDir);
  if (args.instance && args.pricePerHour === undefined) args = { ...args, pricePerHour: instancePrice(args.instance).price };
  const saved = args.estimate ? readEstimate(args.estimate) : null; // a bad --estimate fails before any work
  const addon = loadNative();
  let device = resolveDevice(args.device, addon);
  // one GPU per worker: cuda:LOCAL_RANK, unless --device named one
  if (dist && device.startsWith('cuda') && !/^cuda:\d+$/.test(args.device)) device = `cuda:${dist.localRank}`;
  const resumeFrom = args.resume !== undefined ? findCheckpoint(args.resume || args.outputDir) : null;
  // LoRA runs open the frozen base from --model and put the adapter (--adapter's, or the resumed
  // checkpoint's: checkpoints hold the adapter only) on top; the other methods resume a whole model.
  const method = args.method ?? (args.adapter ? readAdapterConfig(args.adapter).info.method : 'full');
  if (!args.adapter) checkMethodFlags({ ...args, method }); // before the data and the model are loaded
  const adapterRun = method === 'lora' || method === 'qlora';
  const adapterCheckpoint = resumeFrom && existsSync(join(resumeFrom.dir, ADAPTER_CONFIG));
  if (resumeFrom && adapterCheckpoint !== adapterRun) {
    throw new FtplanError('ERR_INPUT', `${resumeFrom.dir} holds ${adapterCheckpoint ? 'a LoRA adapter' : 'a whole model'}, and this run trains --method ${method}`, { fix: 'resume with the flags of the run that wrote it (--method included)' });
  }
  // The model's record and the data tokenized once, before the short measurement that needs its
  // lengths (inputs.ts: GPT-2, or a Llama-family decoder for either task).
  const inputs = await runInputs(args, adapterRun ? null : resumeFrom, () => loadDataset(args.dataset, { textColumn: args.textColumn, labelColumn: args.labelColumn, limit: args.limit, seed: args.seed, emptyText: args.emptyText, unknownLabels: args.unknownLabels }));
  const shape = inputs.config;
  const train = inputs.train;
  // --adapter: its settings are the run's; then the method's settings, checked against the model
  const startAdapter = args.adapter ? readAdapter(args.adapter, shape, { model: args.model, forceBase: args.forceBase }) : null;
  if (startAdapter) args = argsWithAdapter(args, startAdapter.info, args.adapter as string);
  const peft = peftSettings({ ...args, method }, shape, args.model);
  const resumeAdapter = resumeFrom && adapterRun ? readAdapter(resumeFrom.dir, shape, { model: args.model, forceBase: args.forceBase }) : null;
  if (resumeAdapter) checkAdapterResumable(resumeFrom!.dir, resumeAdapter.info, peft);
  if (train.length === 0) throw new FtplanError('ERR_INPUT', `${args.dataset}: no training rows`, { fix: 'check --text-column / --label-column and the data set\'s train split' });
  if (dist && !addon.runtimeInfo().c10d) {
    throw new FtplanError('ERR_INPUT', '--nproc/--nnodes > 1: this build of the native addon has no c10d (libtorch\'s ProcessGroupGloo and the gloo headers were missing at build time)', { fix: 'on Debian: apt-get install libgloo-dev, then npm run build:native (scripts/setup.sh does both)' });
  }
  // Refuse before allocating when the plan cannot fit this machine's memory (CPU).
  guardHostMemory(args.model, device, shape, batch.microBatch, Math.min(maxPositions(shape), train.reduce((m, r) => Math.max(m, r.ids.length), 1)), args.dtype, peft);
  // Data-parallel workers skip the short single-process measurement (it would not predict a group's
  // step); --estimate still gives the comparison.
  const predicted = dist && !args.estimate ? null : await predictThroughput(args, shape, train, device, addon, saved, peft);
  const opened = await inputs.open({
    lr: args.lr,
    weightDecay: args.weightDecay,
    maxGradNorm: args.maxGradNorm,
    dtype: args.dtype,
    device,
    seed: args.seed,
    threads: dist ? workerThreads(args, availableParallelism()) : (args.threads ?? defaultThreads(availableParallelism())),
    ...nativePeft(peft),
  });
  const { session, config } = opened;
  requirePeftSession(session, peft);
  const fromAdapter = resumeAdapter ?? startAdapter;
  if (fromAdapter) await loadAdapter(session, fromAdapter);
  const parameterInfo = peft.method !== 'full' ? await session.parameterInfo().catch((e: unknown) => Promise.reject(fromNative(e, 'reading what the model trains'))) : null;
  const peftLine = describePeft(peft, config, parameterInfo ?? undefined);
  const adapter: AdapterInfo | null = peft.lora
    ? { method: peft.method as 'lora' | 'qlora', task: inputs.task, r: peft.lora.r, alpha: peft.lora.alpha, dropout: peft.lora.dropout, targets: peft.lora.targets, baseModel: baseModelName(args.model), baseDtype: peft.baseDtype ?? 'bf16', doubleQuant: peft.doubleQuant, labels: inputs.task === 'classification' ? inputs.labels : null }
    : null;
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
  const evalRows = inputs.evalRows;
  // A step takes gradAccum micro-batches on each rank: the single-process run with --grad-accum
  // gradAccum·ranks uses the same micro-batches, in the same steps.
  const stepsPerEpoch = epochSteps(batch, train.length);
  const planned = stepsPerEpoch * args.epochs;
  const totalSteps = args.maxSteps ? Math.min(args.maxSteps, planned) : planned;
  const out = resolve(args.outputDir);
  if (lead) mkdirSync(out, { recursive: true });
  const metricsFile = join(out, 'metrics.jsonl');
  if (!resumeFrom && lead) writeFileSync(metricsFile, '');
  const ctx: LoopContext = {
    args,
    session,
    config,
    labels: inputs.labels,
    tokenizerFrom: inputs.tokenizerFrom,
    baseConfig: inputs.baseConfig,
    adapter,
    train,
    evalRows,
    evalPaddedTokens: evalPaddedTokens(evalRows, args.evalBatchSize),
    batch,
    rank,
    distributed: dist !== null,
    outputDir: out,
    metricsFile,
    stepsPerEpoch,
    totalSteps,
    warmup: warmupSteps(totalSteps, args.warmupRatio),
    fixedLength: args.batching === 'fixed' ? Math.max(...train.map((r) => r.ids.length)) : undefined,
    parameterBytes: 4 * parameterCount(config),
    startedAt: t0,
    pauseAt: opts.pauseAt,
    bar: process.stderr.isTTY && !args.json && !dist ? new cliProgress.SingleBar({ format: 'step {value}/{total} | epoch {epoch} | loss {loss} | {tps} tok/s | ETA {eta_formatted} | {spent}', hideCursor: true }, cliProgress.Presets.shades_classic) : null,
  };
  log(`${opened.report.init === 'pretrained' ? `loaded ${opened.report.file} (${opened.report.loaded} tensors; initialised: ${opened.report.initialised.join(', ') || 'none'})` : `random init of ${args.model}`}; ${train.length} train / ${evalRows.length} eval rows; ${totalSteps} steps (${stepsPerEpoch}/epoch) on ${device}`);
  if (inputs.dataNote) log(inputs.dataNote);
  if (peft.method !== 'full' || peft.gradientCheckpointing) log(`${peftLine}${fromAdapter && !resumeAdapter ? `; adapter from ${fromAdapter.dir}` : ''}`);

  const state = initialState(resumeFrom ? { dir: resumeFrom.dir, step: resumeFrom.state.global_step, stepsPerEpoch } : null);
  const unwatch = watchSignals(state);
  let startupMs = 0;
  try {
    if (resumeFrom) {
      checkResumable(resumeFrom, { seed: args.seed, batch, epochs: args.epochs, trainRows: train.length, lr: args.lr, scheduler: args.scheduler });
      await loadTrainingState(session, resumeFrom.dir);
      log(`resuming from ${resumeFrom.dir} at step ${state.step} (epoch ${state.startEpoch + 1})`);
    }
    if (opened.gpt2Preset) gpt2TokenizerFiles(); // built once now, so a checkpoint save costs only its writing
    startupMs = Date.now() - t0;
    ctx.bar?.start(totalSteps, state.step, { epoch: state.startEpoch + 1, loss: '-', tps: '-', spent: '' });
    await trainEpochs(ctx, state);
  } finally {
    ctx.bar?.stop();
    unwatch();
  }
  await finishRun(ctx, state);
  // --merge: the finished adapter merged into the base, as a model folder any HF loader reads
  const finished = state.stop === null || state.stop === 'max-steps' || state.stop === 'early-stopped';
  const merged = args.merge && adapter && finished && lead ? join(out, 'merged') : null;
  if (merged) {
    await writeMerged(merged, { session, config, labels: inputs.labels, tokenizerFrom: inputs.tokenizerFrom, baseConfig: inputs.baseConfig });
    log(`merged the adapter into ${args.model}: ${merged}`);
  }
  const { step, trainMs, tokens, evals } = state;
  if (lead) writeFileSync(join(out, 'curves.svg'), curvesSvg(state.trainCurve, evals.map((e) => ({ step: e.step, loss: e.metrics.loss, accuracy: metricScore(e.metrics) }))));
  const meanStepMs = step ? trainMs / step : 0;
  const cost = spentUsd(ctx);
  const finishUsd = cost !== null && step < totalSteps ? ((totalSteps - step) * meanStepMs / 3_600_000) * (args.pricePerHour as number) : null;
  const status: RunReport['status'] = state.stop ?? 'completed';
  const vsEstimate =
    step > 0 && trainMs > 0 && predicted && lead
      ? compareWithPrediction(predicted, { model: calibrationModel(calibrationName(args.model, peft), inputs.task), dtype: args.dtype, tokens, trainMs, evalTokens: state.evalTokens, evalMs: state.evalMs, pricePerHour: args.pricePerHour ?? null })
      : null;
  let message = state.message;
  if (status === 'budget') message += `; finishing the remaining ${totalSteps - step} steps would cost about $${finishUsd?.toFixed(4)} more`;
  return {
    schema: 'ftplan.run/1',
    model: args.model,
    ...(inputs.task === 'causal-lm' ? { task: 'causal-lm' as const, lmData: inputs.lmData } : {}),
    dataset: args.dataset,
    device,
    outputDir: out,
    status,
    message: message || `all ${totalSteps} steps (${args.epochs} epoch(s)) done`,
    steps: step,
    totalSteps,
    epochsDone: state.epochsDone,
    wallSeconds: (Date.now() - t0) / 1000,
    startupSeconds: startupMs / 1000,
    trainSeconds: trainMs / 1000,
    tokensPerSec: trainMs ? (tokens / trainMs) * 1000 : 0,
    meanStepMs,
    jsOverheadMs: step ? (trainMs - state.nativeMs) / step : 0,
    spentUsd: cost,
    finishUsd,
    finalEval: evals.length ? evals[evals.length - 1]!.metrics : null,
    evals,
    checkpoint: state.checkpoint,
    resumedFrom: resumeFrom?.dir ?? null,
    init: opened.report,
    ...(peft.method !== 'full' || peft.gradientCheckpointing
      ? { peft: { ...peftRecord(peft, config), ...(parameterInfo ? { trainableParameters: parameterInfo.trainable } : {}), description: peftLine, parameterInfo, startedFrom: startAdapter?.dir ?? null, adapter: adapter && finished ? out : null, merged } }
      : {}),
    distributed: dist
      ? { backend, worldSize: batch.ranks, nproc: args.nproc, nnodes: args.nnodes, threadsPerRank: workerThreads(args), bucketMb: args.bucketMb, buckets: state.buckets, meanAllreduceMs: step ? state.allreduceMs / step : 0, globalMicroBatchesPerStep: microBatchesPerStep(batch) }
      : null,
    vsEstimate,
  };
}
