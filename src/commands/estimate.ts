/**
 * estimate.ts — `ftplan estimate`: measure real training steps of the model on this machine, then
 * project the fine-tune's wall time from that measured throughput.
 */
import { readFileSync } from 'node:fs';
import { calibrate, calibrationFile, calibrationKey, calibrationSpreadPct, readCalibration } from '../calibration.js';
import { availableParallelism, freemem, loadavg } from 'node:os';
import { batchLengthSample, epochTokens, lengthsFromHistogram, type Batching } from '../data/batching.js';
import { loadProfile, type DatasetProfile } from '../data/profile.js';
import { FtplanError, fromNative, usageError } from '../errors.js';
import { fitStepTime, median, MeasurementSchema, stepMsAt, type Measurement, type StepTimeModel } from '../measurement.js';
import { writeFileAtomic } from '../util/fs.js';
import { filterRows, loadCatalog, loadGpus } from '../pricing/catalog.js';
import { scalingModel } from '../planner/scaling.js';
import { loadScalingCalibration } from '../pricing/scaling.js';
import { hostMemoryNeed, parameterCount } from '../planner/memory.js';
import { availableHostMemory } from '../util/host.js';
import { epochsRule, plan, type Plan } from '../planner/recommend.js';
import { renderHtml, renderMarkdown } from '../report/documents.js';
import { modelShape } from '../model/open.js';
import { findWeights, preflightCheckpoint } from '../model/preflight.js';
import type { ModelConfig } from '../model/presets.js';
import { detectBlas, libtorchRecord, loadNative, type NativeAddon, type NativeBatch } from '../native.js';
import { microSeed } from '../train/distributed.js';
import { performance } from 'node:perf_hooks';
import { project, type Projection } from '../planner/projection.js';
import { renderEstimate } from '../report/table.js';
import { ESTIMATE_OPTIONS, EstimateArgsSchema, parseArgs, type EstimateArgs } from './options.js';
import { buildProfile } from './profile.js';

export interface EstimateResult {
  schema: 'ftplan.estimate/1';
  model: string;
  device: string;
  dtype: string;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  seqLenBasis: string;
  batching: string;
  epochs: number;
  dataset: { name: string; trainRows: number; evalRows: number; source: string };
  measurement: Measurement;
  libtorch: Measurement['libtorch'] & { blas: string };
  projection: Projection;
  plan: Plan;
  /** the --model folder's weights, checked from their headers (null: a preset, or --measurement) */
  checkpoint: CheckpointSummary | null;
  /** whether the local projection was corrected by earlier runs' actuals (ftplan run) */
  /** ratio: the factor applied to the measured throughput (the runs' observed ratio shrunk toward 1, calibration.ts) */
  calibration: { used: true; ratio: number; runs: number; observedRatio: number; min: number; max: number; spreadPct: number | null; file: string } | { used: false };
  warnings: string[];
}

export type CheckpointSummary =
  | { dir: string; weights: 'checked'; layout: 'single' | 'sharded'; files: string[]; tensors: number; tensorBytes: number; dtypes: string[]; initialised: string[]; note: string }
  | { dir: string; weights: 'absent'; other: string | null; note: string };

/**
 * A model folder's weights checked from their headers (preflight.ts), so a broken or partial
 * download fails here, on the laptop, not on a rented GPU; a folder with config.json only is fine
 * for an estimate (throughput depends on the shape) and is reported as such.
 */
export function checkModelFolder(dir: string, cfg: ModelConfig): CheckpointSummary {
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

/** Where the measured sequence length comes from: --seq-len, or the profile under the batching policy. */
export function planSequence(args: EstimateArgs, cfg: ModelConfig, profile: DatasetProfile) {
  const train = profile.splits.train;
  const evalSplit = profile.splits.test;
  if (args.seqLen !== undefined && args.seqLen > cfg.nPositions) {
    throw usageError(`--seq-len ${args.seqLen} exceeds ${args.model}'s ${cfg.nPositions} positions`, `use --seq-len ${cfg.nPositions} or less`);
  }
  const maxLen = args.seqLen ?? cfg.nPositions;
  const trainLengths = lengthsFromHistogram(train.tokens.histogram, maxLen);
  const evalLengths = evalSplit ? lengthsFromHistogram(evalSplit.tokens.histogram, maxLen) : [];
  const policy = args.seqLen !== undefined ? 'fixed' : args.batching;
  const trainEpoch = epochTokens(trainLengths, args.batchSize, policy, { fixedLength: args.seqLen, seed: args.seed });
  const evalEpoch =
    evalLengths.length && args.evalBatchSize > 0
      ? epochTokens(evalLengths, args.evalBatchSize, policy === 'fixed' ? 'fixed' : 'longest', { fixedLength: args.seqLen, seed: args.seed })
      : null;
  const seqLen = args.seqLen ?? Math.min(cfg.nPositions, Math.max(1, Math.round(trainEpoch.meanPaddedLength)));
  // The timed steps cycle through a sample of the epoch's real padded batch lengths: first one length
  // per --steps stratum, then (for the steps --min-time adds) 64 more quantiles in shuffled order, so
  // that a long measurement sees as many distinct shapes as the run does — cycling a handful of
  // shapes measured ~10% faster per token than a run's ever-changing ones (bench/RESULTS.md, issue 5).
  const sampleLens = lengthSchedule(trainLengths, args.batchSize, policy, Math.max(1, args.steps), { fixedLength: args.seqLen, seed: args.seed });
  const basis =
    args.seqLen !== undefined
      ? `--seq-len, every row padded to ${args.seqLen}`
      : `timed on a sample of the data's padded batch lengths under batching=${policy} (${Math.min(...sampleLens)}–${Math.max(...sampleLens)}); ${seqLen} is the mean per batch of ${args.batchSize}`;
  // OOM comes late in a run, on the longest batch: memory is probed at the longest row.
  const probeSeqLen = Math.min(maxLen, Math.max(train.tokens.max, evalSplit?.tokens.max ?? 0));
  return { policy, trainEpoch, evalEpoch, seqLen, meanLen: args.seqLen ?? trainEpoch.meanPaddedLength, sampleLens, probeSeqLen, basis, trainRows: train.rows, evalRows: evalSplit?.rows ?? 0 };
}

/** Whether --device auto would pick a GPU (asks the addon only when it loads). */
function cudaVisible(): boolean {
  try {
    return loadNative().runtimeInfo().cudaAvailable;
  } catch {
    return false;
  }
}

export function resolveDevice(spec: string, addon: NativeAddon): string {
  const info = addon.runtimeInfo();
  if (spec === 'auto') return info.cudaAvailable ? 'cuda:0' : 'cpu';
  const want = spec === 'cuda' ? 'cuda:0' : spec;
  if (!info.devices.includes(want)) {
    const why = !info.cudaCompiled
      ? `this ftplan was built against a CPU-only libtorch (${info.torchVersion})`
      : 'no such CUDA device is visible';
    throw usageError(`--device ${spec} is not available: ${why}`, `use one of: ${info.devices.join(', ')} (or --device auto)`);
  }
  return want;
}

export async function measure(
  args: EstimateArgs,
  cfg: ModelConfig,
  seq: { seqLen: number; meanLen: number; sampleLens: number[]; probeSeqLen: number },
  addon: NativeAddon = loadNative(),
): Promise<Measurement> {
  const device = resolveDevice(args.device, addon);
  const info = addon.runtimeInfo();
  const threads = args.threads ?? availableParallelism();
  const loadBefore = loadavg()[0] ?? 0;
  let r;
  try {
    r = await addon.benchmark({
      model: cfg,
      batchSize: args.batchSize,
      seqLen: seq.seqLen,
      seqLens: seq.sampleLens,
      gradAccum: args.gradAccum,
      warmupSteps: Math.max(1, args.warmupSteps), // at the longest length: the peak memory
      steps: 1,
      minTimedMs: 0,
      evalBatchSize: args.evalBatchSize,
      evalSteps: args.evalBatchSize > 0 ? 2 : 0,
      dtype: args.dtype,
      device,
      threads,
      seed: args.seed,
    });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_OUT_OF_MEMORY') throw await outOfMemory(args, cfg, Math.max(seq.seqLen, ...seq.sampleLens), device, threads, addon, e);
    throw fromNative(e, `measuring ${args.model} on ${device}`);
  }
  // Activation memory per row at the data set's longest row, for the memory fit on each GPU.
  let probe;
  try {
    probe = await addon.probeActivations({ model: cfg, seqLen: seq.probeSeqLen, dtype: args.dtype, device, threads, seed: args.seed });
  } catch (e) {
    throw fromNative(e, `probing activation memory of ${args.model} on ${device}`);
  }
  // Step time: the run's own path, one awaited step at a time (timeRunSteps).
  let steps;
  try {
    steps = await timeRunSteps(addon, { model: cfg, batchSize: args.batchSize, gradAccum: args.gradAccum, dtype: args.dtype, device, threads, seed: args.seed, warmupSteps: args.warmupSteps, steps: args.steps, minMs: args.minTime * 1000, lens: seq.sampleLens });
  } catch (e) {
    throw fromNative(e, `timing training steps of ${args.model} on ${device}`);
  }
  const loadAfter = loadavg()[0] ?? 0;
  const samplesPerStep = args.batchSize * args.gradAccum;
  const timing = stepTiming({ ...steps, samplesPerStep }, seq.meanLen);
  const { stepMs, tokensPerSec } = timing;
  const evalStepMs = r.evalMs.length ? median(r.evalMs) : null;
  const record = libtorchRecord();
  return {
    schema: 'ftplan.measurement/1',
    model: args.model,
    modelConfig: cfg,
    device: r.device,
    deviceName: r.deviceName,
    deviceMemoryBytes: r.deviceMemoryBytes,
    dtype: args.dtype,
    batchSize: args.batchSize,
    gradAccum: args.gradAccum,
    seqLen: seq.seqLen,
    threads: r.threads,
    warmupSteps: args.warmupSteps,
    steps: steps.stepMs.length,
    stepMs,
    stepMsMin: Math.min(...steps.stepMs),
    stepMsMax: Math.max(...steps.stepMs),
    stepMsAll: steps.stepMs,
    stepSeqLens: steps.stepSeqLens,
    stepModel: timing.model,
    tokensPerStep: timing.tokensPerStep,
    tokensPerSec,
    samplesPerSec: (samplesPerStep / stepMs) * 1000,
    evalBatchSize: args.evalBatchSize,
    evalStepMs,
    evalTokensPerSec: evalStepMs ? ((args.evalBatchSize * seq.seqLen) / evalStepMs) * 1000 : null,
    peakMemoryBytes: r.peakMemoryBytes,
    peakMemorySource: r.peakMemorySource,
    staticMemoryBytes: r.staticMemoryBytes,
    rssPeakBytes: r.device === 'cpu' && r.rssPeakBytes > 0 ? r.rssPeakBytes : null,
    parameters: r.parameters,
    matmulParameters: r.matmulParameters,
    flopsPerToken: r.flopsPerToken,
    achievedFlops: r.flopsPerToken * tokensPerSec,
    losses: steps.losses,
    setupMs: r.setupMs,
    activation: {
      seqLen: seq.probeSeqLen,
      perSamplePerLayer: probe.perSamplePerLayer,
      perSampleBase: probe.perSampleBase,
      measuredOn: `${r.device} (${r.deviceName})`,
      dtype: args.dtype,
    },
    libtorch: { version: info.torchVersion, cuda: info.cudaCompiled, source: record?.source ?? null, hasSdpa: info.hasSdpa },
    blas: detectBlas(),
    host: { cpus: availableParallelism(), loadBefore, loadAfter },
    measuredAt: new Date().toISOString(),
  };
}

/** Batch sizes to try after an out-of-memory at `batch`, largest first: halving down to 1. */
export function stepDownSizes(batch: number): number[] {
  const out: number[] = [];
  for (let b = Math.floor(batch / 2); b >= 1; b = Math.floor(b / 2)) out.push(b);
  return out;
}

/**
 * The measurement ran out of memory at --batch-size: find the largest batch that fits with the
 * native probe (one step at batch 1, then halving sizes, largest first; each out-of-memory frees
 * the cache and steps down) and report it with the flags to use.
 */
async function outOfMemory(args: EstimateArgs, cfg: ModelConfig, seqLen: number, device: string, threads: number, addon: NativeAddon, cause: unknown): Promise<FtplanError> {
  const sizes = stepDownSizes(args.batchSize).filter((b) => b > 1);
  let fits = 0;
  const failed = [args.batchSize];
  try {
    const r = await addon.benchmark({ model: cfg, batchSize: 1, seqLen, gradAccum: 1, warmupSteps: 0, steps: 1, evalBatchSize: 0, evalSteps: 0, dtype: args.dtype, device, threads, seed: args.seed, probeBatchSizes: sizes, probeSeqLen: seqLen, probeStopAtFit: true });
    fits = r.probe.find((p) => !p.outOfMemory)?.batchSize ?? 1;
    failed.push(...r.probe.filter((p) => p.outOfMemory).map((p) => p.batchSize));
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_OUT_OF_MEMORY') throw fromNative(e, `probing the largest batch of ${args.model} that fits on ${device}`);
    failed.push(1);
  }
  const at = `${args.model} (${args.dtype}, ${seqLen} tokens per row) ran out of memory on ${device} at batch ${failed.join(', ')}`;
  if (!fits) {
    return new FtplanError('ERR_OUT_OF_MEMORY', `${at}: not even batch 1 fits`, { fix: 'pick a smaller --model or --seq-len, use --dtype bf16, or measure on a machine with more memory', exitCode: 1, cause });
  }
  const accum = Math.ceil((args.batchSize * args.gradAccum) / fits);
  return new FtplanError('ERR_OUT_OF_MEMORY', `${at}; the largest batch that fits is ${fits}`, {
    fix: `use --batch-size ${fits} --grad-accum ${accum} (the same effective batch of ${args.batchSize * args.gradAccum}${fits * accum !== args.batchSize * args.gradAccum ? `, rounded up to ${fits * accum}` : ''})`,
    exitCode: 1,
    cause,
  });
}

/** Lengths per timed step: one per stratum for the first `k` steps, then SHAPES_SAMPLE more quantiles, shuffled. */
export const SHAPES_SAMPLE = 64;
export function lengthSchedule(lengths: readonly number[], batchSize: number, policy: Batching, k: number, opts: { fixedLength?: number; seed?: number } = {}): number[] {
  const first = batchLengthSample(lengths, batchSize, policy, k, opts);
  if (policy === 'fixed') return first;
  return [...first, ...batchLengthSample(lengths, batchSize, policy, SHAPES_SAMPLE, { ...opts, seed: (opts.seed ?? 42) + 1 })];
}

/**
 * Fast models get more timed steps until they add up to --min-time, up to this many (a bound on the
 * JSON's per-step arrays: at 2 ms a step, 10 s). A cap of 200 used to stop `tiny` after ~2.6 s of
 * steps, too short to average this VM's speed swings (bench/RESULTS.md, issue 5).
 */
export const MAX_TIMED_STEPS = 5000;

/**
 * Times training steps the way `ftplan run` takes them: one awaited Session.step per optimizer step
 * from JS, with a fresh batch, setLr and per-micro-batch seeds before each, at the sampled padded
 * lengths (`lens`, cycled) — at least `steps` steps and `minMs` of them, at most MAX_TIMED_STEPS —
 * after `warmupSteps` at the longest length. Side by side in one process, the native benchmark's
 * own loop (no JS between steps) ran `tiny` steps 5–7% faster (~1 ms a step on this VM) than the
 * same steps driven from JS (`node bench/loop-overhead.mjs`), so the estimate times the run's path.
 * Batches are synthetic (uniform token ids, every row full), as throughput does not depend on them.
 */
export async function timeRunSteps(
  addon: NativeAddon,
  o: { model: ModelConfig; batchSize: number; gradAccum: number; dtype: EstimateArgs['dtype']; device: string; threads: number; seed: number; warmupSteps: number; steps: number; minMs: number; lens: readonly number[] },
): Promise<{ stepMs: number[]; stepSeqLens: number[]; losses: number[] }> {
  const session = new addon.Session({ model: o.model, threads: o.threads, seed: o.seed, dtype: o.dtype, device: o.device });
  await session.init();
  let state = (o.seed ^ 0x5bd1e995) >>> 0;
  const rnd = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296;
  const micro = (T: number): NativeBatch[] =>
    Array.from({ length: o.gradAccum }, () => ({
      batchSize: o.batchSize,
      seqLen: T,
      inputIds: Int32Array.from({ length: o.batchSize * T }, () => Math.floor(rnd() * o.model.vocabSize)),
      lengths: new Int32Array(o.batchSize).fill(T),
      labels: Int32Array.from({ length: o.batchSize }, () => Math.floor(rnd() * o.model.numLabels)),
    }));
  const seeds = (step: number) => Array.from({ length: o.gradAccum }, (_, j) => microSeed(o.seed, step, j));
  const longest = Math.max(...o.lens);
  const losses: number[] = [];
  for (let i = 0; i < o.warmupSteps; i++) losses.push((await session.step(micro(longest), { seeds: seeds(i) })).loss);
  const stepMs: number[] = [];
  const stepSeqLens: number[] = [];
  let timed = 0;
  for (let i = 0; i < Math.max(o.steps, MAX_TIMED_STEPS); i++) {
    if (i >= o.steps && timed >= o.minMs) break;
    const T = o.lens[i % o.lens.length] as number;
    const batch = micro(T);
    session.setLr(5e-5);
    const t0 = performance.now();
    const r = await session.step(batch, { seeds: seeds(o.warmupSteps + i) });
    const ms = performance.now() - t0;
    timed += ms;
    stepMs.push(ms);
    stepSeqLens.push(T);
    losses.push(r.loss);
  }
  return { stepMs, stepSeqLens, losses };
}

/**
 * The mean step of an epoch from timed steps of several padded lengths: fitStepTime's line (Theil–Sen
 * slope, level through the mean step), read at the epoch's mean padded length. Step time is affine
 * in the length to within the attention's T² share, so the line at the mean length is the mean step,
 * and the mean step times the steps is the run's training time.
 */
export function stepTiming(r: { stepMs: number[]; stepSeqLens: number[]; samplesPerStep: number }, meanLen: number): { stepMs: number; tokensPerStep: number; tokensPerSec: number; model: StepTimeModel } {
  const model = fitStepTime(r.stepSeqLens, r.stepMs);
  const stepMs = stepMsAt(model, meanLen);
  const tokensPerStep = r.samplesPerStep * meanLen;
  return { stepMs, tokensPerStep, tokensPerSec: (tokensPerStep / stepMs) * 1000, model };
}

/** The data set's profile: computed from --dataset, else the shipped one of the reference data set. */
export async function datasetProfile(args: EstimateArgs): Promise<{ profile: DatasetProfile; source: string }> {
  if (!args.dataset) return { profile: loadProfile(), source: 'shipped token-length profile' };
  const profile = await buildProfile({ ...args, dataset: args.dataset, tokenizer: undefined });
  return { profile, source: `profiled now from ${args.dataset}` };
}

/** A saved `estimate --json` (or its `measurement`), for re-planning without LibTorch. */
export function readMeasurement(file: string): Measurement {
  return readEstimate(file).measurement;
}

/**
 * A saved `estimate --json`: its measurement, and the calibration it applied to its projection
 * (null: none, or the file is a bare measurement). One read of the file.
 */
export function readEstimate(file: string): { measurement: Measurement; calibration: { ratio: number; runs: number } | null } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: not a readable JSON measurement (${(e as Error).message})`, { fix: 'pass a file written by `ftplan estimate --json > m.json`' });
  }
  const m = (raw as { measurement?: unknown }).measurement ?? raw;
  const parsed = MeasurementSchema.safeParse(m);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new FtplanError('ERR_INPUT', `${file}: not an ftplan measurement (${i?.path.join('.')}: ${i?.message})`, { fix: 'pass a file written by `ftplan estimate --json > m.json`' });
  }
  // The calibration the estimate applied: the run is compared with what the user was told, so a
  // damaged one is an error, not a silent "none" (which would move the reported error).
  const c = (raw as { calibration?: unknown }).calibration;
  let calibration: { ratio: number; runs: number } | null = null;
  if (c !== undefined && (raw as { measurement?: unknown }).measurement !== undefined) {
    const cal = c as { used?: unknown; ratio?: unknown; runs?: unknown };
    const ok =
      c !== null && typeof c === 'object' && (cal.used === false ||
        (cal.used === true && typeof cal.ratio === 'number' && Number.isFinite(cal.ratio) && cal.ratio > 0 && typeof cal.runs === 'number' && Number.isInteger(cal.runs) && cal.runs >= 1));
    if (!ok)
      throw new FtplanError('ERR_INPUT', `${file}: its "calibration" is damaged (want {"used": false} or {"used": true, "ratio": > 0, "runs": ≥ 1}, got ${JSON.stringify(c)?.slice(0, 80)})`, {
        fix: 'pass the file `ftplan estimate --json` wrote, unedited, or estimate again',
      });
    if (cal.used === true) calibration = { ratio: cal.ratio as number, runs: cal.runs as number };
  }
  return { measurement: parsed.data as unknown as Measurement, calibration };
}

export async function estimate(args: EstimateArgs, given?: { profile: DatasetProfile; source: string }, progress?: (line: string) => void, now = new Date()): Promise<EstimateResult> {
  const { profile, source } = given ?? (await datasetProfile(args));
  let m: Measurement;
  let cfg: ModelConfig;
  let seq: ReturnType<typeof planSequence>;
  let checkpoint: CheckpointSummary | null = null;
  const { rows: priceRows } = loadCatalog({ catalogs: args.catalog }); // bad price tables fail before any measuring
  if (args.measurement) {
    m = readMeasurement(args.measurement);
    cfg = { ...m.modelConfig, numLabels: profile.labels.length };
    seq = planSequence({ ...args, batchSize: m.batchSize, seqLen: args.seqLen }, cfg, profile);
    progress?.(`re-planning from ${args.measurement} (measured ${m.measuredAt} on ${m.device}: ${m.deviceName})`);
  } else {
    // Throughput depends on the shape, not on weight values: a folder's config.json is enough; its
    // weights, when there, are checked from their headers before anything is measured.
    const shape = await modelShape(args.model, profile.labels.length);
    cfg = shape.config;
    if (shape.source.kind === 'folder') {
      checkpoint = checkModelFolder(shape.source.dir, cfg);
      progress?.(checkpoint.weights === 'checked' ? `checked ${checkpoint.note}` : checkpoint.note);
    }
    seq = planSequence(args, cfg, profile);
    if (args.device === 'cpu' || (args.device === 'auto' && !cudaVisible())) guardHostMemory(args.model, 'cpu', cfg, args.batchSize, Math.max(seq.seqLen, ...seq.sampleLens, seq.probeSeqLen), args.dtype);
    progress?.(`measuring ${args.model} (${args.dtype}, batch ${args.batchSize} × ${seq.sampleLens.length > 1 && args.seqLen === undefined ? `${Math.min(...seq.sampleLens)}–${Math.max(...seq.sampleLens)}` : seq.seqLen} tokens): ${args.warmupSteps} warm-up + at least ${args.steps} timed steps and ${args.minTime} s of them, taken one at a time as \`ftplan run\` takes them…`);
    m = await measure(args, cfg, seq);
  }
  // What earlier runs on this device and model measured against their estimates (ftplan run),
  // applied by one rule to the projection here and to the plan's rows (calibration.ts).
  const cal = readCalibration(calibrationKey(m.deviceName, m.model, m.dtype));
  const applied = cal ? { ratio: cal.ratio, runs: cal.runs } : null;
  const epochs = args.epochs ?? epochsRule(seq.trainRows).epochs;
  const gpus = loadGpus();
  const thePlan = plan({
    measurement: { ...m, nLayer: cfg.nLayer },
    model: cfg,
    activation: m.activation,
    rows: filterRows(priceRows, args),
    gpus,
    trainRows: seq.trainRows,
    evalRows: seq.evalRows,
    trainTokensPerEpoch: seq.trainEpoch.tokens,
    evalTokensPerEpoch: seq.evalEpoch?.tokens ?? 0,
    meanSeqLen: seq.trainEpoch.meanPaddedLength,
    batchSize: args.batchSize * args.gradAccum,
    epochs: args.epochs,
    objective: args.objective,
    budget: args.budget,
    deadline: args.deadline,
    spot: args.spot,
    maxAgeDays: args.maxAgeDays,
    now,
    scaling: scalingModel(loadScalingCalibration()),
    calibration: applied,
  });
  const projection = project({
    trainRows: seq.trainRows,
    evalRows: seq.evalRows,
    epochs: thePlan.epochs ?? epochs,
    batchSize: m.batchSize,
    gradAccum: m.gradAccum,
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
    device: m.device,
    dtype: m.dtype,
    batchSize: m.batchSize,
    gradAccum: m.gradAccum,
    seqLen: m.seqLen,
    seqLenBasis: seq.basis,
    batching: seq.policy,
    epochs: thePlan.epochs,
    dataset: { name: profile.name, trainRows: seq.trainRows, evalRows: seq.evalRows, source },
    measurement: m,
    libtorch: { ...m.libtorch, blas: m.blas.kind },
    projection,
    plan: thePlan,
    checkpoint,
    calibration: cal ? { used: true, ratio: cal.ratio, runs: cal.runs, observedRatio: cal.observedRatio, min: cal.min, max: cal.max, spreadPct: calibrationSpreadPct(cal), file: calibrationFile() } : { used: false },
    warnings,
  };
}

/**
 * On CPU, refuse before allocating when training would not fit this machine's memory: weights,
 * gradients and AdamW states (16 B/param) plus one micro-batch's activations (estimated from the
 * shape), against the memory available now. FTPLAN_TEST_AVAILABLE_MEMORY fakes the latter in tests.
 */
export function guardHostMemory(name: string, device: string, cfg: ModelConfig, batch: number, seqLen: number, dtype: 'fp32' | 'bf16'): void {
  if (device !== 'cpu') return;
  const need = hostMemoryNeed(cfg, batch, seqLen, dtype, availableHostMemory(freemem));
  if (need.fits) return;
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  throw new FtplanError(
    'ERR_OUT_OF_MEMORY',
    `${name} at batch ${batch} × ${seqLen} tokens needs ${gib(need.totalBytes)} GiB (${gib(need.statesBytes)} GiB weights, gradients and AdamW states + ${gib(need.activationBytes)} GiB activations); this machine has ${gib(need.availableBytes)} GiB available`,
    {
      fix: 'lower --batch-size (raise --grad-accum to keep the effective batch) or --seq-len, pick a smaller --model, free memory, or measure on a GPU (--device cuda)',
      exitCode: 1,
    },
  );
}

export async function runEstimate(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseEstimateArgs(raw);
  const result = await estimate(args, undefined, args.json ? undefined : (s) => process.stderr.write(`${s}\n`));
  if (!Number.isFinite(result.projection.hours)) throw new FtplanError('ERR_NATIVE', 'the measurement gave no usable step time');
  for (const file of args.report ?? []) {
    writeFileAtomic(file, file.toLowerCase().endsWith('.html') ? renderHtml(result) : renderMarkdown(result));
    if (!args.json) process.stderr.write(`wrote ${file}\n`);
  }
  out(args.json ? `${JSON.stringify(result, null, 2)}\n` : `${renderEstimate(result, args.top)}\n`);
}
