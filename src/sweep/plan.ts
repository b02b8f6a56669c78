/**
 * plan.ts — what a sweep will cost before it trains: each rung's trials and steps, the time here
 * from the measured step (the estimate's own measurement and projection) and on an instance from
 * the planner's rows for the same measurement, against the grid (every trial to the end). Pure.
 *
 * Survivors are not known in advance: where trials differ in step cost (batch size, accumulation)
 * the plan takes the costliest ones as the survivors, so it is an upper bound; where they do not
 * (learning rate, weight decay, …) it is the exact step count.
 */
import { FtplanError } from '../errors.js';
import { rungSizes, rungStep } from './halving.js';

/** One trial as the plan sees it. */
export interface PlanTrial {
  id: string;
  totalSteps: number;
  stepsPerEpoch: number;
  /** which measured step it trains at (trials with the same micro-batch and accumulation share one) */
  costKey: string;
}

/** Seconds of one optimizer step and one eval pass, on one machine. */
export interface StepCost {
  trainSeconds: number;
  evalSeconds: number;
}

/** An instance of the price tables, with its step cost for each cost key. */
export interface InstanceCost {
  cloud: string;
  instance: string;
  gpu: string;
  gpus: number;
  region: string;
  pricePerHour: number;
  spot: boolean;
  source: string;
  /** hours billed once: start, set-up, loading (the planner's SETUP_HOURS) */
  setupHours: number;
  costs: Record<string, StepCost>;
}

export interface PlanInput {
  trials: PlanTrial[];
  fractions: number[];
  eta: number;
  /** --eval-steps (0: each epoch only) */
  evalSteps: number;
  here: Record<string, StepCost>;
  /** seconds each segment spends starting (loading and tokenizing the data, opening the model), here and on an instance */
  startupSeconds: number;
  /** USD per hour here (null: no price given) */
  pricePerHour: number | null;
  /** instances with a step cost for every key (the cheapest sweep is recommended) */
  instances: InstanceCost[];
}

export interface Spend {
  steps: number;
  evals: number;
  hours: number;
  costUsd: number | null;
  instanceHours: number | null;
  instanceCostUsd: number | null;
}

export interface RungPlan extends Spend {
  rung: number;
  fraction: number;
  trials: number;
  /** the step each trial trains to (min and max over the trials) */
  toStep: [number, number];
}

export interface SweepPlan {
  rungs: RungPlan[];
  total: Spend;
  grid: Spend;
  /** how much less the halving search spends than the grid, in % of the grid (time here) */
  savingPct: number;
  instance: Omit<InstanceCost, 'costs'> | null;
  notes: string[];
}

/**
 * The evaluations the run makes in (from, to]: each epoch's end and every --eval-steps (a step that
 * is both is evaluated twice, as the loop does), and one at `to` when neither fell there.
 */
export function evalPasses(from: number, to: number, stepsPerEpoch: number, evalSteps: number): number {
  const within = (every: number) => (every > 0 ? Math.floor(to / every) - Math.floor(from / every) : 0);
  const atEnd = to % stepsPerEpoch === 0 || (evalSteps > 0 && to % evalSteps === 0);
  return within(stepsPerEpoch) + within(evalSteps) + (atEnd ? 0 : 1);
}

const seconds = (c: StepCost, steps: number, evals: number, startup: number) => startup + steps * c.trainSeconds + evals * c.evalSeconds;

interface Segment {
  trial: PlanTrial;
  steps: number;
  evals: number;
}

function spend(segs: Segment[], p: PlanInput, inst: InstanceCost | null, setup: boolean): Spend {
  const hours = segs.reduce((a, s) => a + seconds(p.here[s.trial.costKey]!, s.steps, s.evals, p.startupSeconds), 0) / 3600;
  const ih = inst ? segs.reduce((a, s) => a + seconds(inst.costs[s.trial.costKey]!, s.steps, s.evals, p.startupSeconds), 0) / 3600 + (setup ? inst.setupHours : 0) : null;
  return {
    steps: segs.reduce((a, s) => a + s.steps, 0),
    evals: segs.reduce((a, s) => a + s.evals, 0),
    hours,
    costUsd: p.pricePerHour !== null ? hours * p.pricePerHour : null,
    instanceHours: ih,
    instanceCostUsd: inst && ih !== null ? ih * inst.pricePerHour : null,
  };
}

const add = (a: Spend, b: Spend): Spend => ({
  steps: a.steps + b.steps,
  evals: a.evals + b.evals,
  hours: a.hours + b.hours,
  costUsd: a.costUsd !== null && b.costUsd !== null ? a.costUsd + b.costUsd : null,
  instanceHours: a.instanceHours !== null && b.instanceHours !== null ? a.instanceHours + b.instanceHours : null,
  instanceCostUsd: a.instanceCostUsd !== null && b.instanceCostUsd !== null ? a.instanceCostUsd + b.instanceCostUsd : null,
});

/** Each rung's segments: rung 0 every trial, later rungs the costliest survivors (an upper bound), none in a skipped rung. */
function rungSegments(p: PlanInput): Segment[][] {
  const sizes = rungSizes(p.trials.length, p.fractions.length, p.eta);
  let prev = 0;
  return p.fractions.map((f, r) => {
    if (!sizes[r]) return [];
    const from = prev;
    prev = f;
    const segs = p.trials.map((t) => {
      const a = from ? rungStep(t.totalSteps, from) : 0;
      const b = rungStep(t.totalSteps, f);
      return { trial: t, steps: b - a, evals: a === b ? 1 : evalPasses(a, b, t.stepsPerEpoch, p.evalSteps) };
    });
    const cost = (s: Segment) => seconds(p.here[s.trial.costKey]!, s.steps, s.evals, 0);
    return r ? [...segs].sort((a, b) => cost(b) - cost(a)).slice(0, sizes[r]) : segs;
  });
}

export function planSweep(p: PlanInput): SweepPlan {
  const rungs = rungSegments(p);
  const gridSegs = p.trials.map((t) => ({ trial: t, steps: t.totalSteps, evals: evalPasses(0, t.totalSteps, t.stepsPerEpoch, p.evalSteps) }));
  // the instance that runs this sweep cheapest among those every trial fits
  const sweepCost = (inst: InstanceCost): number => rungs.reduce((a, segs) => a + (spend(segs, p, inst, false).instanceCostUsd ?? 0), 0);
  const best = [...p.instances].sort((a, b) => sweepCost(a) - sweepCost(b))[0] ?? null;
  const rungPlans: RungPlan[] = rungs.map((segs, r) => ({
    rung: r,
    fraction: p.fractions[r]!,
    trials: segs.length,
    toStep: segs.length ? [Math.min(...segs.map((s) => rungStep(s.trial.totalSteps, p.fractions[r]!))), Math.max(...segs.map((s) => rungStep(s.trial.totalSteps, p.fractions[r]!)))] : [0, 0],
    ...spend(segs, p, best, r === 0),
  }));
  const asSpend = (r: Spend): Spend => ({ steps: r.steps, evals: r.evals, hours: r.hours, costUsd: r.costUsd, instanceHours: r.instanceHours, instanceCostUsd: r.instanceCostUsd });
  const total = rungPlans.map(asSpend).reduce(add);
  const grid = spend(gridSegs, p, best, true);
  const notes: string[] = [];
  const keys = new Set(p.trials.map((t) => t.costKey));
  if (keys.size > 1) notes.push('trials differ in step cost: the plan takes the costliest trials as each rung\'s survivors (an upper bound)');
  notes.push(`each segment (a trial trained to a rung's step) also starts: ${p.startupSeconds.toFixed(1)} s to read and tokenize the data (timed here), counted in every row`);
  if (!best) notes.push('no instance in the price tables fits every trial: no cloud price');
  return {
    rungs: rungPlans,
    total,
    grid,
    savingPct: grid.hours > 0 ? ((grid.hours - total.hours) / grid.hours) * 100 : 0,
    instance: best ? (({ costs: _c, ...rest }) => rest)(best) : null,
    notes,
  };
}

/** Hours as a reader takes them: seconds, minutes or hours. */
export const duration = (hours: number): string => {
  const s = hours * 3600;
  return s < 90 ? `${s.toFixed(1)} s` : s < 5400 ? `${(s / 60).toFixed(1)} min` : `${hours.toFixed(2)} h`;
};
export const usd = (x: number | null): string => (x === null ? '—' : x < 1 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`);

/** The plan against --budget / --budget-hours: an error before any training when it does not fit. */
export function checkBudget(plan: SweepPlan, budget: { usd?: number; hours?: number }): void {
  const limits: [string, number | undefined, (s: { hours: number; costUsd: number | null }) => number, (x: number) => string][] = [
    ['--budget', budget.usd, (s) => s.costUsd ?? 0, usd],
    ['--budget-hours', budget.hours, (s) => s.hours, duration],
  ];
  for (const [flag, limit, of, fmt] of limits) {
    if (limit === undefined) continue;
    const first = of(plan.rungs[0]!);
    const total = of(plan.total);
    if (first > limit) {
      throw new FtplanError('ERR_USAGE', `${flag} ${limit}: below one rung: the first rung alone (${plan.rungs[0]!.trials} trials to ${(plan.rungs[0]!.fraction * 100).toPrecision(2)}% of their runs) is planned at ${fmt(first)}`, {
        fix: `raise ${flag} to at least ${fmt(first)}, or try fewer values, a smaller --min-fraction, or a smaller --limit`,
      });
    }
    if (total > limit) {
      throw new FtplanError('ERR_USAGE', `${flag} ${limit}: the search is planned at ${fmt(total)}, over the budget`, {
        fix: `raise ${flag} to ${fmt(total)}, or try fewer values, a larger --eta or a smaller --min-fraction (the first rung is ${fmt(first)})`,
      });
    }
  }
}

