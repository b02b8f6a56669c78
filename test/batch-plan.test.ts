// "Batch" means one thing per name: a BatchPlan (micro-batch × accumulation × ranks) from the flags
// through the plan's rows to launch, and a re-plan from a saved measurement at that measurement's
// batch, said in its output.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchPlan, describeBatch, effectiveBatch, microBatchesPerStep, stepsPerEpoch } from '../src/batch-plan.js';
import { modelConfig } from '../src/model/presets.js';
import { analyticActivationBytesPerRow, parameterCount } from '../src/planner/memory.js';
import { plan, rowBatch } from '../src/planner/recommend.js';
import { loadGpus, type PriceRow } from '../src/pricing/catalog.js';
import { tempDir } from './helpers.js';

const tmp = () => tempDir('ftplan-batch-');

function ftplan(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['bin/ftplan.js', ...args], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, FTPLAN_HOME: tmp(), ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('BatchPlan', () => {
  it('the effective batch, the micro-batches per step and the steps per epoch come from its three numbers', () => {
    const b = batchPlan(8, 4, 2);
    expect(effectiveBatch(b)).toBe(64);
    expect(microBatchesPerStep(b)).toBe(8);
    expect(stepsPerEpoch(b, 1000)).toBe(15); // ceil(1000 / 8) = 125 micro-batches, 8 a step, the rest dropped
    expect(stepsPerEpoch(batchPlan(16), 10)).toBe(1); // never 0
    expect(describeBatch(b)).toBe('micro-batch 8 × 4 accumulation × 2 GPU(s) = 64 rows per step');
    expect(() => batchPlan(0)).toThrow(/microBatch must be a positive integer/);
    expect(() => batchPlan(4, 1.5)).toThrow(/gradAccum must be a positive integer/);
  });

  it("each plan row's split of the effective batch; a row whose GPU the model does not fit has none; the plan carries the pick's", () => {
    const cfg = modelConfig('gpt2-medium');
    const seqLen = 128;
    const P = parameterCount(cfg);
    const row = (over: Partial<PriceRow>): PriceRow => ({ cloud: 'gcp', instanceType: 'x', gpu: 'T4', gpuCount: 1, vCPUs: null, memoryGiB: null, region: 'us-central1', price: 1, spotPrice: null, source: 'test', asOf: '2026-11-01', note: '', ...over });
    const p = plan({
      measurement: { device: 'cpu', deviceName: 'cpu', dtype: 'fp32', stepMs: 1000, tokensPerStep: 16 * seqLen, flopsPerToken: 6 * P, achievedFlops: 1e11, parameters: P, nLayer: cfg.nLayer, evalTokensPerSec: null, tokensPerSec: 16 * seqLen },
      model: cfg,
      activation: { seqLen, perSamplePerLayer: analyticActivationBytesPerRow(cfg, seqLen, 'fp32') / cfg.nLayer, perSampleBase: 0, measuredOn: 'shape', dtype: 'fp32' },
      rows: [row({ instanceType: 'four', gpu: 'A100-80GB', gpuCount: 4, price: 8 }), row({ instanceType: 'one', gpu: 'A100-80GB', price: 2 }), row({ instanceType: 'small', gpu: 'T4', price: 0.1 })],
      gpus: loadGpus(),
      trainRows: 10_000,
      evalRows: 0,
      trainTokensPerEpoch: 10_000 * seqLen,
      evalTokensPerEpoch: 0,
      meanSeqLen: seqLen,
      batchSize: 64,
      objective: 'cost',
      spot: false,
      maxAgeDays: 90,
      now: new Date('2026-11-28T00:00:00Z'),
    });
    for (const r of p.rows) {
      const b = rowBatch(r);
      if (!r.fits) {
        expect(b).toBeNull();
        continue;
      }
      expect(b).toEqual({ microBatch: r.microBatch, gradAccum: r.gradAccum, ranks: r.gpus });
      expect(effectiveBatch(b!)).toBe(64);
    }
    expect(p.rows.some((r) => r.fits && r.gpus === 4)).toBe(true);
    expect(p.batch).toEqual(rowBatch(p.recommended!));
    expect(p.stepsPerEpoch).toBe(stepsPerEpoch(p.batch!, 10_000));
  });
});

describe('re-planning from a saved measurement', () => {
  it("takes the measurement's batch for the sequence, the projection and the plan, and says the flags' do not apply", () => {
    const fast = ['--model', 'tiny', '--steps', '2', '--warmup-steps', '1', '--min-time', '0', '--threads', '1', '--device', 'cpu'];
    const measured = ftplan(['estimate', ...fast, '--batch-size', '8', '--grad-accum', '2', '--json']);
    expect(measured.code, measured.stderr).toBe(0);
    const file = join(tmp(), 'm.json');
    writeFileSync(file, measured.stdout);
    const first = JSON.parse(measured.stdout);
    expect(first.plan.batchSize).toBe(16);
    expect(first.plan.notes.join('\n')).not.toMatch(/do not apply to a re-plan/);

    const again = ftplan(['estimate', '--measurement', file, '--batch-size', '32', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const r = JSON.parse(again.stdout);
    expect([r.batchSize, r.gradAccum, r.plan.batchSize, r.projection.samplesPerStep]).toEqual([8, 2, 16, 16]);
    expect(r.seqLenBasis).toMatch(/mean per batch of 8\b/);
    expect(r.plan.notes.join('\n')).toMatch(/batch: the measurement's \(micro-batch 8 × 2 accumulation × 1 process = 16 rows per step\).*--batch-size 32 --grad-accum 1 do not apply to a re-plan/);
    // the same figures as the estimate that measured it: nothing of the flags' batch leaks in
    expect(r.projection.stepsPerEpoch).toBe(first.projection.stepsPerEpoch);
    expect(r.plan.stepsPerEpoch).toBe(first.plan.stepsPerEpoch);

    const text = ftplan(['estimate', '--measurement', file, '--batch-size', '32']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/note: batch: the measurement's/);
    expect(text.stderr).toMatch(/re-planning from .*m\.json .* at its batch: micro-batch 8 × 2 accumulation × 1 process = 16 rows per step/);
  });

  it("launch refuses a plan whose batch field disagrees with its pick's micro-batch fields (an edited file)", () => {
    const measured = ftplan(['estimate', '--model', 'tiny', '--steps', '1', '--warmup-steps', '1', '--min-time', '0', '--threads', '1', '--device', 'cpu', '--json']);
    expect(measured.code, measured.stderr).toBe(0);
    const j = JSON.parse(measured.stdout);
    expect(j.plan.batch).toEqual({ microBatch: j.plan.recommended.microBatch, gradAccum: j.plan.recommended.gradAccum, ranks: j.plan.recommended.gpus });
    j.plan.batch.microBatch += 1;
    const file = join(tmp(), 'plan.json');
    writeFileSync(file, JSON.stringify(j));
    const data = join(tmp(), 'train.jsonl');
    writeFileSync(data, Array.from({ length: 20 }, (_, i) => JSON.stringify({ text: `row ${i}`, label: i % 2 })).join('\n') + '\n');
    const r = ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', data]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/its batch field says/);
    expect(readFileSync(file, 'utf8')).toContain('"batch"');
  });
});
