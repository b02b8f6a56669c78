// ftplan sweep, the longer end-to-end checks (CI only): a sweep killed mid-rung (SIGKILL) and started
// again finishes with the same decisions; run --from-sweep trains the winner to the weights its rungs
// reached. The sweep itself is checked in test/e2e/sweep.test.ts.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ftplan, ROOT } from '../helpers.js';
import { smallSweep, sweepTmp, type SweepReport } from '../sweep-fixtures.js';

const tmp = sweepTmp;
const { args: SWEEP, dataset: DATASET } = smallSweep();
type Report = SweepReport;

describe('ftplan sweep (continued, the winner)', () => {
  const dir = join(tmp(), 'sweep');
  let whole: Report;

  // the sweep test/e2e/sweep.test.ts checks in detail: here the reference the two tests compare with
  beforeAll(() => {
    const r = ftplan([...SWEEP, '--dir', dir, '--price-per-hour', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    whole = JSON.parse(r.stdout) as Report;
    expect(whole.status).toBe('done');
  }, 300_000);

  it('a sweep killed mid-rung (SIGKILL) and started again finishes with the same decisions', async () => {
    const killed = join(tmp(), 'killed');
    const child = spawn(process.execPath, [join(ROOT, 'bin/ftplan.js'), ...SWEEP, '--dir', killed, '--price-per-hour', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    // killed while the last trial kept trains on to the end, past a checkpoint of its own
    await new Promise<void>((res, rej) => {
      const poll = setInterval(() => {
        const m = /rung 3\/3 · trial 1\/1 (t\d+)/.exec(err);
        if (m) {
          try {
            const lines = readFileSync(join(killed, 'trials', m[1]!, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"train"'));
            if (lines.length >= 16) {
              clearInterval(poll);
              child.kill('SIGKILL');
              res();
            }
          } catch {
            /* not yet */
          }
        }
      }, 10);
      child.on('close', () => {
        clearInterval(poll);
        rej(new Error(`the sweep ended before it was killed: ${err}`));
      });
    });
    await new Promise((res) => child.on('close', res));
    const state = JSON.parse(readFileSync(join(killed, 'sweep.json'), 'utf8'));
    expect(state.winner).toBeNull();
    expect(state.results).toHaveLength(3); // rung 1 done, the last rung not
    const r = ftplan([...SWEEP, '--dir', killed, '--price-per-hour', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/continuing the sweep .*: 3 rung result\(s\) done/);
    // it continued the trial from a checkpoint inside the rung, not from the rung's start
    expect(Number(/resuming from \S*checkpoint-(\d+) /.exec(r.stderr)?.[1])).toBeGreaterThan(6);
    const again = JSON.parse(r.stdout) as Report;
    expect(again.decisions).toEqual(whole.decisions);
    expect(again.winner).toEqual(whole.winner);
    expect(again.trials.map((t) => t.rungs)).toEqual(whole.trials.map((t) => t.rungs)); // the same metrics, bit for bit
    expect(again.actual.starts).toBe(2); // the start that was killed, and this one
    // the winner's curve has each step once: the lines the killed segment wrote past its checkpoint went
    const steps = readFileSync(join(killed, 'trials', again.winner!.trial, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"train"')).map((l) => JSON.parse(l).step);
    expect(steps).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(whole.actual.starts).toBe(1); // a finished sweep started again only reports
  }, 300_000);

  it('run --from-sweep trains the winner with its settings (flags given win, named): the weights its rungs reached, bit for bit', () => {
    const out = join(tmp(), 'winner');
    const r = ftplan(['run', '--from-sweep', dir, '--save-steps', '4', '--output-dir', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`from the sweep in ${dir}: the winner ${whole.winner!.trial}`));
    expect(r.stderr).toMatch(/given on the command line, these win over the sweep's: --save-steps 4 \(the sweep's: 3\)/);
    const run = JSON.parse(r.stdout);
    expect(run.dataset).toBe(DATASET);
    expect(run.steps).toBe(50);
    const st = JSON.parse(readFileSync(join(out, 'checkpoint-50', 'trainer_state.json'), 'utf8'));
    expect(st.lr).toBe(whole.winner!.settings.lr);
    expect(st.epochs).toBe(2);
    expect(st.seed).toBe(5);
    // the sweep paused the winner at step 6 and continued it to 50 with the whole run's schedule and
    // data order: the same weights as this uninterrupted run
    expect(readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(dir, 'trials', whole.winner!.trial, 'model.safetensors')))).toBe(true);
    expect(run.finalEval.loss).toBe(whole.winner!.value);
  }, 120_000);

});
