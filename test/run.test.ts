// ftplan run / ftplan eval: the real fine-tune on the native core.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrationFile, calibrationSpreadPct, readCalibration, recordCalibration } from '../src/calibration.js';
import { loadCheckpoint } from '../src/model/hf.js';
import { classificationMetrics, crossEntropy } from '../src/train/metrics.js';
import { lrFactor, warmupSteps } from '../src/train/schedule.js';
import { DATA } from './data.js';
import { tempDir } from './helpers.js';

const TWEETS = join(DATA, 'tweet_sentiment_extraction');
const tmp = () => tempDir('ftplan-run-');
// FTPLAN_HOME is a temporary folder for every test (vitest.config.ts); `home` gives a test its own.
function ftplan(args: string[], home?: string) {
  const r = spawnSync(process.execPath, ['bin/ftplan.js', ...args], { encoding: 'utf8', timeout: 600_000, env: home ? { ...process.env, FTPLAN_HOME: home } : process.env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

describe('metrics and schedules (hand-computed)', () => {
  it('accuracy, per-class precision/recall, macro-F1, confusion matrix', () => {
    // truth 0 0 1 1 2 2, predicted 0 1 1 1 2 0
    const m = classificationMetrics([0, 1, 1, 1, 2, 0], [0, 0, 1, 1, 2, 2], ['a', 'b', 'c']);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
    expect(m.confusion).toEqual([[1, 1, 0], [0, 2, 0], [1, 0, 1]]);
    expect(m.perClass[0]).toMatchObject({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    expect(m.perClass[1]).toMatchObject({ precision: 2 / 3, recall: 1, support: 2 });
    expect(m.perClass[1]!.f1).toBeCloseTo(0.8, 12);
    expect(m.perClass[2]).toMatchObject({ precision: 1, recall: 0.5 });
    expect(m.macroF1).toBeCloseTo((0.5 + 0.8 + 2 / 3) / 3, 12);
    expect(crossEntropy(new Float32Array([0, 0, 0]), [1], 3)).toBeCloseTo(Math.log(3), 6);
  });

  it('calibration store: geometric mean of the runs, applied shrunk toward 1, spread, older stores upgraded, damage survived', () => {
    const env = { FTPLAN_HOME: tmp() };
    expect(readCalibration('k', env)).toBeNull();
    const one = recordCalibration('k', 0.81, env);
    expect(one).toMatchObject({ runs: 1, min: 0.81, max: 0.81 });
    expect(one.observedRatio).toBeCloseTo(0.81, 12);
    expect(one.ratio).toBeCloseTo(0.9, 12); // sqrt: one run's ratio is half machine noise
    expect(calibrationSpreadPct(one)).toBeNull();
    const two = recordCalibration('k', 1.0, env);
    expect(two.observedRatio).toBeCloseTo(0.9, 12);
    expect(two.ratio).toBeCloseTo(Math.exp((2 / 3) * Math.log(0.9)), 12);
    expect(two).toMatchObject({ runs: 2, min: 0.81, max: 1 });
    expect(calibrationSpreadPct(two)).toBeCloseTo((Math.abs(Math.log(0.81)) / Math.SQRT2) * 100, 9);
    expect(readCalibration('k', env)).toEqual(two);
    expect(() => recordCalibration('k', Number.NaN, env)).toThrow(/positive number/);
    // a store written before the shrinkage ({ratio, runs}: an arithmetic mean) is read as that mean
    writeFileSync(calibrationFile(env), JSON.stringify({ k: { ratio: 1.21, runs: 3, updatedAt: 'x' } }));
    const old = readCalibration('k', env)!;
    expect(old.observedRatio).toBeCloseTo(1.21, 12);
    expect(old.ratio).toBeCloseTo(Math.exp(0.75 * Math.log(1.21)), 12);
    expect(recordCalibration('k', 1.21, env).runs).toBe(4);
    writeFileSync(calibrationFile(env), '{not json');
    expect(readCalibration('k', env)).toBeNull();
    expect(recordCalibration('k', 1.1, env).runs).toBe(1);
  });

  it('HF schedules: linear warmup then linear decay; cosine; constant', () => {
    expect(warmupSteps(100, 0.1)).toBe(10);
    expect(lrFactor('linear', 0, 100, 10)).toBe(0);
    expect(lrFactor('linear', 5, 100, 10)).toBe(0.5);
    expect(lrFactor('linear', 10, 100, 10)).toBe(1);
    expect(lrFactor('linear', 55, 100, 10)).toBeCloseTo(0.5, 12);
    expect(lrFactor('linear', 100, 100, 10)).toBe(0);
    expect(lrFactor('linear', 0, 100, 0)).toBe(1); // HF: no warmup starts at the full rate
    expect(lrFactor('cosine', 55, 100, 10)).toBeCloseTo(0.5, 12);
    expect(lrFactor('constant', 99, 100, 10)).toBe(1);
  });
});

describe('ftplan run', () => {
  it('a small preset from scratch on 5,000 tweets, 3 epochs: test accuracy (all 3,534 rows) at least 55%', () => {
    const out = tmp();
    const r = ftplan(['run', '--model', 'mini', '--init', 'random', '--dataset', TWEETS, '--limit', '5000', '--epochs', '3', '--lr', '1e-3', '--warmup-ratio', '0.1', '--output-dir', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('completed');
    expect(j.steps).toBe(939);
    expect(j.finalEval.rows).toBe(3_534);
    expect(j.finalEval.accuracy).toBeGreaterThanOrEqual(0.55);
    expect(j.evals).toHaveLength(3);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'train')).toHaveLength(939);
    expect(lines.filter((l) => l.type === 'eval')).toHaveLength(3);
    for (const c of ['checkpoint-313', 'checkpoint-626', 'checkpoint-939']) expect(existsSync(join(out, c, 'training_state.pt'))).toBe(true);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    expect(j.vsEstimate.source).toMatch(/measured before the run/);
    expect(readFileSync(join(out, 'curves.svg'), 'utf8')).toMatch(/<polyline/);
  }, 600_000);

  it('fine-tunes from the real tiny-gpt2, saves, and ftplan eval on the saved folder reproduces the final metrics exactly', () => {
    const out = tmp();
    const report = join(tmp(), 'run.md');
    const r = ftplan(['run', '--model', join(DATA, 'tiny-gpt2'), '--dataset', TWEETS, '--limit', '300', '--eval-limit', '200', '--epochs', '1', '--lr', '1e-3', '--output-dir', out, '--price-per-hour', '1.5', '--report', report, '--json']);
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
    const evalRun = ftplan(['eval', '--model', out, '--dataset', TWEETS, '--json']);
    expect(evalRun.code, evalRun.stderr).toBe(0);
    expect(JSON.parse(evalRun.stdout).metrics.rows).toBe(3_534);
    const full = ftplan(['run', '--model', join(DATA, 'tiny-gpt2'), '--dataset', TWEETS, '--limit', '300', '--epochs', '1', '--lr', '1e-3', '--output-dir', tmp(), '--json']);
    const fullRun = JSON.parse(full.stdout);
    const again = JSON.parse(ftplan(['eval', '--model', fullRun.outputDir, '--dataset', TWEETS, '--json']).stdout);
    expect(again.metrics).toEqual(fullRun.finalEval);
  }, 600_000);

  it('a budget that allows about half the steps stops the run about half way, with a checkpoint and a clear message', () => {
    const base = ['run', '--model', 'tiny', '--init', 'random', '--dataset', TWEETS, '--limit', '3000', '--eval-limit', '64', '--epochs', '1', '--json'];
    const full = JSON.parse(ftplan([...base, '--output-dir', tmp()]).stdout);
    const price = 3600; // $1 per second, so the budget reads in seconds
    // What the run costs before its first step (loading, tokenizing, the short measurement) plus half
    // of the rest: a budget for about half of the steps.
    expect(full.startupSeconds).toBeGreaterThan(0);
    expect(full.startupSeconds).toBeLessThan(full.wallSeconds);
    const budget = full.startupSeconds + (full.wallSeconds - full.startupSeconds) * 0.5;
    const r = ftplan([...base, '--output-dir', tmp(), '--price-per-hour', String(price), '--budget', budget.toFixed(3)]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('budget');
    expect(j.steps / j.totalSteps).toBeGreaterThan(0.15);
    expect(j.steps / j.totalSteps).toBeLessThan(0.85);
    expect(j.spentUsd).toBeLessThanOrEqual(budget);
    expect(j.message).toMatch(/the next step would pass the \$[\d.]+ budget .*finishing the remaining \d+ steps would cost about \$[\d.]+ more/);
    expect(loadCheckpoint(j.checkpoint, { numLabels: 3 }).missing).toEqual([]);
  }, 600_000);

  it('SIGINT: the current step finishes, a loadable checkpoint is written, exit 130', async () => {
    const out = tmp();
    const child = spawn(process.execPath, ['bin/ftplan.js', 'run', '--model', 'tiny', '--init', 'random', '--dataset', TWEETS, '--epochs', '1', '--eval-limit', '64', '--output-dir', out, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    const args = ['run', '--model', 'tiny', '--init', 'random', '--dataset', TWEETS, '--limit', '600', '--eval-limit', '64', '--epochs', '2', '--threads', '1', '--seed', '7', '--json'];
    const whole = tmp();
    const a = ftplan([...args, '--output-dir', whole]);
    expect(a.code, a.stderr).toBe(0);
    const total = JSON.parse(a.stdout).totalSteps as number;
    const cut = 5 + Math.floor(Math.random() * (total - 10)); // somewhere inside the run, maybe mid-epoch
    const parts = tmp();
    const child = spawn(process.execPath, ['bin/ftplan.js', ...args, '--output-dir', parts], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    const args = ['run', '--model', 'tiny', '--init', 'random', '--dataset', TWEETS, '--limit', '800', '--eval-limit', '32', '--epochs', '1', '--save-steps', '2', '--threads', '1', '--output-dir', out, '--json'];
    const child = spawn(process.execPath, ['bin/ftplan.js', ...args], { stdio: 'ignore' });
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
    const r = ftplan(['run', '--model', 'tiny', '--init', 'random', '--dataset', TWEETS, '--limit', '400', '--eval-limit', '64', '--epochs', '1', '--lr', '1e-12', '--eval-steps', '5', '--early-stopping-patience', '1', '--output-dir', tmp(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('early-stopped');
    expect(j.steps).toBe(10); // the second evaluation (step 10) was no better than the first (step 5)
    expect(j.message).toMatch(/did not improve for 1 evaluation/);
  });

  it('calibration: a run stores actual ÷ measured; the next estimate applies it and says so; the next run is compared with what that estimate told', () => {
    const home = tmp();
    const data = ['--dataset', TWEETS, '--limit', '400', '--batch-size', '16'];
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
      const r = ftplan(['run', '--dataset', TWEETS, ...flags]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });
});
