// ftplan run, the longer end-to-end runs (CI only): a SIGKILL while checkpoints are written, and
// calibration across two estimate → run rounds. The shorter run tests are test/e2e/run.test.ts.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/model/hf.js';
import { labelledDataset } from '../fixtures.js';
import { ftplan as cli, ROOT, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-run-');
const DATASET = labelledDataset({ dir: join(tmp(), 'reviews'), train: 800, test: 64, seed: 51 }).dir;
// FTPLAN_HOME is a temporary folder for every test (vitest.config.ts); `home` gives a test its own.
const ftplan = (args: string[], home?: string) => cli(args, { env: home ? { FTPLAN_HOME: home } : {} });

describe('ftplan run (long)', () => {
  it('SIGKILL while checkpoints are being written leaves every complete checkpoint loadable, and --resume goes on', async () => {
    const out = tmp();
    const args = ['run', '--model', 'tiny', '--init', 'random', '--dataset', DATASET, '--limit', '800', '--eval-limit', '32', '--epochs', '1', '--save-steps', '2', '--threads', '1', '--output-dir', out, '--json'];
    const child = spawn(process.execPath, [join(ROOT, 'bin/ftplan.js'), ...args], { stdio: 'ignore' });
    const wait = 150 + Math.floor(Math.random() * 400);
    await new Promise<void>((res) => {
      const poll = setInterval(() => {
        if (existsSync(join(out, 'checkpoint-2'))) {
          clearInterval(poll);
          setTimeout(res, wait);
        }
      }, 10);
    });
    child.kill('SIGKILL');
    await new Promise((res) => child.on('close', res));
    const complete = readdirSync(out).filter((d) => /^checkpoint-\d+$/.test(d));
    expect(complete.length).toBeGreaterThan(0);
    for (const d of complete) {
      expect(existsSync(join(out, d, 'training_state.pt'))).toBe(true);
      expect(loadCheckpoint(join(out, d), { numLabels: 3 }).missing).toEqual([]);
    }
    const resumed = ftplan([...args, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const r2 = JSON.parse(resumed.stdout);
    expect(r2.status).toBe('completed');
    expect(r2.resumedFrom).toMatch(/checkpoint-\d+$/);
  }, 300_000);


  it('calibration: a run stores actual ÷ measured; the next estimate applies it and says so; the next run is compared with what that estimate told', () => {
    const home = tmp();
    const data = ['--dataset', DATASET, '--limit', '400', '--batch-size', '16', '--threads', '1'];
    const estimateTo = (file: string) => {
      const e = ftplan(['estimate', '--model', 'tiny', ...data, '--steps', '3', '--min-time', '0.3', '--json'], home);
      expect(e.code, e.stderr).toBe(0);
      writeFileSync(file, e.stdout);
      return JSON.parse(e.stdout);
    };
    const runWith = (file: string) => {
      const r = ftplan(['run', '--model', 'tiny', '--init', 'random', ...data, '--epochs', '1', '--eval-limit', '64', '--estimate', file, '--output-dir', tmp(), '--json'], home);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).vsEstimate;
    };
    const first = estimateTo(join(home, 'e1.json'));
    expect(first.calibration).toEqual({ used: false });
    const v1 = runWith(join(home, 'e1.json'));
    expect(v1.calibrationApplied).toBeNull();
    expect(v1.predictedTokensPerSec).toBeCloseTo(first.measurement.tokensPerSec, 6);
    expect(v1.calibration.runs).toBe(1);
    const r1 = v1.actualTokensPerSec / first.measurement.tokensPerSec;
    expect(v1.calibration.observedRatio).toBeCloseTo(r1, 9);
    expect(v1.calibration.ratio).toBeCloseTo(Math.sqrt(r1), 9); // one run: shrunk halfway (in log) toward 1
    const store = JSON.parse(readFileSync(join(home, 'calibration.json'), 'utf8'));
    expect(Object.values(store)).toHaveLength(1);

    const second = estimateTo(join(home, 'e2.json'));
    expect(second.calibration).toMatchObject({ used: true, runs: 1 });
    expect(second.calibration.ratio).toBeCloseTo(v1.calibration.ratio, 9);
    const text = ftplan(['estimate', '--model', 'tiny', ...data, '--steps', '3', '--min-time', '0.3'], home);
    expect(text.stdout).toMatch(/calibrated by 1 earlier run\(s\) of ftplan run/);
    const v2 = runWith(join(home, 'e2.json'));
    expect(v2.calibrationApplied).toMatchObject({ runs: 1 });
    expect(v2.predictedTokensPerSec).toBeCloseTo(second.measurement.tokensPerSec * second.calibration.ratio, 6);
    expect(v2.measuredTokensPerSec).toBeCloseTo(second.measurement.tokensPerSec, 6);
    // the store is fed against the bare measurement, so calibrations do not compound
    expect(v2.calibration.runs).toBe(2);
    const r2 = v2.actualTokensPerSec / second.measurement.tokensPerSec;
    expect(v2.calibration.observedRatio).toBeCloseTo(Math.sqrt(r1 * r2), 9);
    expect(v2.calibration.ratio).toBeCloseTo(Math.pow(r1 * r2, 1 / 3), 9); // exp(2/3 · mean log)
  }, 600_000);

});
