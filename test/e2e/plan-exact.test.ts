// ftplan estimate --exact (one configuration priced as given) and the proxy measurement, as a
// user runs them: the plan rows' fields in --json, and "proxy: 1, 2, 4 of N blocks".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parameterCount } from '../../src/planner/memory.js';
import { labelledDataset, tinyHfCheckpoint } from '../fixtures.js';
import { ftplan as cli, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-exact-');
const HOME = tmp();
const ftplan = (args: string[], env: Record<string, string> = {}) => cli(args, { env: { FTPLAN_HOME: HOME, ...env } });
const quick = ['--steps', '1', '--min-time', '0', '--warmup-steps', '0', '--eval-batch-size', '0'];

describe('ftplan estimate --exact', () => {
  const data = labelledDataset({ train: 80, test: 20 });
  const measurementFile = join(tmp(), 'm.json');
  let measured: { measurement: { kind?: string; batchSize: number; gradAccum: number } };

  beforeAll(() => {
    const r = ftplan(['estimate', '--model', 'tiny', '--dataset', data.dir, '--batch-size', '4', '--grad-accum', '2', ...quick, '--json']);
    expect(r.code, r.stderr).toBe(0);
    measured = JSON.parse(r.stdout);
    writeFileSync(measurementFile, r.stdout);
  }, 120_000);

  it('a whole-model measurement says so', () => {
    expect(measured.measurement.kind).toBe('full');
  });

  it('keeps the micro-batch, accumulation and GPU count; --gpu limits the rows; each row carries tokensPerSec, peakMemoryBytes, method, gradientCheckpointing, fits', () => {
    const r = ftplan(['estimate', '--measurement', measurementFile, '--exact', '--gpus', '2', '--gpu', 'A100', '--json'], { FTPLAN_NATIVE: '/nonexistent/ftplan.node' });
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout).plan;
    expect(p.rows.length).toBeGreaterThan(0);
    expect(p.method).toMatchObject({ exact: true, spec: { method: 'full' } });
    expect(p.batchSize).toBe(4 * 2 * 2);
    for (const row of p.rows) {
      expect(row).toMatchObject({ gpus: 2, microBatch: 4, gradAccum: 2, method: 'full', gradientCheckpointing: false, fits: true, sharding: 'none' });
      expect(row.gpu).toMatch(/^A100/);
      expect(row.tokensPerSec).toBeGreaterThan(0);
      expect(row.peakMemoryBytes).toBeGreaterThan(0);
      expect(row).toHaveProperty('errorBand');
    }
  });

  it('the table names the method and shows the band and peak per row', () => {
    const r = ftplan(['estimate', '--measurement', measurementFile, '--exact', '--gpu', 'H100'], { FTPLAN_NATIVE: '/nonexistent/ftplan.node' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/method: full fine-tuning: all [\d.]+ M parameters trainable \(--exact: the configuration as given\)/);
    expect(r.stdout).toMatch(/± time\/mem/);
    expect(r.stdout).toMatch(/│ 4 × 2 +│ [\d.]+ +│ (±\d+% \/ ±\d+%|n\/a) +│ analytic/);
  });
});

describe('ftplan estimate --proxy', () => {
  it('measures 1, 2 and 4 of 6 blocks and extrapolates: measurement.kind proxy, the whole model\'s parameters', () => {
    const dir = tmp();
    const ck = tinyHfCheckpoint(dir, { config: { nLayer: 6, nEmbd: 32, nHead: 2, nPositions: 128 } });
    const data = labelledDataset({ train: 60, test: 20 });
    const r = ftplan(['estimate', '--model', dir, '--dataset', data.dir, '--batch-size', '2', '--proxy', ...quick, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.measurement.kind).toBe('proxy');
    expect(e.measurement.proxy).toMatchObject({ blocks: [1, 2, 4], of: 6 });
    expect(e.measurement.proxy.summary).toMatch(/^proxy: 1, 2, 4 of 6 blocks/);
    expect(e.measurement.proxy.points).toHaveLength(3);
    expect(e.measurement.parameters).toBe(parameterCount(ck.config)); // the 6-block model's, not a proxy's
    expect(e.measurement.stepMs).toBeGreaterThan(0);
    expect(e.plan.notes.join('\n')).toMatch(/proxy: 1, 2, 4 of 6 blocks.*: --proxy/);
  }, 120_000);
});
