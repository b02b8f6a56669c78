// The small sweep both sweep test files run (test/e2e/sweep.test.ts, test/slow/sweep-continue.test.ts):
// tiny from scratch on a synthetic labelled set, three learning rates, and the report's JSON shape.
import { join } from 'node:path';
import { labelledDataset } from './fixtures.js';
import { tempDir } from './helpers.js';

export const sweepTmp = () => tempDir('ftplan-sweep-');

/** The sweep's arguments on a fresh copy of its data set (400 rows ÷ 16 = 25 steps/epoch × 2 epochs:
 * rungs at steps 6 (1/9) and 50 (1/3 is skipped: one trial is left)). */
export function smallSweep(): { args: string[]; dataset: string } {
  const dataset = labelledDataset({ dir: join(sweepTmp(), 'reviews'), train: 400, test: 48, seed: 61 }).dir;
  const args = ['sweep', '--model', 'tiny', '--init', 'random', '--dataset', dataset, '--epochs', '2', '--lr', '3e-4,1e-3,3e-3', '--seed', '5', '--steps', '2', '--min-time', '0', '--save-steps', '3'];
  return { args, dataset };
}

export interface SweepReport {
  status: string;
  trials: { id: string; settings: Record<string, number>; rungs: (number | null)[]; stepsDone: number; totalSteps: number; curves: string | null }[];
  decisions: { rung: number; kept: string[]; ranking: { trial: string; value: number }[] }[];
  winner: { trial: string; settings: Record<string, number>; value: number } | null;
  planned: { steps: number; hours: number };
  grid: { steps: number; hours: number };
  actual: { steps: number; hours: number; starts: number };
  vsGrid: { stepsSavedPct: number; plannedSavingPct: number };
}
