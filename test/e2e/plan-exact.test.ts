// ftplan estimate --exact (one configuration priced as given) and the proxy measurement, as a
// user runs them: the plan rows' fields in --json, and "proxy: 1, 2, 4 of N blocks".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { loadGpus, type PriceRow } from '../../src/pricing/catalog.js';
import { parameterCount } from '../../src/planner/memory.js';
import { ftplanPrecision, methodSpec } from '../../src/planner/method.js';
import { analyticActivations } from '../../src/planner/method-memory.js';
import { kernelsPerLayerOf, parameterTensorsOf } from '../../src/planner/model-shape.js';
import { plan } from '../../src/planner/recommend.js';
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

describe('ftplan launch and a pick that fits only sharded', () => {
  it('refuses it, saying the model needs FSDP/ZeRO-3 over the instance\'s GPUs, exit 2', () => {
    const model = decoderPresetConfig('llama-3.1-70b', 'causal-lm');
    const row: PriceRow = { cloud: 'aws', instanceType: 'p5.48xlarge', gpu: 'H100', gpuCount: 8, vCPUs: null, memoryGiB: null, region: 'us-east-1', price: 98, spotPrice: null, source: 'test', asOf: '2026-11-01', note: '' };
    const p = plan({
      measurement: { device: 'cpu', deviceName: 'test', dtype: 'bf16', stepMs: 1000, tokensPerStep: 4096, flopsPerToken: 1e10, achievedFlops: 1e10, parameters: 1e9, nLayer: 80, evalTokensPerSec: null, tokensPerSec: 4096 },
      model,
      activation: { seqLen: 512, perSamplePerLayer: 1, perSampleBase: 1, measuredOn: 'test', dtype: 'bf16' },
      rows: [row],
      gpus: loadGpus(),
      trainRows: 1000,
      evalRows: 0,
      trainTokensPerEpoch: 512_000,
      evalTokensPerEpoch: 0,
      meanSeqLen: 512,
      batchSize: 8,
      epochs: 1,
      objective: 'cost',
      spot: false,
      maxAgeDays: 90,
      now: new Date('2026-11-30T00:00:00Z'),
      method: { spec: methodSpec({ method: 'lora', loraR: 16 }), precision: ftplanPrecision('bf16'), loss: 'chunked', activation: analyticActivations(model, 512, 'bf16', 'materialized'), exact: null, bands: null, kernelsPerLayer: kernelsPerLayerOf(model), parameterTensors: parameterTensorsOf(model) },
    });
    expect(p.recommended?.sharding).toBe('fsdp');
    const file = join(tmp(), 'plan.json');
    writeFileSync(file, JSON.stringify({ schema: 'ftplan.estimate/1', model: 'llama-3.1-70b', task: 'causal-lm', plan: p }));
    const data = labelledDataset({ train: 20, test: 5 });
    const r = ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', data.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs FSDP\/ZeRO-3 sharding of weights, gradients and optimizer state over the instance's GPUs; ftplan run trains data-parallel replicas only/);
    expect(r.stderr).toMatch(/--method lora or qlora|a GPU with more memory/);
  });
});
