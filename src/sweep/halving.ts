/**
 * halving.ts — successive halving over a sweep's trials (Jamieson & Talwalkar 2016; the synchronous
 * form of ASHA, Li et al. 2020). Rung i trains every live trial to a fraction of its own full run
 * (min-fraction × eta^i, the last rung 1) on the same data order, continuing from where the trial
 * stopped, then keeps the best 1/eta by the metric. The schedule (warm-up, decay) is the full run's
 * throughout, so a rung's steps are the first steps of the run a grid would train.
 *
 * Pure: the trainer, the clock and where the state is kept are given, so the decisions can be
 * tested with a fake trainer and a fake clock, and a sweep started again skips what its state
 * already holds and takes the same decisions.
 */
import { FtplanError } from '../errors.js';

/** Metrics a sweep can rank by: the run's evaluation field, which way is better, and the tasks that have it. */
export const METRICS = {
  'eval-loss': { field: 'loss', goal: 'min', tasks: ['classification', 'causal-lm'] },
  accuracy: { field: 'accuracy', goal: 'max', tasks: ['classification'] },
  'macro-f1': { field: 'macroF1', goal: 'max', tasks: ['classification'] },
  perplexity: { field: 'perplexity', goal: 'min', tasks: ['causal-lm'] },
  'exact-match': { field: 'exactMatch', goal: 'max', tasks: ['causal-lm'] },
} as const;
export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as [MetricName, ...MetricName[]];

/** The metric named, or an error saying which ones the task has. */
export function checkMetric(name: MetricName, task: string): void {
  const m = METRICS[name];
  if (!(m.tasks as readonly string[]).includes(task)) {
    const has = METRIC_NAMES.filter((k) => (METRICS[k].tasks as readonly string[]).includes(task));
    throw new FtplanError('ERR_USAGE', `--metric ${name}: a ${task} run's evaluation has no ${name} (it has ${has.join(', ')})`, { fix: `rank by one of ${has.join(', ')}` });
  }
}

/**
 * The rungs' fractions of each trial's full run: min-fraction × eta^i while below 1, then 1.
 * --min-fraction 1 is one rung: every trial to the end (the grid).
 */
export function rungFractions(eta: number, minFraction: number): number[] {
  if (!(eta >= 2)) throw new FtplanError('ERR_USAGE', `--eta ${eta}: successive halving keeps 1/eta of the trials per rung, so eta must be at least 2`, { fix: 'give --eta 2 or more (3 is the usual choice)' });
  if (!(minFraction > 0 && minFraction <= 1)) throw new FtplanError('ERR_USAGE', `--min-fraction ${minFraction}: must be in (0, 1]`, { fix: 'e.g. --min-fraction 0.11 (a ninth of each run first)' });
  const out: number[] = [];
  for (let f = minFraction; f < 1 - 1e-9; f *= eta) out.push(f);
  out.push(1);
  return out;
}

/** A trial's step count at the end of a rung: its fraction of the full run, at least one step. */
export function rungStep(totalSteps: number, fraction: number): number {
  return Math.max(1, Math.min(totalSteps, Math.round(totalSteps * fraction)));
}

/**
 * How many trials each rung trains: n, then ⌊n/eta⌋ (at least 1) after each decision. Once one
 * trial is left there is nothing to decide: it goes straight to the last rung, and the rungs
 * between are skipped (0).
 */
export function rungSizes(trials: number, rungs: number, eta: number): number[] {
  const out = [trials];
  let n = trials;
  for (let r = 1; r < rungs; r++) {
    n = Math.max(1, Math.floor(n / eta));
    out.push(n === 1 && r < rungs - 1 ? 0 : n);
  }
  return out;
}

export interface SweepTrial {
  id: string;
  /** the trial's full run: what a grid would train it for */
  totalSteps: number;
}

/** One trial trained to the end of one rung. */
export interface SegmentResult {
  step: number;
  /** the evaluation at that step (the run's EvalMetrics fields) */
  metrics: Record<string, number>;
  /** how the segment ended: paused (a rung), completed / max-steps (the last one), or a stop that ends the sweep */
  status: string;
  /** the sweep clock's time the segment took (training, evaluation, loading) */
  seconds: number;
}

export interface RungResult extends SegmentResult {
  trial: string;
  rung: number;
}

export interface Decision {
  rung: number;
  /** best first: each live trial's metric at the rung's end */
  ranking: { trial: string; value: number }[];
  kept: string[];
}

/** What a sweep keeps between starts (the rest of its state file is the command's). */
export interface HalvingState {
  results: RungResult[];
  decisions: Decision[];
}

export interface Trainer {
  /** Trains `trial` from where it stopped to `toStep` (the same data order, the full run's schedule) and evaluates it there. */
  train(trial: SweepTrial, rung: number, toStep: number): Promise<Omit<SegmentResult, 'seconds'>>;
}

export interface Clock {
  /** milliseconds */
  now(): number;
}

export interface HalvingConfig {
  trials: SweepTrial[];
  fractions: number[];
  eta: number;
  metric: MetricName;
}

export interface HalvingEvents {
  /** before a segment trains (skipped ones are not announced) */
  segment?(e: { rung: number; trial: SweepTrial; index: number; of: number; fromStep: number; toStep: number }): void;
  /** after each result or decision: where the state is written (atomically) */
  save(state: HalvingState): void;
}

export type HalvingOutcome = { status: 'done'; winner: string; ranking: Decision['ranking'] } | { status: 'stopped'; reason: string; trial: string; rung: number };

const OK = new Set(['paused', 'completed', 'max-steps']);

/** Best first by the metric; a missing or non-finite value last; ties by the trials' order. */
export function rank(results: RungResult[], metric: MetricName, order: string[]): Decision['ranking'] {
  const { field, goal } = METRICS[metric];
  const sign = goal === 'min' ? 1 : -1;
  return results
    .map((r) => ({ trial: r.trial, value: r.metrics[field] ?? NaN }))
    .sort((a, b) => {
      const fa = Number.isFinite(a.value);
      const fb = Number.isFinite(b.value);
      if (fa !== fb) return fa ? -1 : 1;
      if (fa && a.value !== b.value) return sign * (a.value - b.value);
      return order.indexOf(a.trial) - order.indexOf(b.trial);
    });
}

/**
 * Runs the rungs. A result already in `state` (a sweep started again) is not trained again; a
 * decision already taken is checked to be the one its results give. A segment that ends any other
 * way than at its step (a signal, a budget) stops the sweep with its state saved.
 */
export async function successiveHalving(cfg: HalvingConfig, trainer: Trainer, state: HalvingState, clock: Clock, ev: HalvingEvents): Promise<HalvingOutcome> {
  const order = cfg.trials.map((t) => t.id);
  const byId = new Map(cfg.trials.map((t) => [t.id, t]));
  let alive = [...order];
  const last = cfg.fractions.length - 1;
  for (let r = 0; r <= last; r++) {
    if (r > 0 && r < last && alive.length === 1) continue; // one trial left: straight to the last rung
    for (const [i, id] of alive.entries()) {
      if (state.results.some((x) => x.trial === id && x.rung === r)) continue;
      const trial = byId.get(id)!;
      const toStep = rungStep(trial.totalSteps, cfg.fractions[r]!);
      const before = state.results.filter((x) => x.trial === id).reduce((m, x) => Math.max(m, x.step), 0);
      ev.segment?.({ rung: r, trial, index: i, of: alive.length, fromStep: before, toStep });
      const t0 = clock.now();
      const res = await trainer.train(trial, r, toStep);
      if (!OK.has(res.status)) return { status: 'stopped', reason: res.status, trial: id, rung: r };
      state.results.push({ ...res, trial: id, rung: r, seconds: (clock.now() - t0) / 1000 });
      ev.save(state);
    }
    const ranking = rank(state.results.filter((x) => x.rung === r && alive.includes(x.trial)), cfg.metric, order);
    if (r === last) return { status: 'done', winner: ranking[0]!.trial, ranking };
    const keep = Math.max(1, Math.floor(alive.length / cfg.eta));
    const kept = ranking.slice(0, keep).map((x) => x.trial);
    const taken = state.decisions.find((d) => d.rung === r);
    if (taken && taken.kept.join() !== kept.join()) {
      throw new FtplanError('ERR_INPUT', `the sweep's state says rung ${r + 1} kept ${taken.kept.join(', ')}, its results give ${kept.join(', ')}`, { fix: 'the state file was edited or its trials retrained: start the sweep in a new --dir', exitCode: 1 });
    }
    if (!taken) {
      state.decisions.push({ rung: r, ranking, kept });
      ev.save(state);
    }
    alive = order.filter((id) => kept.includes(id));
  }
  throw new Error('unreachable: the last rung returns');
}
