/**
 * state.ts — a sweep's folder: sweep.json (what was planned, every rung result and decision, the
 * winner), written atomically after each result so a sweep killed at any point continues from the
 * last one; the plan's measurements (plan/estimate-*.json, which each trial's run is compared
 * with); and each trial's `ftplan run` folder (trials/<id>/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FtplanError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { HalvingState, MetricName } from './halving.js';
import type { PlanTrial, StepCost, SweepPlan, InstanceCost } from './plan.js';
import type { Search, Value } from './space.js';

export const STATE_FILE = 'sweep.json';

export interface StoredTrial extends PlanTrial {
  settings: Record<string, Value>;
  /** the estimate (plan/estimate-<key>.json) the trial's run is compared with */
  estimate: string;
}

export interface SweepState extends HalvingState {
  schema: 'ftplan.sweep/1';
  fingerprint: string;
  /** the run flags every trial shares (camelCase) */
  base: Record<string, unknown>;
  search: Search;
  metric: MetricName;
  eta: number;
  minFraction: number;
  fractions: number[];
  trials: StoredTrial[];
  /** the measured step costs the plan was made from (here, and the instances' from the planner) */
  here: Record<string, StepCost>;
  instances: InstanceCost[];
  startupSeconds: number;
  pricePerHour: number | null;
  plan: SweepPlan;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** how many times the sweep was started (1: never stopped) */
  starts: number;
  winner: { trial: string; ranking: { trial: string; value: number }[] } | null;
}

export const trialDir = (dir: string, id: string) => join(dir, 'trials', id);

/** The sweep in `dir`, or null when it has none. */
export function readSweepState(dir: string): SweepState | null {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return null;
  let s: SweepState;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as SweepState;
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: not readable JSON (${(e as Error).message})`, { fix: 'the sweep\'s state is damaged: start the sweep in a new --dir' });
  }
  if (s?.schema !== 'ftplan.sweep/1' || !Array.isArray(s.trials) || !Array.isArray(s.results) || !Array.isArray(s.decisions)) {
    throw new FtplanError('ERR_INPUT', `${file}: not an ftplan sweep's state`, { fix: 'point --dir (or --from-sweep) at a folder `ftplan sweep` wrote' });
  }
  return s;
}

export function writeSweepState(dir: string, s: SweepState): void {
  s.updatedAt = new Date().toISOString();
  writeFileAtomic(join(dir, STATE_FILE), `${JSON.stringify(s, null, 2)}\n`);
}
