// One rule for the calibration from earlier runs: the factor multiplies the measured training
// throughput, and the projection on this device and the plan rows computed from that measurement
// take it alike; analytic rows, which take no measured throughput, do not; the output says which.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrate, calibrationKey, recordCalibration } from '../../src/calibration.js';
import { modelConfig } from '../../src/model/presets.js';
import { parameterCount } from '../../src/planner/memory.js';
import type { LocalMeasurement } from '../../src/planner/performance.js';
import { project } from '../../src/planner/projection.js';
import { plan, SETUP_HOURS, type PlanInput } from '../../src/planner/recommend.js';
import { loadGpus, type PriceRow } from '../../src/pricing/catalog.js';
import { ftplan, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-cal-');
const gpus = loadGpus();
const row = (over: Partial<PriceRow>): PriceRow => ({ cloud: 'gcp', instanceType: 'x', gpu: 'H100', gpuCount: 1, vCPUs: null, memoryGiB: null, region: 'us-central1', price: 3, spotPrice: null, source: 'test', asOf: '2026-11-01', note: '', ...over });

const cfg = modelConfig('gpt2');
const P = parameterCount(cfg);
const seq = 36;
const batch = 16;
// A measurement taken on an H100 at batch 16 × 36 tokens (the row of the same GPU is then "measured")
const onH100: LocalMeasurement = { device: 'cuda:0', deviceName: 'NVIDIA H100 80GB HBM3', dtype: 'bf16', stepMs: 40, tokensPerStep: batch * seq, flopsPerToken: 6 * P, achievedFlops: 6 * P * ((batch * seq) / 0.04), parameters: P, nLayer: 12, evalTokensPerSec: 40_000, tokensPerSec: (batch * seq) / 0.04 };
const onCpu: LocalMeasurement = { ...onH100, device: 'cpu', deviceName: 'AMD EPYC', dtype: 'fp32', stepMs: 2000, achievedFlops: 6 * P * ((batch * seq) / 2), tokensPerSec: (batch * seq) / 2, evalTokensPerSec: 900 };

function input(m: LocalMeasurement, calibration: { ratio: number; runs: number } | null): PlanInput {
  return {
    measurement: m,
    model: cfg,
    activation: { seqLen: 128, perSamplePerLayer: 5e6, perSampleBase: 1e6, measuredOn: 'test', dtype: m.dtype },
    rows: [row({ instanceType: 'a3-highgpu-1g' }), row({ instanceType: 'a2-highgpu-1g', gpu: 'A100', price: 2 }), row({ instanceType: 'g2-standard-4', gpu: 'L4', price: 0.7 })],
    gpus,
    trainRows: 27_481,
    evalRows: 3_534,
    trainTokensPerEpoch: 1e6,
    evalTokensPerEpoch: 1.3e5,
    meanSeqLen: seq,
    batchSize: batch,
    epochs: 3,
    objective: 'cost',
    spot: false,
    maxAgeDays: 90,
    now: new Date('2026-11-28T00:00:00Z'),
    calibration,
  };
}

/** The projection on the measuring device, as estimate computes it (the same calibrate()). */
const localHours = (m: LocalMeasurement, cal: { ratio: number; runs: number } | null) =>
  project({ trainRows: 27_481, evalRows: 3_534, epochs: 3, batchSize: batch, gradAccum: 1, trainTokensPerEpoch: 1e6, evalTokensPerEpoch: 1.3e5, trainTokensPerSec: calibrate(m, cal).tokensPerSec, evalTokensPerSec: m.evalTokensPerSec, batching: 'longest' }).hours;

describe('calibrate(): the one rule', () => {
  it('multiplies the training throughput, divides the step, leaves eval alone; none or ×1 changes nothing', () => {
    const c = calibrate(onH100, { ratio: 0.8, runs: 2 });
    expect(c.tokensPerSec).toBeCloseTo(onH100.tokensPerSec * 0.8, 9);
    expect(c.stepMs).toBeCloseTo(onH100.stepMs / 0.8, 9);
    expect(c.achievedFlops).toBeCloseTo(onH100.achievedFlops * 0.8, 3);
    expect(c.evalTokensPerSec).toBe(onH100.evalTokensPerSec);
    expect(calibrate(onH100, null)).toEqual(onH100);
    expect(calibrate(onH100, { ratio: 1, runs: 3 })).toEqual(onH100);
  });

  it('the row of the measuring GPU and the local projection: the same hours, with and without a calibration', () => {
    for (const cal of [null, { ratio: 0.8, runs: 2 }, { ratio: 1.15, runs: 1 }]) {
      const p = plan(input(onH100, cal));
      const same = p.rows.find((r) => r.gpu === 'H100')!;
      expect(same.basis).toBe('measured');
      expect(same.calibration).toBe(cal?.ratio ?? 1);
      expect(same.hours - SETUP_HOURS).toBeCloseTo(localHours(onH100, cal), 9);
    }
    // the calibration moves the rows as it moves the projection: training time ÷ ratio, eval time not
    const bare = plan(input(onH100, null)).rows.find((r) => r.gpu === 'H100')!;
    const cal = plan(input(onH100, { ratio: 0.8, runs: 2 })).rows.find((r) => r.gpu === 'H100')!;
    const evalHours = (3 * 1.3e5) / 40_000 / 3600;
    expect(cal.hours - SETUP_HOURS - evalHours).toBeCloseTo((bare.hours - SETUP_HOURS - evalHours) / 0.8, 9);
  });

  it('rows extrapolated from the measurement take the factor; the plan says which factor went where', () => {
    const p = plan(input(onH100, { ratio: 0.8, runs: 2 }));
    const bare = plan(input(onH100, null));
    const a100 = p.rows.find((r) => r.gpu === 'A100')!;
    expect(a100).toMatchObject({ basis: 'extrapolated', calibration: 0.8 });
    expect(a100.hours).toBeGreaterThan(bare.rows.find((r) => r.gpu === 'A100')!.hours);
    expect(p.calibration).toMatchObject({ ratio: 0.8, runs: 2, appliedTo: 'the local projection and 3 of 3 rows (basis measured/extrapolated; analytic rows take no measured throughput)' });
    expect(p.notes.join('\n')).toMatch(/calibration ×0\.800 from 2 earlier run\(s\) on this device: applied to the measured throughput, so to the local projection and to the 3 row\(s\) computed from it/);
    expect(bare.calibration).toBeNull();
  });

  it('analytic rows (measured on a CPU) take no measured throughput: unchanged, factor 1, and said so', () => {
    const bare = plan(input(onCpu, null));
    const cal = plan(input(onCpu, { ratio: 0.8, runs: 2 }));
    for (const [i, r] of cal.rows.entries()) {
      expect(r).toMatchObject({ basis: 'analytic', calibration: 1 });
      expect(r.hours).toBe(bare.rows[i]!.hours);
    }
    expect(cal.calibration!.appliedTo).toBe('the local projection and 0 of 3 rows (basis measured/extrapolated; analytic rows take no measured throughput)');
    expect(cal.notes.join('\n')).toMatch(/analytic rows take no measured throughput and are not calibrated/);
  });
});

describe('ftplan estimate: the calibration it applied, in its JSON', () => {
  it('the projection takes the stored factor and the plan names it; a home without a store applies none', () => {
    const data = join(tmp(), 'train.jsonl');
    writeFileSync(data, Array.from({ length: 120 }, (_, i) => JSON.stringify({ text: `row ${i} ${'word '.repeat(1 + (i % 7))}`, label: i % 2 })).join('\n') + '\n');
    const run = (home: string, extra: string[]) => {
      const r = ftplan(['estimate', '--model', 'tiny', '--dataset', data, '--json', ...extra], { env: { FTPLAN_HOME: home } });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const first = run(tmp(), ['--steps', '2', '--warmup-steps', '1', '--min-time', '0', '--threads', '1', '--device', 'cpu']);
    const saved = join(tmp(), 'estimate.json');
    writeFileSync(saved, JSON.stringify(first));
    const home = tmp();
    const m = first.measurement;
    const entry = recordCalibration(calibrationKey(m.deviceName, m.model, m.dtype), 0.64, { FTPLAN_HOME: home });
    const bare = run(tmp(), ['--measurement', saved]);
    const cal = run(home, ['--measurement', saved]);
    expect(bare.calibration).toEqual({ used: false });
    expect(bare.plan.calibration).toBeNull();
    expect(cal.calibration).toMatchObject({ used: true, ratio: entry.ratio, runs: 1 });
    expect(entry.ratio).toBeCloseTo(0.8, 12); // one run: the square root of its ratio
    expect(cal.plan.calibration).toMatchObject({ ratio: entry.ratio, runs: 1 });
    expect(cal.projection.trainHours).toBeCloseTo(bare.projection.trainHours / entry.ratio, 9);
    // measured on a CPU: every row analytic, the same as without, factor 1
    expect(cal.plan.rows.every((r: { basis: string; calibration: number }) => r.basis !== 'analytic' || r.calibration === 1)).toBe(true);
    expect(cal.plan.rows.map((r: { hours: number }) => r.hours)).toEqual(bare.plan.rows.map((r: { hours: number }) => r.hours));
  }, 300_000);
});
