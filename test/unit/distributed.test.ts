// Data-parallel runs' and launch's TypeScript side: dropout seeds, the launcher's environment, the
// flags a worker is started with, the all-reduce model the plan uses, and the vendored SkyPilot task
// schema. The runs themselves: test/e2e/distributed.test.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { parseRunArgv } from '../../src/cli.js';
import { microSeed, runFlags, workerEnv } from '../../src/train/distributed.js';
import { allReduceMs, dataParallelStepMs, fitLink } from '../../src/planner/performance.js';
import { scalingModel } from '../../src/planner/scaling.js';
import { ROOT } from '../helpers.js';

describe('helpers', () => {
  it('microSeed depends on (seed, step, index) only, and stays a safe integer', () => {
    expect(microSeed(42, 3, 1)).toBe(microSeed(42, 3, 1));
    const seen = new Set([microSeed(42, 3, 0), microSeed(42, 3, 1), microSeed(42, 4, 0), microSeed(43, 3, 0)]);
    expect(seen.size).toBe(4);
    for (const s of seen) expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
  });

  it('workerEnv reads the launcher\'s environment and rejects a rank outside the world', () => {
    expect(workerEnv({})).toBeNull();
    expect(workerEnv({ FTPLAN_WORKER: '1', RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500' })).toEqual({ rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2, masterAddr: '10.0.0.1', masterPort: 29500 });
    expect(() => workerEnv({ FTPLAN_WORKER: '1', RANK: '4', WORLD_SIZE: '4', LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '1', MASTER_PORT: '1' })).toThrow(/RANK 4/);
  });

  it('runFlags round-trips through ftplan run\'s own parser', async () => {
    const args = await parseRunArgv(['--dataset', 'd.jsonl', '--model', 'tiny', '--grad-accum', '3', '--nproc', '2', '--dist-timeout', '7', '--json']);
    expect(args).toMatchObject({ gradAccum: 3, nproc: 2, distTimeout: 7, json: true });
    const again = await parseRunArgv(runFlags(args));
    expect(again).toEqual(args);
  });

  it('fitLink recovers the link behind synthetic ring all-reduce times; the step model adds it to compute', () => {
    const link = { latencyMs: 0.1, GBs: 2 };
    const points = [4096, 1 << 20, 16 << 20, 64 << 20].map((bytes) => ({ bytes, ms: allReduceMs(bytes, 2, link, 1e12) }));
    points[0]!.ms = 2 * 0.1; // the smallest message: latency only
    const fit = fitLink(points, 2);
    expect(fit.latencyMs).toBeCloseTo(0.1, 12);
    expect(fit.GBs).toBeCloseTo(2, 9);
    // 100 MB in 25 MiB buckets on 4 ranks: 2·3/4 · 0.1 GB / 2 GB/s + 4 buckets · 6 hops · 0.1 ms
    const s = dataParallelStepMs({ computeMs: 100, gradientBytes: 100e6, n: 4, link });
    expect(s.allReduceMs).toBeCloseTo(1.5 * 0.05 * 1000 + 4 * 6 * 0.1, 9);
    expect(s.stepMs).toBeCloseTo(100 + s.allReduceMs, 9);
    expect(s.scalingEfficiency).toBeCloseTo(100 / s.stepMs, 12);
    expect(dataParallelStepMs({ computeMs: 100, gradientBytes: 100e6, n: 1, link }).allReduceMs).toBe(0);
  });

  it('the plan names where its scaling constants come from', () => {
    const none = scalingModel(null);
    expect(none.summary).toMatch(/published figure \(pricing\/gpus\.json/);
    expect(none.summary).toMatch(/assumed/);
    expect(none.calibration).toBeNull();
    const cal = scalingModel({ measuredAt: '2026-11-28', machine: 'm', command: 'c', gloo: { latencyMs: 0.1, bandwidthGBs: 0.8, points: [] }, run: { model: 'mini', predictedTwoProcessStepMs: 200, errorPct: -10, speedupOverOneProcess: 1.2, twoProcesses: { stepMs: 250 }, oneProcessAllCores: { stepMs: 300 } } });
    expect(cal.calibration).toMatchObject({ glooBandwidthGBs: 0.8, measuredTwoProcessStepMs: 250, predictedTwoProcessStepMs: 200, twoProcessEfficiency: 1.2 });
    expect(cal.summary).toMatch(/200\.0 ms predicted vs 250\.0 ms measured \(-10\.0%\)/);
  });

  it('the run parser refuses a node rank outside --nnodes', async () => {
    await expect(parseRunArgv(['--dataset', 'd', '--nnodes', '2', '--node-rank', '2'])).rejects.toThrow(/--node-rank must be in \[0, --nnodes\)/);
  });
});

describe('the SkyPilot task schema (schemas/skypilot-task.schema.json)', () => {
  const schema = JSON.parse(readFileSync(`${ROOT}/schemas/skypilot-task.schema.json`, 'utf8'));
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

  it('the vendored schema rejects what SkyPilot rejects (unknown keys, a bad disk size, a bad env name)', () => {
    expect(validate({ name: 'x', resources: { accelerators: 'H100:8' }, run: 'true' })).toBe(true);
    expect(validate({ name: 'x', resourcez: {} })).toBe(false);
    expect(validate({ resources: { disk_size: '100 GB' } })).toBe(false);
    expect(validate({ resources: { gpus: 8 } })).toBe(false);
    expect(validate({ envs: { 'NOT-A-NAME': 'x' } })).toBe(false);
    expect(validate({ num_nodes: 1.5 })).toBe(false);
  });
});
