// ftplan run / ftplan eval: the real fine-tune on the native core, on a synthetic labelled data set
// (3 classes) and a random checkpoint of tiny-gpt2's shape (test/fixtures.ts). The accuracy on the
// real tweets is checked in the data suite.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

  it('--early-stopping-patience stops when eval accuracy stops improving', () => {
    const r = ftplan(['run', '--model', 'tiny', '--init', 'random', '--dataset', DATASET, '--limit', '400', '--eval-limit', '64', '--epochs', '1', '--lr', '1e-12', '--eval-steps', '5', '--early-stopping-patience', '1', '--threads', '1', '--output-dir', tmp(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('early-stopped');
    expect(j.steps).toBe(10); // the second evaluation (step 10) was no better than the first (step 5)
    expect(j.message).toMatch(/did not improve for 1 evaluation/);
  });

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
