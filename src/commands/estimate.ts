/**
 * estimate.ts — `ftplan estimate`: measure real training steps of the model on this machine, then
 * project the fine-tune's wall time from that measured throughput.
 */
import { availableParallelism, loadavg } from 'node:os';
import { epochTokens, lengthsFromHistogram } from '../data/batching.js';
import { loadProfile, type DatasetProfile } from '../data/profile.js';
import { FtplanError, fromNative, usageError } from '../errors.js';
import { median, type Measurement } from '../measurement.js';
import { modelShape } from '../model/open.js';
import type { ModelConfig } from '../model/presets.js';
import { detectBlas, libtorchRecord, loadNative, type NativeAddon } from '../native.js';
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
  warnings: string[];
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
  const basis =
    args.seqLen !== undefined
      ? `--seq-len, every row padded to ${args.seqLen}`
      : `mean padded length per batch of ${args.batchSize} under batching=${policy}, from the data set's token lengths`;
  return { policy, trainEpoch, evalEpoch, seqLen, basis, trainRows: train.rows, evalRows: evalSplit?.rows ?? 0 };
}

function resolveDevice(spec: string, addon: NativeAddon): string {
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
  seq: { seqLen: number },
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
      gradAccum: args.gradAccum,
      warmupSteps: args.warmupSteps,
      steps: args.steps,
      evalBatchSize: args.evalBatchSize,
      evalSteps: args.evalBatchSize > 0 ? 2 : 0,
      dtype: args.dtype,
      device,
      threads,
      seed: args.seed,
    });
  } catch (e) {
    throw fromNative(e, `measuring ${args.model} on ${device}`);
  }
  const loadAfter = loadavg()[0] ?? 0;
  const stepMs = median(r.stepMs);
  const tokensPerSec = (r.tokensPerStep / stepMs) * 1000;
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
    steps: args.steps,
    stepMs,
    stepMsMin: Math.min(...r.stepMs),
    stepMsMax: Math.max(...r.stepMs),
    stepMsAll: r.stepMs,
    tokensPerStep: r.tokensPerStep,
    tokensPerSec,
    samplesPerSec: (r.samplesPerStep / stepMs) * 1000,
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
    losses: r.losses,
    setupMs: r.setupMs,
    libtorch: { version: info.torchVersion, cuda: info.cudaCompiled, source: record?.source ?? null, hasSdpa: info.hasSdpa },
    blas: detectBlas(),
    host: { cpus: availableParallelism(), loadBefore, loadAfter },
    measuredAt: new Date().toISOString(),
  };
}

/** The data set's profile: computed from --dataset, else the shipped one of the reference data set. */
export async function datasetProfile(args: EstimateArgs): Promise<{ profile: DatasetProfile; source: string }> {
  if (!args.dataset) return { profile: loadProfile(), source: 'shipped token-length profile' };
  const profile = await buildProfile({ ...args, dataset: args.dataset, tokenizer: undefined });
  return { profile, source: `profiled now from ${args.dataset}` };
}

export async function estimate(args: EstimateArgs, given?: { profile: DatasetProfile; source: string }, progress?: (line: string) => void): Promise<EstimateResult> {
  const { profile, source } = given ?? (await datasetProfile(args));
  // Throughput depends on the shape, not on weight values: a folder's config.json is enough.
  const cfg = modelShape(args.model, profile.labels.length).config;
  const seq = planSequence(args, cfg, profile);
  progress?.(`measuring ${args.model} (${args.dtype}, batch ${args.batchSize} × ${seq.seqLen} tokens): ${args.warmupSteps} warm-up + ${args.steps} timed steps…`);
  const m = await measure(args, cfg, seq);
  const projection = project({
    trainRows: seq.trainRows,
    evalRows: seq.evalRows,
    epochs: args.epochs,
    batchSize: args.batchSize,
    gradAccum: args.gradAccum,
    trainTokensPerEpoch: seq.trainEpoch.tokens,
    evalTokensPerEpoch: seq.evalEpoch?.tokens ?? 0,
    trainTokensPerSec: m.tokensPerSec,
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
    model: args.model,
    device: m.device,
    dtype: args.dtype,
    batchSize: args.batchSize,
    gradAccum: args.gradAccum,
    seqLen: seq.seqLen,
    seqLenBasis: seq.basis,
    batching: seq.policy,
    epochs: args.epochs,
    dataset: { name: profile.name, trainRows: seq.trainRows, evalRows: seq.evalRows, source },
    measurement: m,
    libtorch: { ...m.libtorch, blas: m.blas.kind },
    projection,
    warnings,
  };
}

export async function runEstimate(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseEstimateArgs(raw);
  const result = await estimate(args, undefined, args.json ? undefined : (s) => process.stderr.write(`${s}\n`));
  if (!Number.isFinite(result.projection.hours)) throw new FtplanError('ERR_NATIVE', 'the measurement gave no usable step time');
  out(args.json ? `${JSON.stringify(result, null, 2)}\n` : `${renderEstimate(result)}\n`);
}
