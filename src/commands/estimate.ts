/**
 * estimate.ts — `ftplan estimate`: measure real training steps of the model on this machine, then
 * project the fine-tune's wall time from that measured throughput.
 */
import { availableParallelism } from 'node:os';
import { batchPlan, describeBatch, effectiveBatch, type BatchPlan } from '../batch-plan.js';
import { calibrate, calibrationFile, calibrationKey, calibrationModel, calibrationSpreadPct, readCalibration } from '../calibration.js';
import { epochTokens, lengthsFromHistogram } from '../data/batching.js';
import { FtplanError, usageError } from '../errors.js';
import { estimateLengths, type LengthProfile } from '../estimate/lengths.js';
import type { CheckpointSummary, EstimateResult } from '../estimate/result.js';
import type { Measurement } from '../measurement.js';
import { cudaVisible, guardHostMemory, hostMethod, resolveDevice } from '../measure/host.js';
import { measure } from '../measure/measure.js';
import { readMeasurement } from '../measure/read.js';
import { lengthSchedule } from '../measure/steps.js';
import { writeFileAtomic } from '../util/fs.js';
import { filterRows, loadCatalog, loadGpus } from '../pricing/catalog.js';
import { scalingModel } from '../planner/scaling.js';
import { loadScalingCalibration } from '../pricing/scaling.js';
import { methodArgs, planByMethod } from '../estimate/planning.js';
import { measureProxy, proxyDepths, proxyRule, withDepth } from '../measure/proxy.js';
import { loadErrorBands } from '../pricing/error-bands.js';
import { availableHostMemory } from '../util/host.js';
import { hostMemoryNeed } from '../planner/method-memory.js';
import { freemem } from 'node:os';
import { renderHtml, renderMarkdown } from '../report/documents.js';
import type { Task } from '../model/decoder-config.js';
import { resolveDecoder } from '../model/decoder-source.js';
import { isDecoderConfig, maxPositions, modelFamily, modelTask, type AnyModelConfig } from '../model/model-config.js';
import { findWeights, preflightCheckpoint } from '../model/preflight.js';
import { resolveAnyModel } from '../model/resolve.js';
import { loadNative } from '../native.js';
import { kernelsPerLayerOf, layersOf, parameterTensorsOf } from '../planner/model-shape.js';
import { project } from '../planner/projection.js';
import { renderEstimate } from '../report/table.js';
import { checkEstimateFlags, settingsToMeasure } from '../estimate/method.js';
import type { MemoryBreakdown } from '../measure/measure.js';
import { calibrationName, describePeft, FULL, nativePeft, peftRecord, type PeftRecord, type PeftSettings } from '../train/peft.js';
import { ESTIMATE_OPTIONS, EstimateArgsSchema, parseArgs, type EstimateArgs } from './options.js';
import { defaultThreads } from '../util/host.js';

export type { CheckpointSummary, EstimateResult } from '../estimate/result.js';

/**
 * A model folder's weights checked from their headers (preflight.ts), so a broken or partial
 * download fails here, on the laptop, not on a rented GPU; a folder with config.json only is fine
 * for an estimate (throughput depends on the shape) and is reported as such.
 */
export function checkModelFolder(dir: string, cfg: AnyModelConfig): CheckpointSummary {
  const found = findWeights(dir);
  if (found.kind === 'none') {
    return {
      dir,
      weights: 'absent',
      other: found.other,
      note: `no weights in ${dir}${found.other ? ` (only ${found.other}; ftplan reads safetensors)` : ''}: estimated from config.json's shape; \`ftplan run\` needs model.safetensors (or its shards) there`,
    };
  }
  const c = preflightCheckpoint(dir, cfg);
  const size = c.tensorBytes >= 1e9 ? `${(c.tensorBytes / 1e9).toFixed(2)} GB` : `${(c.tensorBytes / 1e6).toFixed(1)} MB`;
  return {
    dir,
    weights: 'checked',
    layout: c.layout,
    files: c.files,
    tensors: c.tensors,
    tensorBytes: c.tensorBytes,
    dtypes: c.dtypes,
    initialised: c.match.missing,
    note: `${c.layout === 'sharded' ? `${c.files.length} shards (${c.index})` : c.files[0]}: ${c.tensors} tensors, ${size} ${c.dtypes.join('/')}, headers and shapes match config.json (weights not read)${c.match.missing.length ? `; ${c.match.missing.join(', ')} will be initialised` : ''}`,
  };
}

export function parseEstimateArgs(raw: Record<string, unknown>): EstimateArgs {
  return parseArgs(EstimateArgsSchema, ESTIMATE_OPTIONS, raw, 'estimate');
}

/**
 * Where the measured sequence length comes from: --seq-len, or the profile under the batching policy
 * at the micro-batch (a batch's padded length is its longest row's).
 */
export function planSequence(args: EstimateArgs, cfg: AnyModelConfig, profile: Pick<LengthProfile, 'splits'>, batch: BatchPlan) {
  const micro = batch.microBatch;
  const train = profile.splits.train;
  const evalSplit = profile.splits.test;
  const positions = maxPositions(cfg);
  if (args.seqLen !== undefined && args.seqLen > positions) {
    throw usageError(`--seq-len ${args.seqLen} exceeds ${args.model}'s ${positions} positions`, `use --seq-len ${positions} or less`);
  }
  const maxLen = args.seqLen ?? positions;
  const trainLengths = lengthsFromHistogram(train.tokens.histogram, maxLen);
  const evalLengths = evalSplit ? lengthsFromHistogram(evalSplit.tokens.histogram, maxLen) : [];
  const policy = args.seqLen !== undefined ? 'fixed' : args.batching;
  const trainEpoch = epochTokens(trainLengths, micro, policy, { fixedLength: args.seqLen, seed: args.seed });
  const evalEpoch =
    evalLengths.length && args.evalBatchSize > 0
      ? epochTokens(evalLengths, args.evalBatchSize, policy === 'fixed' ? 'fixed' : 'longest', { fixedLength: args.seqLen, seed: args.seed })
      : null;
  const seqLen = args.seqLen ?? Math.min(positions, Math.max(1, Math.round(trainEpoch.meanPaddedLength)));
  // The timed steps' padded lengths: a sample of the epoch's real ones (lengthSchedule says why).
  const sampleLens = lengthSchedule(trainLengths, micro, policy, Math.max(1, args.steps), { fixedLength: args.seqLen, seed: args.seed });
  const basis =
    args.seqLen !== undefined
      ? `--seq-len, every row padded to ${args.seqLen}`
      : `timed on a sample of the data's padded batch lengths under batching=${policy} (${Math.min(...sampleLens)}–${Math.max(...sampleLens)}); ${seqLen} is the mean per batch of ${micro}`;
  // OOM comes late in a run, on the longest batch: memory is probed at the longest row.
  const probeSeqLen = Math.min(maxLen, Math.max(train.tokens.max, evalSplit?.tokens.max ?? 0));
  return { policy, trainEpoch, evalEpoch, seqLen, meanLen: args.seqLen ?? trainEpoch.meanPaddedLength, sampleLens, probeSeqLen, basis, trainRows: train.rows, evalRows: evalSplit?.rows ?? 0 };
}

/** The token lengths to plan with (estimate/lengths.ts): --dataset with the model's tokenizer, else a shipped profile. */
function lengthsFor(args: EstimateArgs, task: Task, decoder: Parameters<typeof estimateLengths>[1], positions: number): Promise<LengthProfile> {
  return estimateLengths(task, decoder, {
    dataset: args.dataset,
    textColumn: args.textColumn,
    labelColumn: args.labelColumn,
    limit: args.limit,
    seed: args.seed,
    emptyText: args.emptyText,
    unknownLabels: args.unknownLabels,
    lmFormat: args.lmFormat,
    seqLen: Math.max(2, args.seqLen ?? positions),
  });
}

/** The classification head's classes from the data; a causal-LM model keeps its record. */
function withClasses(cfg: AnyModelConfig, lengths: LengthProfile): AnyModelConfig {
  return lengths.labels ? { ...cfg, numLabels: lengths.labels.length } : cfg;
}

/** The token lengths an estimate of `args` plans with, computed once for callers that estimate several batch shapes of one data set (a sweep). */
export async function datasetLengths(args: EstimateArgs): Promise<LengthProfile> {
  const model = await resolveAnyModel(args.model, { task: args.task, need: 'shape' });
  return lengthsFor(args, args.task, model.decoder, maxPositions(model.config));
}

/** `given`: the data set's lengths as datasetLengths() computed them for these arguments (not re-read). */
export async function estimate(args: EstimateArgs, progress?: (line: string) => void, now = new Date(), given?: LengthProfile): Promise<EstimateResult> {
  let m: Measurement;
  let cfg: AnyModelConfig;
  let lengths: LengthProfile;
  let seq: ReturnType<typeof planSequence>;
  let checkpoint: CheckpointSummary | null = null;
  let training: PeftRecord & { description: string };
  let proxy = { proxy: false, reason: 'a saved measurement' };
  const notes: string[] = [];
  const { rows: priceRows } = loadCatalog({ catalogs: args.catalog }); // bad price tables fail before any measuring
  checkEstimateFlags(args); // a flag the method does not use fails before any loading
  if (args.lmFormat !== 'auto' && args.task !== 'causal-lm' && !args.measurement) throw usageError(`--lm-format ${args.lmFormat} is for --task causal-lm`, 'add --task causal-lm, or leave --lm-format out');
  if (args.measurement) {
    m = readMeasurement(args.measurement);
    const saved = m.modelConfig as AnyModelConfig;
    const task = modelTask(saved);
    if (task !== args.task && args.task !== 'classification') throw usageError(`--task ${args.task}: ${args.measurement} measured ${m.model} for ${task}`, `leave --task out (a re-plan takes the measurement's), or estimate again for ${args.task}`);
    // a decoder's own tokenizer profiles --dataset: the measured model as it resolves here
    const decoder = isDecoderConfig(saved) && args.dataset ? resolveDecoder(m.model, task, {}) : null;
    if (isDecoderConfig(saved) && args.dataset && !decoder) {
      throw new FtplanError('ERR_INPUT', `${args.measurement}: re-planning ${m.model} for --dataset needs its tokenizer, and ${m.model} is not a preset, folder or cached hub model here`, { fix: 'run the re-plan where the model is, or leave --dataset out' });
    }
    lengths = await lengthsFor(args, task, decoder, maxPositions(saved));
    cfg = withClasses(saved, lengths);
    // The measurement's batch governs: its throughput and step memory were measured at that
    // micro-batch and accumulation, so the sequence, the projection and the plan all take it.
    const measuredBatch = batchPlan(m.batchSize, m.gradAccum);
    if (measuredBatch.microBatch !== args.batchSize || measuredBatch.gradAccum !== args.gradAccum)
      notes.push(`batch: the measurement's (${describeBatch(measuredBatch, 'process')}), at which ${args.measurement} was measured; --batch-size ${args.batchSize} --grad-accum ${args.gradAccum} do not apply to a re-plan (estimate again to plan another batch)`);
    seq = planSequence(args, cfg, lengths, measuredBatch);
    training = (m.training as typeof training | undefined) ?? { ...peftRecord(FULL, cfg), description: describePeft(FULL, cfg) };
    if (args.method !== undefined && args.method !== 'auto' && args.method !== training.method) notes.push(`method: --method ${args.method} is priced from a measurement of ${training.method} (its step time and activations are ${training.method}'s; estimate again with --method ${args.method} to measure it)`);
    progress?.(`re-planning from ${args.measurement} (measured ${m.measuredAt} on ${m.device}: ${m.deviceName}) at its batch: ${describeBatch(measuredBatch, 'process')}`);
  } else {
    // Throughput depends on the shape, not on weight values: a folder's config.json is enough; its
    // weights, when there, are checked from their headers before anything is measured.
    const model = await resolveAnyModel(args.model, { task: args.task, need: 'shape' });
    lengths = given ?? (await lengthsFor(args, args.task, model.decoder, maxPositions(model.config)));
    cfg = withClasses(model.config, lengths);
    if (model.dir && (model.decoder || model.source?.kind === 'folder')) {
      checkpoint = checkModelFolder(model.dir, cfg);
      progress?.(checkpoint.weights === 'checked' ? `checked ${checkpoint.note}` : checkpoint.note);
    }
    if (lengths.note) notes.push(lengths.note);
    const batch = batchPlan(args.batchSize, args.gradAccum);
    seq = planSequence(args, cfg, lengths, batch);
    methodArgs(args, cfg); // bad PEFT settings fail before anything is measured
    const onCpu = args.device === 'cpu' || (args.device === 'auto' && !cudaVisible());
    const longest = Math.max(seq.seqLen, ...seq.sampleLens, seq.probeSeqLen);
    // what this host has, read once: the method auto measures, the proxy rule and the checks below
    const available = onCpu ? availableHostMemory(freemem) : Infinity;
    const deepestProxy = Math.max(...proxyDepths(cfg), 1);
    // what --method auto can measure here: the whole model, or (too big for that) its deepest proxy
    const measurable = (s: PeftSettings) => {
      const whole = hostMemoryNeed(cfg, batch.microBatch, longest, args.dtype, available, hostMethod(s));
      return whole.fits || (args.proxy !== false && layersOf(cfg) > 4 && hostMemoryNeed(withDepth(cfg, deepestProxy), batch.microBatch, longest, args.dtype, available, hostMethod(s)).fits);
    };
    const chosen = settingsToMeasure(args, cfg, measurable);
    const peft: PeftSettings = chosen.settings;
    if (chosen.note) notes.push(chosen.note);
    // A model too big (or too slow) to measure whole here is measured at reduced depths (proxy.ts).
    proxy = proxyRule(cfg, { microBatch: batch.microBatch, gradAccum: batch.gradAccum, seqLen: longest, dtype: args.dtype, availableBytes: available, force: args.proxy, method: hostMethod(peft) });
    if (onCpu && proxy.proxy) {
      // the deepest proxy keeps the real vocabulary and width: it must fit here itself
      const need = hostMemoryNeed(withDepth(cfg, deepestProxy), batch.microBatch, longest, args.dtype, available, hostMethod(peft));
      const gib = (b: number) => (b / 2 ** 30).toFixed(1);
      if (!need.fits)
        throw new FtplanError('ERR_OUT_OF_MEMORY', `${args.model} at batch ${batch.microBatch} × ${longest} tokens is too big to measure here, and so is its ${deepestProxy}-block proxy (the real vocabulary and width): ${gib(need.totalBytes)} GiB to train (${gib(need.statesBytes)} GiB weights, gradients and AdamW states + ${gib(need.totalBytes - need.statesBytes)} GiB activations), ${gib(need.availableBytes)} GiB available`, {
          fix: `a smaller --batch-size or --seq-len, a GPU (--device cuda), a machine with more memory, or a saved measurement re-planned (--measurement m.json)${peft.method === 'full' ? '; a frozen base (--method lora or qlora) needs far less' : ''}`,
          exitCode: 1,
        });
    } else if (onCpu) guardHostMemory(args.model, 'cpu', cfg, batch.microBatch, longest, args.dtype, peft);
    const what = isDecoderConfig(cfg) ? `${args.model} (${cfg.modelType}, ${cfg.task}, ${args.dtype}` : `${args.model} (${args.dtype}`;
    progress?.(`measuring ${what}, batch ${batch.microBatch} × ${seq.sampleLens.length > 1 && args.seqLen === undefined ? `${Math.min(...seq.sampleLens)}–${Math.max(...seq.sampleLens)}` : seq.seqLen} tokens): ${args.warmupSteps} warm-up + at least ${args.steps} timed steps and ${args.minTime} s of them, taken one at a time as \`ftplan run\` takes them…`);
    if (peft.method !== 'full' || peft.gradientCheckpointing) progress?.(`training: ${describePeft(peft, cfg)}`);
    const addon = loadNative();
    const spec = {
      name: args.model,
      model: cfg,
      batch,
      dtype: args.dtype,
      device: resolveDevice(args.device, addon),
      threads: args.threads ?? defaultThreads(availableParallelism()),
      seed: args.seed,
      seq,
      memoryWarmupSteps: Math.max(1, args.warmupSteps), // at the longest length: the peak memory
      warmupSteps: args.warmupSteps,
      steps: args.steps,
      minMs: args.minTime * 1000,
      evalBatchSize: args.evalBatchSize,
      evalSteps: 2,
      activationSeqLen: seq.probeSeqLen,
      peft: nativePeft(peft),
    };
    if (proxy.proxy) {
      progress?.(`measuring a proxy: ${proxy.reason}`);
      m = await measureProxy(spec, addon, progress);
      const summary = (m as { proxy?: { summary: string } }).proxy?.summary ?? 'proxy measured';
      progress?.(summary);
      notes.push(`${summary}: ${proxy.reason}`);
    } else m = { ...(await measure(spec, addon)), kind: 'full' };
    // what trains, kept with the measurement (a re-plan from it plans the same method); a proxy's
    // memory parts are its reduced depth's, not the model's: the count then comes from the shapes
    if (proxy.proxy) m = { ...m, memoryBreakdown: undefined };
    const measuredTrainable = (m.memoryBreakdown as MemoryBreakdown | undefined)?.trainableParameters;
    const record = peftRecord(peft, cfg);
    const counts = measuredTrainable !== undefined && measuredTrainable >= 0 ? { trainable: measuredTrainable, total: m.parameters } : undefined;
    training = { ...record, ...(counts ? { trainableParameters: counts.trainable } : {}), description: describePeft(peft, cfg, counts) };
    m = { ...m, training };
  }
  // The batch the numbers below are for: the measurement's, one process.
  const batch = batchPlan(m.batchSize, m.gradAccum);
  // What earlier runs on this device and model measured against their estimates (ftplan run),
  // applied by one rule to the projection here and to the plan's rows (calibration.ts).
  const task = modelTask(cfg);
  const cal = readCalibration(calibrationKey(m.deviceName, calibrationModel(calibrationName(m.model, training), task), m.dtype));
  const applied = cal ? { ratio: cal.ratio, runs: cal.runs } : null;
  const gpus = loadGpus();
  // --exact: the given micro-batch, accumulation, GPUs and checkpointing, priced as they are.
  const margs = methodArgs(args, cfg);
  const exactGpus = args.exact ? (args.gpus ?? 1) : undefined;
  const exact = args.exact ? { microBatch: batch.microBatch, gradAccum: batch.gradAccum, checkpointing: margs.gradientCheckpointing ?? false } : null;
  const { plan: thePlan } = planByMethod({
    measurement: { ...m, nLayer: layersOf(cfg), parameterTensors: parameterTensorsOf(cfg), kernelsPerLayer: kernelsPerLayerOf(cfg) },
    model: cfg,
    activation: m.activation,
    rows: filterRows(priceRows, { ...args, gpus: exactGpus ?? args.gpus }),
    gpus,
    trainRows: seq.trainRows,
    evalRows: seq.evalRows,
    trainTokensPerEpoch: seq.trainEpoch.tokens,
    evalTokensPerEpoch: seq.evalEpoch?.tokens ?? 0,
    meanSeqLen: seq.trainEpoch.meanPaddedLength,
    batchSize: effectiveBatch(batch) * (exactGpus ?? 1),
    epochs: args.epochs,
    objective: args.objective,
    budget: args.budget,
    deadline: args.deadline,
    spot: args.spot,
    maxAgeDays: args.maxAgeDays,
    now,
    scaling: scalingModel(loadScalingCalibration()),
    calibration: applied,
  }, { args: margs, measurement: m, bands: loadErrorBands(), exact });
  thePlan.notes.push(...notes);
  withTraining(thePlan, training);
  const projection = project({
    trainRows: seq.trainRows,
    evalRows: seq.evalRows,
    epochs: thePlan.epochs,
    batchSize: batch.microBatch,
    gradAccum: batch.gradAccum,
    trainTokensPerEpoch: seq.trainEpoch.tokens,
    evalTokensPerEpoch: seq.evalEpoch?.tokens ?? 0,
    trainTokensPerSec: calibrate(m, applied).tokensPerSec,
    evalTokensPerSec: m.evalTokensPerSec,
    batching: seq.policy,
  });
  const warnings: string[] = [];
  if (m.blas.slow)
    warnings.push('LibTorch is using the reference BLAS (~30x slower on CPU): `sudo apt-get install libopenblas0-openmp` and measure again');
  if (m.device === 'cpu' && Math.max(m.host.loadBefore, m.host.loadAfter) > m.host.cpus * 0.5 + m.threads)
    warnings.push(`the host was busy (load ${m.host.loadAfter.toFixed(2)} on ${m.host.cpus} CPUs): step times may be inflated`);
  if (m.losses.some((l) => !Number.isFinite(l))) warnings.push('a measured step produced a non-finite loss');
  return {
    schema: 'ftplan.estimate/1',
    model: m.model,
    family: modelFamily(cfg),
    task,
    flopsPerToken: m.flopsPerToken,
    parameters: m.parameters,
    method: training.method,
    lora: training.lora,
    gradientCheckpointing: training.gradientCheckpointing,
    trainableParameters: training.trainableParameters,
    training,
    memoryBreakdown: (m.memoryBreakdown as MemoryBreakdown | undefined) ?? null,
    device: m.device,
    dtype: m.dtype,
    batchSize: m.batchSize,
    gradAccum: m.gradAccum,
    seqLen: m.seqLen,
    seqLenBasis: seq.basis,
    batching: seq.policy,
    epochs: thePlan.epochs,
    dataset: { name: lengths.name, trainRows: seq.trainRows, evalRows: seq.evalRows, source: lengths.source, ...(task === 'causal-lm' ? { format: lengths.format, tokenizer: lengths.tokenizer, targetsPerRow: lengths.splits.train.targets?.mean ?? null } : {}) },
    measurement: m,
    libtorch: { ...m.libtorch, blas: m.blas.kind },
    projection,
    plan: thePlan,
    checkpoint,
    calibration: cal ? { used: true, ratio: cal.ratio, runs: cal.runs, observedRatio: cal.observedRatio, min: cal.min, max: cal.max, spreadPct: calibrationSpreadPct(cal), file: calibrationFile() } : { used: false },
    warnings,
  };
}

/** Each plan row of the measured method also carries its LoRA settings and trainable count (the planner's own fields are kept). */
function withTraining(p: EstimateResult['plan'], t: PeftRecord): void {
  const fields = { method: t.method, lora: t.lora, gradientCheckpointing: t.gradientCheckpointing, trainableParameters: t.trainableParameters };
  const tag = <R extends { method?: string }>(r: R): R => (r.method === undefined || r.method === t.method ? { ...fields, ...r } : r);
  p.rows = p.rows.map(tag);
  if (p.recommended) p.recommended = tag(p.recommended);
}

export async function runEstimate(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseEstimateArgs(raw);
  const result = await estimate(args, args.json ? undefined : (s) => process.stderr.write(`${s}\n`));
  if (!Number.isFinite(result.projection.hours)) throw new FtplanError('ERR_NATIVE', 'the measurement gave no usable step time');
  for (const file of args.report ?? []) {
    writeFileAtomic(file, file.toLowerCase().endsWith('.html') ? renderHtml(result) : renderMarkdown(result));
    if (!args.json) process.stderr.write(`wrote ${file}\n`);
  }
  out(args.json ? `${JSON.stringify(result, null, 2)}\n` : `${renderEstimate(result, args.top)}\n`);
}
