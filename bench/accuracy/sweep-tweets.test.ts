// ftplan sweep on the real tweets (FTPLAN_DATA): the learning-rate search of the docs (mini from
// scratch, 2,000 tweets, three learning rates) prints its plan first and finishes with fewer steps
// than the grid; the grid of the same trials (--min-fraction 1: every trial to the end) trains the
// halving search's winner to the very same final evaluation, since a rung's run is the grid's run
// paused and continued.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ftplan as cli, tempDir } from '../../test/helpers.js';
import { TWEETS } from '../../test/real-data.js';

// a hang guard only: about 1,000 steps of mini in all, minutes on an idle 2-core machine
const ftplan = (args: string[]) => cli(args, { timeoutMs: 3_000_000 });
const SWEEP = ['sweep', '--model', 'mini', '--init', 'random', '--dataset', TWEETS, '--limit', '2000', '--epochs', '2', '--eval-limit', '1000', '--lr', '3e-4,1e-3,3e-3'];

interface Report {
  status: string;
  trials: { id: string; rungs: (number | null)[]; stepsDone: number }[];
  decisions: { kept: string[] }[];
  winner: { trial: string; value: number };
  actual: { steps: number; hours: number };
  planned: { steps: number; hours: number };
  grid: { steps: number };
  vsGrid: { stepsSavedPct: number; plannedSavingPct: number };
}

describe('ftplan sweep on the tweets', () => {
  it('the learning-rate search: plan first, fewer steps than the grid, and the grid reaches the same final evaluation for its winner', () => {
    const dir = join(tempDir('ftplan-sweep-'), 'lr');
    const r = ftplan([...SWEEP, '--dir', dir, '--report', join(dir, 'report.md')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.indexOf('plan: 3 trials (grid over --lr)')).toBe(0);
    expect(r.stdout).toMatch(/the search: 306 steps, .* the grid \(every trial to the end\): 750 steps/);
    expect(r.stdout).toMatch(/^done: /m);
    const sh = JSON.parse(ftplan([...SWEEP, '--dir', dir, '--json']).stdout) as Report;
    expect(sh.status).toBe('done');
    // 2,000 rows ÷ 16 = 125 steps/epoch × 2: rung 1 all three to step 28, the one kept on to 250
    expect(sh.trials.map((t) => t.stepsDone).sort((a, b) => a - b)).toEqual([28, 28, 250]);
    expect(sh.actual.steps).toBe(306);
    expect(sh.grid.steps).toBe(750);
    expect(sh.vsGrid.stepsSavedPct).toBeCloseTo(59.2, 1);

    const gdir = join(tempDir('ftplan-sweep-'), 'grid');
    const g = ftplan([...SWEEP, '--min-fraction', '1', '--dir', gdir, '--json']);
    expect(g.code, g.stderr).toBe(0);
    const grid = JSON.parse(g.stdout) as Report;
    expect(grid.actual.steps).toBe(750);
    const w = sh.winner.trial;
    // the halving winner's run, paused at step 28 and continued, is the grid's run of that trial
    expect(grid.trials.find((t) => t.id === w)!.rungs[0]).toBe(sh.winner.value);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toMatch(/## Rung decisions/);
  }, 3_000_000);
});
