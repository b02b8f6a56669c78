/**
 * recommend.ts — SkyPilot's optimizer shape with a measured runtime: price rows × projected hours →
 * a cost map (plan rows), a separate pick, and the epoch arithmetic. Pure: no I/O, no native calls.
 */
import { batchPlan, microBatchesPerStep, stepsPerEpoch as epochSteps, type BatchPlan } from '../batch-plan.js';
import { calibrate, type AppliedCalibration } from './calibrate.js';
import type { PlannedModel } from './model-shape.js';
import { scalingModel, type ScalingModel } from './scaling.js';
import { effectivePrice, freshness, type GpuSpec, type PriceRow } from '../pricing/rows.js';
import { fitMicroBatch, type ActivationModel } from './memory.js';
import { instanceStep, type Basis, type LocalMeasurement } from './performance.js';
import type { MethodComparison } from './auto.js';
import type { RowBand } from './error-band.js';
import { memoryBreakdown, methodCountsFor, methodRow, type MethodPlanInput, type Sharding } from './method-plan.js';
import { describeMethod, type PlanMethod } from './method.js';
import { layersOf } from './model-shape.js';

/** Instance start, environment set-up and loading the model and data, billed like training. */
export const SETUP_HOURS = 0.1;
export const PILOT_FRACTION = 0.1;

/** Epochs when the user gives none: fewer passes over more data (HF's default 3 from 20k rows). */
export function epochsRule(trainRows: number): { epochs: number; rule: string } {
  const epochs = trainRows >= 20_000 ? 3 : trainRows >= 5_000 ? 4 : trainRows >= 1_000 ? 6 : 10;
  return { epochs, rule: 'epochs from data set size: ≥20k rows 3, ≥5k 4, ≥1k 6, fewer 10' };
}

export interface PlanInput {
  measurement: LocalMeasurement;
  /** GPT-2's record or a Llama-family decoder's: its parameters, layers and largest tensor (model-shape.ts) */
  model: PlannedModel;
  activation: ActivationModel;
  rows: PriceRow[];
  gpus: Record<string, GpuSpec>;
  trainRows: number;
  evalRows: number;
  /** padded tokens of one training epoch / one eval pass, and the mean padded row length */
  trainTokensPerEpoch: number;
  evalTokensPerEpoch: number;
  meanSeqLen: number;
  /** the effective batch: rows per optimizer step over all GPUs (each row splits it into its own BatchPlan) */
  batchSize: number;
  epochs?: number;
  objective: 'cost' | 'time';
  budget?: number;
  deadline?: number;
  spot: boolean;
  maxAgeDays: number;
  now: Date;
  /** the data-parallel model's constants and their sources (scaling.ts) */
  scaling?: ScalingModel;
  /** earlier runs' factor for this device and model (calibration.ts): applied by calibrate(), as to the projection */
  calibration?: AppliedCalibration | null;
  /** the method, its precision and activations, --exact's configuration and the error bands; absent: full fine-tuning by the measured memory fit (memory.ts) */
  method?: MethodPlanInput;
}

export interface PlanRow {
  cloud: string;
  instance: string;
  gpu: string;
  gpus: number;
  region: string;
  pricePerHour: number;
  spot: boolean;
  hours: number;
  costUsd: number;
  /** with gradAccum and gpus: this row's split of the effective batch (rowBatch); 0 when the model does not fit */
  microBatch: number;
  gradAccum: number;
  fits: boolean;
  basis: Basis | 'n/a';
  /** the calibration factor applied to this row's training throughput (1: none, or an analytic row, which takes no measured throughput) */
  calibration: number;
  efficiency: number;
  scalingEfficiency: number;
  /** the gradient all-reduce inside stepMs (0 on one GPU) */
  allReduceMs: number;
  /** the link the all-reduce runs over, and that its bandwidth is the published figure */
  interconnect: string;
  stepMs: number;
  tokensPerSec: number;
  peakMemoryGiB: number;
  /** per GPU, allocated at the step's peak (what torch reports) */
  peakMemoryBytes: number;
  gpuMemoryGiB: number;
  method: PlanMethod;
  gradientCheckpointing: boolean;
  /** none: data-parallel replicas; fsdp: the model only fits sharded over the instance's GPUs (launch refuses it) */
  sharding: Sharding;
  /** the published comparison's band for this row's basis (null: no bands) */
  errorBand: RowBand | null;
  feasible: boolean;
  reason: string;
  recommended: boolean;
  asOf: string | null;
  priceFreshness: 'fresh' | 'stale' | 'undated';
  source: string;
}

/**
 * A row's split of the effective batch: micro-batch × accumulation × its GPUs (null when the model
 * does not fit its GPU). Rows keep the three as flat fields: a plan has a thousand rows, and its
 * JSON stays small enough to pipe.
 */
export function rowBatch(row: Pick<PlanRow, 'fits' | 'microBatch' | 'gradAccum' | 'gpus'>): BatchPlan | null {
  return row.fits ? batchPlan(row.microBatch, row.gradAccum, row.gpus) : null;
}

export interface Plan {
  schema: 'ftplan.plan/1';
  objective: 'cost' | 'time';
  constraints: { budget: number | null; deadline: number | null; spot: boolean };
  epochs: number;
  epochsBasis: string;
  /** the effective batch priced: rows per optimizer step over all GPUs */
  batchSize: number;
  /** the pick's split of it (rowBatch of `recommended`): what `ftplan launch` hands `ftplan run` */
  batch: BatchPlan | null;
  stepsPerEpoch: number;
  rows: PlanRow[];
  recommended: PlanRow | null;
  pilot: { fraction: number; steps: number; hours: number; costUsd: number } | null;
  arithmetic: string[];
  notes: string[];
  /** how multi-GPU rows are scaled, and what is measured vs published vs assumed */
  scaling: ScalingModel;
  /** the calibration applied (the same factor as the projection's), and to which rows */
  calibration: (AppliedCalibration & { appliedTo: string }) | null;
  /** what trains and how it is held, and the pick's memory in parts (null: planned without a method, memory.ts's full fine-tuning fit) */
  method: PlanMethodSummary | null;
  /** --method auto: each method's pick and the trade-off (auto.ts); null otherwise */
  comparison: MethodComparison | null;
}

export interface PlanMethodSummary {
  spec: MethodPlanInput['spec'];
  description: string;
  totalParameters: number;
  trainableParameters: number;
  quantizedParameters: number;
  precision: MethodPlanInput['precision'];
  loss: MethodPlanInput['loss'];
  activation: MethodPlanInput['activation'];
  exact: boolean;
  /** the pick's (or, without one, the first fitting row's) memory per GPU */
  memory: ReturnType<typeof memoryBreakdown> | null;
}

function rowPlan(p: PlanInput, r: PriceRow, epochs: number) {
  const gpu = p.gpus[r.gpu] as GpuSpec;
  if (p.method) return methodRowPlan(p, p.method, r, epochs);
  const perGpuBatch = Math.ceil(p.batchSize / r.gpuCount);
  const fit = fitMicroBatch(p.model, p.activation, gpu.memoryGiB, perGpuBatch);
  const base = { fit, gpu };
  if (!fit.fits) return { ...base, step: null, calibration: 1, epochHours: Infinity, hours: Infinity };
  const step = instanceStep(calibrate(p.measurement, p.calibration ?? null), gpu, r.gpuCount, fit.microBatch * p.meanSeqLen, fit.gradAccum, p.gpus);
  const calibration = step.basis === 'analytic' ? 1 : (p.calibration?.ratio ?? 1);
  // eval runs at the measured eval:train ratio, the train side as this row's (calibrated) one
  const evalRatio = p.measurement.evalTokensPerSec ? p.measurement.evalTokensPerSec / (p.measurement.tokensPerSec * calibration) : 3;
  const trainHours = p.trainTokensPerEpoch / step.tokensPerSec / 3600;
  const evalHours = p.evalTokensPerEpoch / (step.tokensPerSec * evalRatio) / 3600;
  const epochHours = trainHours + evalHours;
  return { ...base, step, calibration, epochHours, hours: SETUP_HOURS + epochs * epochHours };
}

/** A row under a method (method-plan.ts), in the shape rowPlan returns. */
function methodRowPlan(p: PlanInput, mi: MethodPlanInput, r: PriceRow, epochs: number) {
  const gpu = p.gpus[r.gpu] as GpuSpec;
  const measurement = calibrate(p.measurement, p.calibration ?? null);
  const row = methodRow({ model: p.model, measurement, gpus: p.gpus, meanSeqLen: p.meanSeqLen, batchSize: p.batchSize }, mi, r);
  const f = row.fit;
  const fit = { fits: f.fits, microBatch: f.microBatch, gradAccum: f.gradAccum, peakBytes: f.memory.peakBytes, reason: f.reason };
  const extra = { gradientCheckpointing: f.gradientCheckpointing, sharding: row.sharding, band: row.band, method: mi.spec.method, memory: f.memory };
  if (!row.step) return { fit, gpu, extra, step: null, calibration: 1, epochHours: Infinity, hours: Infinity };
  const s = row.step;
  const step = { stepMs: s.stepMs, tokensPerSec: s.tokensPerSec, basis: s.basis, efficiency: s.efficiency, scalingEfficiency: s.scalingEfficiency, allReduceMs: s.commMs };
  const calibration = s.basis === 'analytic' ? 1 : (p.calibration?.ratio ?? 1);
  const evalRatio = p.measurement.evalTokensPerSec ? p.measurement.evalTokensPerSec / (p.measurement.tokensPerSec * calibration) : 3;
  const epochHours = p.trainTokensPerEpoch / step.tokensPerSec / 3600 + p.evalTokensPerEpoch / (step.tokensPerSec * evalRatio) / 3600;
  return { fit, gpu, extra, step, calibration, epochHours, hours: SETUP_HOURS + epochs * epochHours };
}

export function plan(p: PlanInput): Plan {
  const scaling = p.scaling ?? scalingModel(null);
  const known = p.rows.filter((r) => p.gpus[r.gpu]);
  const notes: string[] = [];
  const unknown = p.rows.length - known.length;
  if (unknown) notes.push(`${unknown} price rows name GPUs pricing/gpus.json has no data for; left out`);
  const rule = epochsRule(p.trainRows);
  let epochs = p.epochs ?? rule.epochs;
  let epochsBasis = p.epochs !== undefined ? '--epochs' : rule.rule;
  const evaluated = (n: number) => known.map((r) => ({ r, price: effectivePrice(r, p.spot), ...rowPlan(p, r, n) }));
  let rows = evaluated(epochs);
  if (p.epochs === undefined && p.budget !== undefined) {
    // cap the rule's epochs by what the budget buys on the cheapest fitting instance
    const cheapest = Math.min(...rows.filter((x) => x.fit.fits).map((x) => x.epochHours * x.price));
    const setup = Math.min(...rows.filter((x) => x.fit.fits).map((x) => SETUP_HOURS * x.price));
    const affordable = Math.floor((p.budget - setup) / cheapest);
    if (Number.isFinite(affordable) && affordable >= 1 && affordable < epochs) {
      epochs = affordable;
      epochsBasis = `${rule.rule}: ${rule.epochs} → ${affordable} to stay within the $${p.budget} budget`;
      rows = evaluated(epochs);
    }
  }
  const memoryOf = new Map<PlanRow, ReturnType<typeof memoryBreakdown>>();
  const out: PlanRow[] = rows.map(({ r, price, fit, step, hours, gpu, calibration, ...rest }) => {
    const extra = 'extra' in rest ? rest.extra : null;
    const cost = hours * price;
    let reason = fit.fits ? fit.reason : `does not fit: ${fit.reason}`;
    let feasible = fit.fits;
    if (feasible && p.batchSize % r.gpuCount !== 0) {
      // data-parallel ranks take equal shares: this batch cannot be trained here as it is
      feasible = false;
      reason = `a batch of ${p.batchSize} rows does not split over ${r.gpuCount} GPUs: make --batch-size × --grad-accum a multiple of ${r.gpuCount}`;
    }
    if (feasible && p.budget !== undefined && cost > p.budget) {
      feasible = false;
      reason = `over budget: $${cost.toFixed(2)} > $${p.budget}`;
    }
    if (feasible && p.deadline !== undefined && hours > p.deadline) {
      feasible = false;
      reason = `past the deadline: ${hours.toFixed(2)} h > ${p.deadline} h`;
    }
    const row: PlanRow = {
      cloud: r.cloud,
      instance: r.instanceType,
      gpu: r.gpu,
      gpus: r.gpuCount,
      region: r.region,
      pricePerHour: price,
      spot: p.spot && r.spotPrice !== null,
      hours,
      costUsd: cost,
      microBatch: fit.microBatch,
      gradAccum: fit.gradAccum,
      fits: fit.fits,
      basis: step?.basis ?? 'n/a',
      calibration,
      efficiency: step?.efficiency ?? 0,
      scalingEfficiency: step?.scalingEfficiency ?? 0,
      allReduceMs: step?.allReduceMs ?? 0,
      interconnect: r.gpuCount > 1 ? `${gpu.interconnect.kind}, ${gpu.interconnect.GBs} GB/s (published)` : 'none (1 GPU)',
      stepMs: step?.stepMs ?? Infinity,
      tokensPerSec: step?.tokensPerSec ?? 0,
      peakMemoryGiB: fit.peakBytes / 2 ** 30,
      peakMemoryBytes: fit.peakBytes,
      gpuMemoryGiB: gpu.memoryGiB,
      method: extra?.method ?? 'full',
      gradientCheckpointing: extra?.gradientCheckpointing ?? false,
      sharding: extra?.sharding ?? 'none',
      errorBand: extra?.band ?? null,
      feasible,
      reason,
      recommended: false,
      asOf: r.asOf,
      priceFreshness: freshness(r, p.now, p.maxAgeDays),
      source: r.source,
    };
    if (extra) memoryOf.set(row, memoryBreakdown(extra.memory));
    return row;
  });
  const key = (x: PlanRow) => (p.objective === 'cost' ? [x.costUsd, x.hours] : [x.hours, x.costUsd]);
  out.sort((a, b) => Number(b.feasible) - Number(a.feasible) || (key(a)[0] as number) - (key(b)[0] as number) || (key(a)[1] as number) - (key(b)[1] as number) || a.cloud.localeCompare(b.cloud));
  const pick = out.find((x) => x.feasible) ?? null;
  if (pick) pick.recommended = true;
  // The steps the pick's own run takes (its micro-batch, accumulation and GPUs); without a pick,
  // one step per batch of rows.
  const batch = pick ? rowBatch(pick) : null;
  const stepsPerEpoch = epochSteps(batch ?? batchPlan(p.batchSize), p.trainRows);
  const pilotSteps = Math.max(1, Math.round(stepsPerEpoch * PILOT_FRACTION));
  const pilot = pick
    ? (() => {
        const epochHours = (pick.hours - SETUP_HOURS) / epochs;
        const hours = SETUP_HOURS + PILOT_FRACTION * epochHours;
        return { fraction: PILOT_FRACTION, steps: pilotSteps, hours, costUsd: hours * pick.pricePerHour };
      })()
    : null;
  if (!pick) notes.push(out.some((x) => x.fits) ? 'no instance meets the budget/deadline: see each row\'s reason' : 'the model does not fit any GPU in the table: use fewer parameters or a bigger GPU');
  if (out.some((x) => x.basis === 'analytic')) {
    notes.push('basis "analytic": measured on a CPU, so GPU efficiency is an assumption (see src/planner/performance.ts); measure on a GPU (--device cuda) for "extrapolated" rows');
  }
  if (out.some((x) => x.sharding === 'fsdp')) notes.push(`rows marked "FSDP" fit only with the model sharded over their GPUs (FSDP/ZeRO-3): ftplan run trains whole replicas, so \`ftplan launch\` refuses them`);
  if (out.some((x) => x.gradientCheckpointing)) notes.push('"ckpt": gradient checkpointing is on where no micro-batch fits without it (it recomputes each block\'s forward in the backward: about a third more compute)');
  const cal = p.calibration && p.calibration.ratio !== 1 ? p.calibration : null;
  const calibrated = out.filter((x) => x.calibration !== 1).length;
  if (cal) {
    notes.push(
      `calibration ×${cal.ratio.toFixed(3)} from ${cal.runs} earlier run(s) on this device: applied to the measured throughput, so to the local projection and to the ${calibrated} row(s) computed from it (basis measured/extrapolated)${out.some((x) => x.basis === 'analytic') ? '; analytic rows take no measured throughput and are not calibrated' : ''}`,
    );
  }
  if (out.some((x) => x.priceFreshness !== 'fresh')) notes.push(`some prices are older than ${p.maxAgeDays} days or undated: import a fresh SkyPilot catalog (ftplan pricing import)`);
  const arithmetic = [
    `${p.trainRows.toLocaleString('en-US')} rows ÷ ${batch && microBatchesPerStep(batch) > 1 ? `(micro-batch ${batch.microBatch} × ${batch.gradAccum} accumulation × ${batch.ranks} GPU(s))` : p.batchSize} per step = ${stepsPerEpoch.toLocaleString('en-US')} steps/epoch × ${epochs} epochs = ${(stepsPerEpoch * epochs).toLocaleString('en-US')} steps (${epochsBasis})`,
    `${Math.round(p.trainTokensPerEpoch).toLocaleString('en-US')} padded tokens/epoch + ${Math.round(p.evalTokensPerEpoch).toLocaleString('en-US')} eval tokens/epoch; each row: hours = ${SETUP_HOURS} h set-up + epochs × tokens ÷ (that instance's tokens/s); cost = hours × $/h`,
    pick
      ? `pick: ${pick.cloud} ${pick.instance} (${pick.gpus}× ${pick.gpu}, ${pick.region}): ${pick.tokensPerSec.toFixed(0)} tokens/s (${pick.basis}) → ${pick.hours.toFixed(2)} h × $${pick.pricePerHour.toFixed(4)}/h = $${pick.costUsd.toFixed(2)}; micro-batch ${pick.microBatch} × ${pick.gradAccum} accumulation × ${pick.gpus} GPU(s)`
      : 'pick: none',
    pick && pick.gpus > 1
      ? `data-parallel: ${pick.gpus} GPUs over ${pick.interconnect}: all-reduce ${pick.allReduceMs.toFixed(1)} ms of a ${pick.stepMs.toFixed(1)} ms step → scaling efficiency ${(pick.scalingEfficiency * 100).toFixed(0)}% (assumed by the model below)`
      : '',
    scaling.summary,
    pilot ? `pilot ("start small"): ${pilotSteps} steps = ${Math.round(PILOT_FRACTION * 100)}% of one epoch: ${pilot.hours.toFixed(2)} h, $${pilot.costUsd.toFixed(2)}` : '',
  ].filter(Boolean);
  return {
    schema: 'ftplan.plan/1',
    objective: p.objective,
    constraints: { budget: p.budget ?? null, deadline: p.deadline ?? null, spot: p.spot },
    epochs,
    epochsBasis,
    batchSize: p.batchSize,
    batch,
    stepsPerEpoch,
    rows: out,
    recommended: pick,
    pilot,
    arithmetic,
    notes,
    scaling,
    comparison: null,
    method: p.method ? methodSummary(p, p.method, pick ?? out.find((x) => x.fits) ?? null, memoryOf) : null,
    calibration: cal ? { ...cal, appliedTo: `the local projection and ${calibrated} of ${out.length} rows (basis measured/extrapolated; analytic rows take no measured throughput)` } : null,
  };
}

function methodSummary(p: PlanInput, mi: MethodPlanInput, row: PlanRow | null, memoryOf: Map<PlanRow, ReturnType<typeof memoryBreakdown>>): PlanMethodSummary {
  const c = methodCountsFor(p.model, mi);
  return {
    spec: mi.spec,
    description: describeMethod(mi.spec, c, layersOf(p.model)),
    totalParameters: c.total,
    trainableParameters: c.trainable,
    quantizedParameters: c.quantized,
    precision: mi.precision,
    loss: mi.loss,
    activation: mi.activation,
    exact: Boolean(mi.exact),
    memory: row ? (memoryOf.get(row) ?? null) : null,
  };
}
