// ftplan run / ftplan eval: the real fine-tune on the native core, on a synthetic labelled data set
// (3 classes) and a random checkpoint of tiny-gpt2's shape (test/fixtures.ts). The accuracy on the
// real tweets is checked in the data suite.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/model/hf.js';
import { labelledDataset, tinyHfCheckpoint } from '../fixtures.js';
import { ftplan as cli, ROOT, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-run-');
const EVAL_ROWS = 120;
const DATASET = labelledDataset({ dir: join(tmp(), 'reviews'), train: 3_000, test: EVAL_ROWS, seed: 51 }).dir;
// FTPLAN_HOME is a temporary folder for every test (vitest.config.ts); `home` gives a test its own.
const ftplan = (args: string[], home?: string) => cli(args, { env: home ? { FTPLAN_HOME: home } : {} });

describe('ftplan run', () => {
  it('fine-tunes from a Hugging Face checkpoint (the shape of tiny-gpt2), saves, and ftplan eval on the saved folder reproduces the final metrics exactly', () => {
    const out = tmp();
    const report = join(tmp(), 'run.md');
    const model = tinyHfCheckpoint(join(tmp(), 'tiny-gpt2'), { seed: 9 }).dir;
    const r = ftplan(['run', '--model', model, '--dataset', DATASET, '--limit', '300', '--eval-limit', '200', '--epochs', '1', '--lr', '1e-3', '--threads', '1', '--output-dir', out, '--price-per-hour', '1.5', '--report', report, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(report, 'utf8');
    expect(md).toMatch(/^# ftplan run: /);
    expect(md).toMatch(/\| training time \| [\d.]+ s \| [\d.]+ s \| [+-][\d.]+% \|/);
    expect(md).toMatch(/\| cost \| \$[\d.]+ \| \$[\d.]+ \|/);
    const run = JSON.parse(r.stdout);
    expect(run.init).toMatchObject({ init: 'pretrained', loaded: 28, initialised: ['score.weight'] });
    const ck = loadCheckpoint(out, { numLabels: 3 });
    expect(ck.missing).toEqual([]);
    expect(existsSync(join(out, 'vocab.json'))).toBe(true);
    const missing = ftplan(['eval', '--model', out, '--dataset', join(tmp(), 'none')]);
    expect(missing.code).toBe(2); // a data set that is not there
    const evalRun = ftplan(['eval', '--model', out, '--dataset', DATASET, '--threads', '1', '--json']);
    expect(evalRun.code, evalRun.stderr).toBe(0);
    expect(JSON.parse(evalRun.stdout).metrics.rows).toBe(EVAL_ROWS);
    const full = ftplan(['run', '--model', model, '--dataset', DATASET, '--limit', '300', '--epochs', '1', '--lr', '1e-3', '--threads', '1', '--output-dir', tmp(), '--json']);
    const fullRun = JSON.parse(full.stdout);
    const again = JSON.parse(ftplan(['eval', '--model', fullRun.outputDir, '--dataset', DATASET, '--threads', '1', '--json']).stdout);
    expect(again.metrics).toEqual(fullRun.finalEval);
  }, 600_000);

  // The budget guard's arithmetic on a fake clock: test/native/run-budget.test.ts. Here, through the
  // CLI: a budget below the first step's cost stops the run after that step, whatever the machine's
  // speed (the guard needs one measured step before it can stop a run).
  it('a budget smaller than one step stops the run after its first step, with a checkpoint and a clear message', () => {
    const out = tmp();
    const r = ftplan(['run', '--model', 'tiny', '--init', 'random', '--dataset', DATASET, '--limit', '400', '--eval-limit', '32', '--epochs', '1', '--price-per-hour', '3600', '--budget', '0.000001', '--threads', '1', '--output-dir', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('budget');
    expect(j.steps).toBe(1);
    expect(j.totalSteps).toBe(25);
    expect(j.spentUsd).toBeGreaterThan(0.000001);
    expect(j.message).toMatch(/^the next step would pass the \$0\.000001 budget \(\$[\d.]+ spent\); finishing the remaining 24 steps would cost about \$[\d.]+ more$/);
    expect(j.checkpoint).toBe(join(out, 'checkpoint-1'));
    expect(loadCheckpoint(j.checkpoint, { numLabels: 3 }).missing).toEqual([]);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false); // a stopped run leaves a checkpoint, not a final model
  });

  it('SIGINT: the current step finishes, a loadable checkpoint is written, exit 130', async () => {
    const out = tmp();
    const child = spawn(process.execPath, [join(ROOT, 'bin/ftplan.js'), 'run', '--model', 'tiny', '--init', 'random', '--dataset', DATASET, '--epochs', '1', '--eval-limit', '64', '--threads', '1', '--output-dir', out, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    // wait until training has started
    await new Promise<void>((res) => {
      const poll = setInterval(() => {
        try {
          if (readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').length > 20) {
            clearInterval(poll);
            res();
          }
        } catch {
          /* not yet */
        }
      }, 100);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code).toBe(130);
    const j = JSON.parse(stdout);
    expect(j.status).toBe('interrupted');
    expect(j.message).toMatch(/^SIGINT: stopped after the current step/);
    expect(j.steps).toBeGreaterThan(0);
    expect(j.steps).toBeLessThan(j.totalSteps);
    expect(loadCheckpoint(j.checkpoint, { numLabels: 3 }).missing).toEqual([]);
  }, 300_000);

  it('SIGINT at a random step, then --resume: final weights bitwise identical to an uninterrupted run', async () => {
    const args = ['run', '--model', 'tiny', '--init', 'random', '--dataset', DATASET, '--limit', '600', '--eval-limit', '64', '--epochs', '2', '--threads', '1', '--seed', '7', '--json'];
    const whole = tmp();
    const a = ftplan([...args, '--output-dir', whole]);
    expect(a.code, a.stderr).toBe(0);
    const total = JSON.parse(a.stdout).totalSteps as number;
    // somewhere in the first half of the run, maybe mid-epoch: the second half is the margin between
    // seeing the step logged and the signal arriving, on however fast a machine
    const cut = 5 + Math.floor(Math.random() * (total / 2 - 5));
    const parts = tmp();
    const child = spawn(process.execPath, [join(ROOT, 'bin/ftplan.js'), ...args, '--output-dir', parts], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await new Promise<void>((res) => {
      const poll = setInterval(() => {
        try {
          if (readFileSync(join(parts, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"train"')).length >= cut) {
            clearInterval(poll);
            res();
          }
        } catch {
          /* not started */
        }
      }, 20);
    });
    child.kill('SIGINT');
    expect(await new Promise((res) => child.on('close', res))).toBe(130);
    const stopped = JSON.parse(out);
    expect(stopped.status).toBe('interrupted');
    const b = ftplan([...args, '--output-dir', parts, '--resume']);
    expect(b.code, b.stderr).toBe(0);
    const resumed = JSON.parse(b.stdout);
    expect(resumed.resumedFrom).toBe(stopped.checkpoint); // it continued, rather than starting over
    expect(resumed.init.init).toBe('pretrained');
    expect(resumed.status).toBe('completed');
    expect(resumed.steps).toBe(total);
    expect(readFileSync(join(parts, 'model.safetensors')).equals(readFileSync(join(whole, 'model.safetensors')))).toBe(true);
    expect(resumed.finalEval).toEqual(JSON.parse(a.stdout).finalEval);
  }, 600_000);

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
    const { readdirSync } = await import('node:fs');
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

  it('--early-stopping-patience stops when eval accuracy stops improving', () => {
    const r = ftplan(['run', '--model', 'tiny', '--init', 'random', '--dataset', DATASET, '--limit', '400', '--eval-limit', '64', '--epochs', '1', '--lr', '1e-12', '--eval-steps', '5', '--early-stopping-patience', '1', '--threads', '1', '--output-dir', tmp(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('early-stopped');
    expect(j.steps).toBe(10); // the second evaluation (step 10) was no better than the first (step 5)
    expect(j.message).toMatch(/did not improve for 1 evaluation/);
  });

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

  it('bad flags: a clear error, exit 2', () => {
    for (const [flags, msg] of [
      [['--lr', 'NaN'], /--lr/],
      [['--epochs', '-1'], /--epochs must be at least 1/],
      [['--budget', '5'], /--budget needs --price-per-hour or --instance/],
      [['--instance', 'no-such-instance', '--init', 'random', '--model', 'tiny'], /--instance no-such-instance: not in the price tables/],
      [['--resume', '--output-dir', tmp(), '--model', 'tiny'], /--resume: no complete checkpoint in /],
      [['--report', 'run.txt'], /--report must name a .md file/],
      [['--estimate', join(tmp(), 'missing.json'), '--model', 'tiny', '--init', 'random'], /missing.json: not a readable JSON measurement/],
      [['--batch-size', '0'], /--batch-size must be at least 1/],
    ] as [string[], RegExp][]) {
      const r = ftplan(['run', '--dataset', DATASET, ...flags]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });
});
