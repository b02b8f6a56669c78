/**
 * measure.ts — the step costs a sweep's plan is made from: `ftplan estimate`'s own pipeline (the
 * data set profiled once, real steps measured at each batch shape the trials train at, the
 * planner's rows over the price tables), turned into seconds per optimizer step and per eval pass
 * here and on each instance. The estimates are kept: each trial's run is compared with its own.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { batchPlan, stepsPerEpoch } from '../batch-plan.js';
import { datasetLengths, estimate, type EstimateResult } from '../commands/estimate.js';
import { FtplanError } from '../errors.js';
import { camel, parseArgs } from '../flags/registry.js';
import { ESTIMATE_OPTIONS, EstimateArgsSchema } from '../flags/estimate.js';
import type { RunArgs } from '../flags/run.js';
import { SETUP_HOURS } from '../planner/recommend.js';
import { writeFileAtomic } from '../util/fs.js';
import type { SweepArgs } from '../flags/sweep.js';
import type { InstanceCost, PlanTrial, StepCost } from './plan.js';
import type { StoredTrial } from './state.js';

/** Trials that share a key share a measured step: the batch shape, and what trains (a LoRA rank changes the step). */
export const costKey = (r: Pick<RunArgs, 'batchSize' | 'gradAccum'> & Partial<Pick<RunArgs, 'method' | 'loraR' | 'gradientCheckpointing'>>) =>
  `b${r.batchSize}x${r.gradAccum}${r.method && r.method !== 'full' ? `-${r.method}${r.loraR !== undefined ? `-r${r.loraR}` : ''}` : ''}${r.gradientCheckpointing ? '-ckpt' : ''}`;

/** `ftplan estimate`'s arguments for one batch shape of the sweep: the run's model, data and precision, one epoch, the sweep's measurement and price filters. */
function estimateArgs(run: RunArgs, sweep: SweepArgs) {
  const raw: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(ESTIMATE_OPTIONS)) if ('default' in spec) raw[camel(name)] = spec.default;
  Object.assign(raw, {
    model: run.model,
    dataset: run.dataset,
    textColumn: run.textColumn,
    labelColumn: run.labelColumn,
    limit: run.limit,
    emptyText: run.emptyText,
    unknownLabels: run.unknownLabels,
    batchSize: run.batchSize,
    gradAccum: run.gradAccum,
    batching: run.batching,
    evalBatchSize: run.evalBatchSize,
    epochs: 1,
    device: run.device,
    dtype: run.dtype,
    threads: run.threads,
    seed: run.seed,
    // what trains: each trial's method and LoRA settings are measured as that trial trains
    method: run.method,
    loraR: run.loraR,
    loraAlpha: run.loraAlpha,
    loraDropout: run.loraDropout,
    loraTarget: run.loraTarget,
    baseDtype: run.baseDtype,
    doubleQuant: run.doubleQuant,
    unfreezeLast: run.unfreezeLast,
    gradientCheckpointing: run.gradientCheckpointing,
    steps: sweep.steps,
    minTime: sweep.minTime,
    cloud: sweep.cloud,
    region: sweep.region,
    gpu: sweep.gpu,
    gpus: sweep.gpus,
    spot: sweep.spot,
    catalog: sweep.catalog,
    json: true,
  });
  return parseArgs(EstimateArgsSchema, ESTIMATE_OPTIONS, raw, 'sweep');
}

export interface Measured {
  trials: StoredTrial[];
  here: Record<string, StepCost>;
  instances: InstanceCost[];
  /** a segment's start: the data set read and tokenized (timed while profiling it) */
  startupSeconds: number;
}

/** Seconds per step and per eval pass of an estimate (one epoch), here. */
function hereCost(e: EstimateResult, evalShare: number): StepCost {
  return { trainSeconds: (e.projection.trainHours * 3600) / e.projection.totalSteps, evalSeconds: e.projection.evalHours * 3600 * evalShare };
}

/**
 * Measures each batch shape of the trials once and prices the sweep's steps. `dir` null (a dry run):
 * the estimates are not written.
 */
export async function measureSweep(trials: { id: string; settings: StoredTrial['settings']; run: RunArgs }[], sweep: SweepArgs, dir: string | null, log: (s: string) => void): Promise<Measured> {
  const first = trials[0]!.run;
  const profileArgs = estimateArgs(first, sweep);
  // each trial's run reads and tokenizes the same rows before it trains: timed here, once
  const t0 = Date.now();
  const profile = await datasetLengths(profileArgs);
  const startupSeconds = (Date.now() - t0) / 1000;
  if (!profile.splits.test) {
    throw new FtplanError('ERR_INPUT', `--dataset ${first.dataset}: no test split to evaluate the trials on, so no rung can rank them`, { fix: 'give the data set a test split (a test.jsonl beside train.jsonl, or a hub data set with one)' });
  }
  const keys = [...new Map(trials.map((t) => [costKey(t.run), t.run])).entries()];
  const here: Record<string, StepCost> = {};
  const rowsByKey: Record<string, Map<string, { row: EstimateResult['plan']['rows'][number]; cost: StepCost }>> = {};
  const files: Record<string, string> = {};
  const estimates: Record<string, EstimateResult> = {};
  if (dir) mkdirSync(join(dir, 'plan'), { recursive: true });
  for (const [key, run] of keys) {
    log(`measuring ${run.model} at micro-batch ${run.batchSize} × ${run.gradAccum} accumulation (the estimate's pipeline)…`);
    const e = await estimate(estimateArgs(run, sweep), undefined, undefined, profile);
    if (!Number.isFinite(e.projection.hours) || e.projection.totalSteps < 1) throw new FtplanError('ERR_NATIVE', `measuring ${run.model} at micro-batch ${run.batchSize} gave no usable step time`);
    estimates[key] = e;
    const evalShare = run.evalLimit && e.dataset.evalRows ? Math.min(1, run.evalLimit / e.dataset.evalRows) : 1;
    here[key] = hereCost(e, evalShare);
    const rows = new Map<string, { row: EstimateResult['plan']['rows'][number]; cost: StepCost }>();
    for (const row of e.plan.rows) {
      if (!row.feasible || !(row.tokensPerSec > 0)) continue;
      // the planner's hours for one epoch: set-up + train (tokens ÷ the row's throughput) + eval
      const trainEpoch = e.projection.trainTokensPerEpoch / row.tokensPerSec;
      const evalEpoch = Math.max(0, (row.hours - SETUP_HOURS) * 3600 - trainEpoch);
      rows.set(`${row.cloud}|${row.instance}|${row.region}|${row.spot}`, { row, cost: { trainSeconds: trainEpoch / e.plan.stepsPerEpoch, evalSeconds: evalEpoch * evalShare } });
    }
    rowsByKey[key] = rows;
    if (dir) {
      files[key] = join(dir, 'plan', `estimate-${key}.json`);
      writeFileAtomic(files[key], `${JSON.stringify(e, null, 2)}\n`);
    }
  }
  // instances every batch shape fits
  const [k0, ...others] = Object.keys(rowsByKey);
  const instances: InstanceCost[] = [];
  for (const [id, { row }] of rowsByKey[k0!]!) {
    if (!others.every((k) => rowsByKey[k]!.has(id))) continue;
    instances.push({
      cloud: row.cloud,
      instance: row.instance,
      gpu: row.gpu,
      gpus: row.gpus,
      region: row.region,
      pricePerHour: row.pricePerHour,
      spot: row.spot,
      source: row.source,
      setupHours: SETUP_HOURS,
      costs: Object.fromEntries(Object.keys(rowsByKey).map((k) => [k, rowsByKey[k]!.get(id)!.cost])),
    });
  }
  const stored: StoredTrial[] = trials.map((t) => {
    const key = costKey(t.run);
    const e = estimates[key]!;
    const spe = stepsPerEpoch(batchPlan(t.run.batchSize, t.run.gradAccum), e.dataset.trainRows);
    const planned = spe * t.run.epochs;
    const p: PlanTrial = { id: t.id, stepsPerEpoch: spe, totalSteps: t.run.maxSteps ? Math.min(t.run.maxSteps, planned) : planned, costKey: key };
    return { ...p, settings: t.settings, estimate: files[key] ?? '' };
  });
  return { trials: stored, here, instances, startupSeconds };
}
