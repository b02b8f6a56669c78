// ftplan sweep as a user runs it: a small search (tiny from scratch, a synthetic labelled set) that
// prints its plan first and finishes; --dry-run and --emit skypilot; bad input, each refused before
// any training. A sweep killed mid-rung and continued, and run --from-sweep: test/slow/sweep-continue.test.ts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ftplan } from '../helpers.js';
import { smallSweep, sweepTmp, type SweepReport } from '../sweep-fixtures.js';

const tmp = sweepTmp;
const { args: SWEEP, dataset: DATASET } = smallSweep();
type Report = SweepReport;

describe('ftplan sweep', () => {
  const dir = join(tmp(), 'sweep');
  let whole: Report;

  it('prints the plan first, trains by successive halving, and reports the winner against the grid', () => {
    const r = ftplan([...SWEEP, '--dir', dir, '--price-per-hour', '2', '--report', join(dir, 'report.md')]);
    expect(r.code, r.stderr).toBe(0);
    const plan = r.stdout.indexOf('plan: 3 trials (grid over --lr)');
    expect(plan).toBe(0);
    expect(r.stdout.indexOf('done: 3 trials')).toBeGreaterThan(plan);
    expect(r.stdout).toMatch(/the search: 62 steps, .* the grid \(every trial to the end\): 150 steps/);
    // progress: rung 1 trains all three to step 2, the one kept goes on to the end
    expect(r.stderr).toMatch(/rung 1\/3 · trial 1\/3 t01 \(lr 3e-4\) · steps 0→6 of 50/);
    expect(r.stderr).toMatch(/rung 3\/3 · trial 1\/1 t0\d .* steps 6→50 of 50/);
    expect(r.stdout).toMatch(/vs the grid: 62 steps trained against the grid's 150 \(59% fewer\)/);
    expect(r.stdout).toContain(`ftplan run --from-sweep ${dir}`);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(md).toContain('## Rung decisions');
    expect(md).toMatch(/!\[t01\]\(trials\/t01\/curves\.svg\)/);
    // the same command on a finished sweep trains nothing and reports it again
    const again = ftplan([...SWEEP, '--dir', dir, '--price-per-hour', '2', '--json', '--report', join(dir, 'report.html')]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/rung \d\/3 · trial/);
    // the HTML page carries every trial's curves inline and nothing from elsewhere
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).toMatch(/<h3>t0\d ★/);
    expect(html).toContain('<h2>Rung decisions</h2>');
    expect(html).not.toMatch(/<script|src="http/);
    whole = JSON.parse(again.stdout) as Report;
    expect(whole.status).toBe('done');
    expect(whole.trials.map((t) => t.settings.lr)).toEqual([3e-4, 1e-3, 3e-3]);
    expect(whole.decisions).toHaveLength(1);
    const [d] = whole.decisions;
    expect(d!.kept).toHaveLength(1);
    expect(d!.ranking.map((x) => x.value)).toEqual([...d!.ranking.map((x) => x.value)].sort((a, b) => a - b));
    expect(whole.winner!.trial).toBe(d!.kept[0]);
    const w = whole.trials.find((t) => t.id === whole.winner!.trial)!;
    expect(w.stepsDone).toBe(50);
    expect(whole.trials.filter((t) => t.stepsDone === 6)).toHaveLength(2);
    expect(whole.actual.steps).toBe(62);
    expect(whole.grid.steps).toBe(150);
    expect(whole.vsGrid.stepsSavedPct).toBeCloseTo((1 - 62 / 150) * 100, 9);
    for (const t of whole.trials) expect(existsSync(join(dir, 'trials', t.id, 'curves.svg'))).toBe(true);
    expect(existsSync(join(dir, 'trials', w.id, 'model.safetensors'))).toBe(true);
  }, 300_000);

  it('--dry-run prints the plan and writes nothing; --emit skypilot writes a task that runs the sweep', () => {
    const d = join(tmp(), 'dry');
    const r = ftplan([...SWEEP, '--dir', d, '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(d)).toBe(false);
    const plan = JSON.parse(r.stdout);
    expect(plan.status).toBe('planned');
    expect(plan.planned.steps).toBe(62);
    const yamlFile = join(tmp(), 'sweep.yaml');
    const e = ftplan([...SWEEP, '--dir', d, '--emit', 'skypilot', '--output', yamlFile]);
    expect(e.code, e.stderr).toBe(0);
    expect(existsSync(d)).toBe(false);
    const task = parse(readFileSync(yamlFile, 'utf8'));
    expect(task.resources.accelerators).toMatch(/^[A-Za-z0-9-]+:\d+$/);
    expect(task.file_mounts[`/ftplan/data/reviews`]).toBe(DATASET);
    expect(task.run).toMatch(/node bin\/ftplan\.js sweep .*--dataset \/ftplan\/data\/reviews .*--lr '3e-4,1e-3,3e-3' .*--price-per-hour [\d.]+ --dir /);
  }, 120_000);

  it('refuses bad input before any training', () => {
    const d = join(tmp(), 'bad');
    // the flag checks are the unit suite's (test/unit/sweep.test.ts); here, as the CLI reports them
    const cases: [string[], RegExp][] = [
      [['--lr', '1e-4,1e-4'], /--lr 1e-4,1e-4: 0.0001 is listed twice/],
      [['--lr', '1e-4,3e-4', '--budget', '0.0000001', '--price-per-hour', '1'], /--budget 1e-7: below one rung: the first rung alone .* is planned at \$/],
    ];
    for (const [extra, message] of cases) {
      const r = ftplan(['sweep', '--model', 'tiny', '--init', 'random', '--dataset', DATASET, '--epochs', '2', '--steps', '2', '--min-time', '0', '--dir', d, ...extra]);
      expect(r.code, `${extra.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/fix: /);
      expect(existsSync(join(d, 'trials'))).toBe(false);
      expect(existsSync(join(d, 'sweep.json'))).toBe(false);
    }
    // a data set without a test split cannot rank trials
    const noTest = join(tmp(), 'train-only.jsonl');
    writeFileSync(noTest, readFileSync(join(DATASET, 'train.jsonl'), 'utf8'));
    const r = ftplan(['sweep', '--model', 'tiny', '--init', 'random', '--dataset', noTest, '--lr', '1e-4,3e-4', '--steps', '2', '--min-time', '0', '--dir', d]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/no test split to evaluate the trials on/);
    // another sweep's folder is not continued with other settings
    const other = ftplan([...SWEEP.map((a) => (a === '3e-4,1e-3,3e-3' ? '1e-4,1e-3' : a)), '--dir', dir, '--dry-run']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/holds a sweep with other settings/);
  }, 300_000);
});
