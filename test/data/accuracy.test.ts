// ftplan run on the real tweet data set (FTPLAN_DATA): the accuracy a small model reaches, and a
// fine-tune from the real sshleifer/tiny-gpt2 that ftplan eval reproduces exactly.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/model/hf.js';
import { ftplan as cli, tempDir } from '../helpers.js';
import { DATA, TWEETS } from '../real-data.js';

const tmp = () => tempDir('ftplan-run-');
// a hang guard only: 939 steps of the mini preset take about a minute on an idle 2-core machine, far more on a busy one
const ftplan = (args: string[]) => cli(args, { timeoutMs: 3_000_000 });

describe('ftplan run on the tweets', () => {
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
  }, 3_000_000);

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

});
