/**
 * trainer.ts — a sweep's trials trained by `ftplan run`'s own pipeline (train/fine-tune.ts), in
 * this process, one after another: each trial is a run in its own folder, continued from its latest
 * checkpoint at every rung (and after a stopped sweep), paused at the rung's step with the whole
 * run's schedule.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunArgs } from '../flags/run.js';
import { findCheckpoint } from '../train/checkpoint.js';
import { runTraining } from '../train/fine-tune.js';
import type { RunReport } from '../train/result.js';
import { curvesSvg } from '../report/run.js';
import type { SweepTrial, Trainer } from './halving.js';
import { trialDir, type StoredTrial } from './state.js';
import { isLmMetrics } from '../train/lm-metrics.js';

/** The latest resumable checkpoint's step in a trial's folder (null: none yet). */
export function checkpointStep(dir: string): number | null {
  if (!existsSync(dir)) return null;
  try {
    return findCheckpoint(dir).state.global_step;
  } catch {
    return null;
  }
}

/**
 * metrics.jsonl without the lines a stopped segment wrote after the checkpoint it continues from,
 * so the trial's curve has each step once.
 */
export function trimMetrics(dir: string, step: number): void {
  const file = join(dir, 'metrics.jsonl');
  if (!existsSync(file)) return;
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const kept = lines.filter((l) => {
    try {
      return (JSON.parse(l) as { step: number }).step <= step;
    } catch {
      return false; // a line cut short by the kill
    }
  });
  if (kept.length !== lines.length) writeFileSync(file, kept.map((l) => `${l}\n`).join(''));
}

export interface RunTrainerOptions {
  dir: string;
  trials: (StoredTrial & { run: RunArgs })[];
  log: (s: string) => void;
  /** USD left of --budget before this segment (null: no budget): the run stops before passing it */
  budgetLeft: () => number | null;
  /** each segment's run report, as it ends */
  onReport?: (trial: string, r: RunReport) => void;
}

export function runTrainer(o: RunTrainerOptions): Trainer {
  const byId = new Map(o.trials.map((t) => [t.id, t]));
  return {
    async train(trial: SweepTrial, _rung: number, toStep: number) {
      const t = byId.get(trial.id)!;
      const out = trialDir(o.dir, t.id);
      const from = checkpointStep(out);
      if (from !== null) trimMetrics(out, from);
      const budget = o.budgetLeft();
      if (budget !== null && budget <= 0) return { step: from ?? 0, metrics: {}, status: 'budget' };
      const args: RunArgs = { ...t.run, outputDir: out, resume: from !== null ? '' : undefined, estimate: t.estimate || undefined, budget: budget ?? undefined, json: true, report: undefined };
      const r = await runTraining(args, (s) => o.log(`${t.id}: ${s}`), null, { pauseAt: toStep });
      if (r.totalSteps !== t.totalSteps) {
        throw new Error(`trial ${t.id}: the run has ${r.totalSteps} steps, the plan ${t.totalSteps}: the data set's rows changed since the plan`);
      }
      o.onReport?.(t.id, r);
      const m = r.finalEval ?? (r.evals.length ? r.evals[r.evals.length - 1]!.metrics : null);
      const metrics: Record<string, number> = !m
        ? {}
        : isLmMetrics(m)
          ? { loss: m.loss, perplexity: m.perplexity, ...(m.exactMatch !== null ? { exactMatch: m.exactMatch } : {}) }
          : { loss: m.loss, accuracy: m.accuracy, macroF1: m.macroF1 };
      return { step: r.steps, metrics, status: r.status };
    },
  };
}

/** The trial's curves over every segment it trained (metrics.jsonl), as the run draws them. */
export function trialCurves(dir: string): void {
  const file = join(dir, 'metrics.jsonl');
  if (!existsSync(file)) return;
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; step: number; loss: number; accuracy?: number });
  const train = rows.filter((r) => r.type === 'train').map((r) => ({ step: r.step, loss: r.loss }));
  const evals = rows.filter((r) => r.type === 'eval').map((r) => ({ step: r.step, loss: r.loss, accuracy: r.accuracy ?? 0 }));
  writeFileSync(join(dir, 'curves.svg'), curvesSvg(train, evals));
}
