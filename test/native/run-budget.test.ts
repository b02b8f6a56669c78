// The budget guard of ftplan run (src/commands/run.ts) on a fake clock: the run trains on the real
// native core in this process, but every training step takes exactly one second of fake time and
// nothing else takes any, so what the guard decides is known to the step, on any machine.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseRunArgv } from '../../src/cli.js';
import { runTraining } from '../../src/commands/run.js';
import { loadCheckpoint } from '../../src/model/hf.js';
import { labelledDataset } from '../fixtures.js';
import { ftplan, tempDir } from '../helpers.js';

const STEP_MS = 1000;
let now = 0;

// The addon as the run loads it, with Session.step taking STEP_MS of fake time once it is done.
vi.mock('../../src/native.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/native.js')>();
  const timed = (session: object) =>
    new Proxy(session, {
      get(target, key) {
        const v = Reflect.get(target, key) as unknown;
        if (key === 'step') {
          return async (...a: unknown[]) => {
            const r = await (v as (...x: unknown[]) => Promise<unknown>).apply(target, a);
            now += STEP_MS;
            return r;
          };
        }
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  return {
    ...real,
    loadNative: () => {
      const addon = real.loadNative();
      return new Proxy(addon, {
        get(target, key) {
          if (key !== 'Session') return Reflect.get(target, key);
          return function Session(opts: unknown) {
            return timed(new target.Session(opts as ConstructorParameters<typeof target.Session>[0]));
          };
        },
      });
    },
  };
});

const data = labelledDataset({ train: 400, test: 30, seed: 61 }).dir; // 400 rows, batch 16: 25 steps an epoch
let estimate = '';

beforeAll(() => {
  // A saved estimate: the run compares with it instead of timing steps of its own before it starts
  // (that short measurement would step a session too, on the real clock).
  const r = ftplan(['estimate', '--model', 'tiny', '--dataset', data, '--steps', '2', '--min-time', '0', '--json']);
  expect(r.code, r.stderr).toBe(0);
  estimate = join(tempDir('ftplan-budget-'), 'estimate.json');
  writeFileSync(estimate, r.stdout);
});

beforeEach(() => {
  now = 1_700_000_000_000;
  vi.spyOn(Date, 'now').mockImplementation(() => now);
});
afterEach(() => vi.restoreAllMocks());

async function run(budget: number, extra: string[] = []) {
  const out = tempDir('ftplan-budget-');
  // $3,600 an hour: a dollar a fake second, so the budget reads in steps
  const args = await parseRunArgv(['--model', 'tiny', '--init', 'random', '--dataset', data, '--epochs', '1', '--threads', '1', '--estimate', estimate, '--price-per-hour', '3600', '--budget', String(budget), '--output-dir', out, ...extra]);
  const log: string[] = [];
  return { out, report: await runTraining(args, (s) => log.push(s)), log };
}

describe('the budget guard (fake clock: 1 s a step, $1 a second)', () => {
  it('stops before the step that would leave too little for the next step and the checkpoint (4 s reserved): $10.50 buys 7 steps', async () => {
    const { out, report } = await run(10.5);
    expect(report.status).toBe('budget');
    expect(report.steps).toBe(7); // after 6 steps $6 + $4 reserved ≤ $10.50; after 7, $7 + $4 > $10.50
    expect(report.totalSteps).toBe(25);
    expect(report.spentUsd).toBeCloseTo(7, 9);
    expect(report.finishUsd).toBeCloseTo(18, 9); // the 18 steps left at the mean step's price
    expect(report.message).toBe('the next step would pass the $10.5 budget ($7.0000 spent); finishing the remaining 18 steps would cost about $18.0000 more');
    expect(report.checkpoint).toBe(join(out, 'checkpoint-7'));
    expect(loadCheckpoint(report.checkpoint!, { numLabels: 3 }).missing).toEqual([]);
    const state = JSON.parse(readFileSync(join(out, 'checkpoint-7', 'trainer_state.json'), 'utf8'));
    expect(state.global_step).toBe(7);
    const logged = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(logged.filter((l) => l.type === 'train')).toHaveLength(7);
  });

  it('every budget buys the steps it covers with the reserve: $3 → 1 step (one is always measured), $5.50 → 2, $6.50 → 3, $24.50 → 21', async () => {
    for (const [budget, steps] of [[3, 1], [5.5, 2], [6.5, 3], [24.5, 21]] as const) {
      const { report } = await run(budget);
      expect(report.status, `$${budget}`).toBe('budget');
      expect(report.steps, `$${budget}`).toBe(steps);
      expect(report.spentUsd, `$${budget}`).toBeLessThanOrEqual(budget);
    }
  });

  it('a budget that covers the run and its reserve completes it', async () => {
    const { report, out } = await run(29);
    expect(report.status).toBe('completed');
    expect(report.steps).toBe(25);
    expect(report.spentUsd).toBeCloseTo(25, 9);
    expect(report.finishUsd).toBeNull();
    expect(loadCheckpoint(out, { numLabels: 3 }).missing).toEqual([]);
  });
});
