/**
 * result.ts — what `ftplan sweep` reports (its --json, and the input of its table and Markdown):
 * each trial's metric at every rung it reached, the rung decisions, the winner and its settings,
 * actual against planned time and cost, and the search's spend against the grid's. Pure: made from
 * the sweep's state.
 */
import { METRICS, type Decision, type MetricName } from './halving.js';
import type { Spend, SweepPlan } from './plan.js';
import type { Value } from './space.js';
import type { SweepState } from './state.js';

export interface SweepReport {
  schema: 'ftplan.sweep-report/1';
  dir: string;
  status: 'done' | 'stopped' | 'planned';
  message: string;
  search: string;
  metric: MetricName;
  goal: 'min' | 'max';
  eta: number;
  fractions: number[];
  trials: {
    id: string;
    settings: Record<string, Value>;
    totalSteps: number;
    /** the metric at the end of each rung it trained (null: not trained in that rung) */
    rungs: (number | null)[];
    stepsDone: number;
    seconds: number;
    /** the last rung's evaluation it reached (the run's fields) */
    metrics: Record<string, number> | null;
    /** the run folder, and its curves (SVG), relative to the sweep folder */
    folder: string;
    curves: string | null;
  }[];
  decisions: (Decision & { dropped: string[] })[];
  winner: { trial: string; settings: Record<string, Value>; value: number; metrics: Record<string, number>; folder: string } | null;
  planned: Spend & { instance: SweepPlan['instance'] };
  grid: Spend;
  actual: { seconds: number; hours: number; costUsd: number | null; steps: number; starts: number };
  /** actual time here against the plan's, % (+: took longer) */
  timeErrorPct: number | null;
  /** how much less the search spent than the grid: steps exactly, time against the grid's plan */
  vsGrid: { stepsSavedPct: number; plannedSavingPct: number; actualSavingPct: number | null };
  notes: string[];
}

export function sweepReport(dir: string, s: SweepState, status: SweepReport['status'], message: string, curves: Record<string, string | null> = {}): SweepReport {
  const { field, goal } = METRICS[s.metric];
  const trials = s.trials.map((t) => {
    const rs = s.results.filter((r) => r.trial === t.id).sort((a, b) => a.rung - b.rung);
    const lastR = rs[rs.length - 1];
    return {
      id: t.id,
      settings: t.settings,
      totalSteps: t.totalSteps,
      rungs: s.fractions.map((_, i) => rs.find((r) => r.rung === i)?.metrics[field] ?? null),
      stepsDone: lastR?.step ?? 0,
      seconds: rs.reduce((a, r) => a + r.seconds, 0),
      metrics: lastR?.metrics ?? null,
      folder: `trials/${t.id}`,
      curves: curves[t.id] ?? null,
    };
  });
  const seconds = s.results.reduce((a, r) => a + r.seconds, 0);
  const steps = trials.reduce((a, t) => a + t.stepsDone, 0);
  const hours = seconds / 3600;
  const w = s.winner ? trials.find((t) => t.id === s.winner!.trial)! : null;
  const plannedHours = s.plan.total.hours;
  const done = status === 'done';
  return {
    schema: 'ftplan.sweep-report/1',
    dir,
    status,
    message,
    search: s.search,
    metric: s.metric,
    goal,
    eta: s.eta,
    fractions: s.fractions,
    trials,
    decisions: s.decisions.map((d) => ({ ...d, dropped: d.ranking.map((x) => x.trial).filter((id) => !d.kept.includes(id)) })),
    winner: w && s.winner ? { trial: w.id, settings: w.settings, value: s.winner.ranking[0]!.value, metrics: w.metrics ?? {}, folder: w.folder } : null,
    planned: { ...s.plan.total, instance: s.plan.instance },
    grid: s.plan.grid,
    actual: { seconds, hours, costUsd: s.pricePerHour !== null ? hours * s.pricePerHour : null, steps, starts: s.starts },
    timeErrorPct: done && plannedHours > 0 ? ((hours - plannedHours) / plannedHours) * 100 : null,
    vsGrid: {
      stepsSavedPct: s.plan.grid.steps ? ((s.plan.grid.steps - (done ? steps : s.plan.total.steps)) / s.plan.grid.steps) * 100 : 0,
      plannedSavingPct: s.plan.savingPct,
      actualSavingPct: done && s.plan.grid.hours > 0 ? ((s.plan.grid.hours - hours) / s.plan.grid.hours) * 100 : null,
    },
    notes: s.plan.notes,
  };
}
