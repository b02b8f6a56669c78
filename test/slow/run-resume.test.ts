// ftplan run --resume: a run stopped by SIGINT and resumed from its checkpoint ends bit for bit where
// the uninterrupted run ends (a synthetic labelled data set, tiny from scratch).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labelledDataset } from '../fixtures.js';
import { ftplan as cli, ROOT, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-run-');
const DATASET = labelledDataset({ dir: join(tmp(), 'reviews'), train: 320, test: 64, seed: 51 }).dir;
const ftplan = (args: string[]) => cli(args);

describe('ftplan run --resume', () => {
  it('SIGINT at a random step, then --resume: final weights bitwise identical to an uninterrupted run', async () => {
    const args = ['run', '--model', 'tiny', '--init', 'random', '--dataset', DATASET, '--limit', '320', '--eval-limit', '64', '--epochs', '2', '--threads', '1', '--seed', '7', '--json'];
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

});
