// --method auto: full fine-tuning, LoRA and QLoRA priced over the same rows; the comparison picks
// the cheapest method that fits within the constraints, and says what the others would cost.
import { describe, expect, it } from 'vitest';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { loadGpus, type PriceRow } from '../../src/pricing/catalog.js';
import { compareMethods } from '../../src/planner/auto.js';
import { ftplanPrecision, methodSpec, type PlanMethod } from '../../src/planner/method.js';
import { analyticActivations } from '../../src/planner/method-memory.js';
import { kernelsPerLayerOf, layersOf, parameterTensorsOf, type PlannedModel } from '../../src/planner/model-shape.js';
import type { LocalMeasurement } from '../../src/planner/performance.js';
import { plan, type PlanInput } from '../../src/planner/recommend.js';

const gpus = loadGpus();
const row = (gpu: string, price: number, gpuCount = 1): PriceRow => ({ cloud: 'aws', instanceType: `${gpuCount}x-${gpu}`, gpu, gpuCount, vCPUs: null, memoryGiB: null, region: 'us-east-1', price, spotPrice: null, source: 'test', asOf: '2026-11-01', note: '' });

function input(model: PlannedModel, rows: PriceRow[], method: PlanMethod, budget?: number): PlanInput {
  const seqLen = 512;
  const measurement: LocalMeasurement = { device: 'cpu', deviceName: 'test CPU', dtype: 'bf16', stepMs: 1000, tokensPerStep: 8 * seqLen, flopsPerToken: 1e10, achievedFlops: 1e10, parameters: 1e9, nLayer: layersOf(model), evalTokensPerSec: null, tokensPerSec: 4096 };
  return {
    measurement,
    model,
    activation: { seqLen, perSamplePerLayer: 1, perSampleBase: 1, measuredOn: 'test', dtype: 'bf16' },
    rows,
    gpus,
    trainRows: 20_000,
    evalRows: 0,
    trainTokensPerEpoch: 20_000 * seqLen,
    evalTokensPerEpoch: 0,
    meanSeqLen: seqLen,
    batchSize: 8,
    epochs: 1,
    objective: 'cost',
    ...(budget !== undefined ? { budget } : {}),
    spot: false,
    maxAgeDays: 90,
    now: new Date('2026-11-30T00:00:00Z'),
    method: {
      spec: methodSpec({ method, loraR: 16 }),
      precision: ftplanPrecision('bf16'),
      loss: 'chunked',
      activation: analyticActivations(model, seqLen, 'bf16', 'materialized'),
      exact: null,
      bands: null,
      kernelsPerLayer: kernelsPerLayerOf(model),
      parameterTensors: parameterTensorsOf(model),
    },
  };
}

const methods: PlanMethod[] = ['full', 'lora', 'qlora'];
const compare = (model: PlannedModel, rows: PriceRow[], budget?: number) =>
  compareMethods(methods.map((method) => ({ method, plan: plan(input(model, rows, method, budget)) })), 'cost');

describe('--method auto', () => {
  it('picks QLoRA on a budget only QLoRA meets (Llama-3.1-70B: NF4 fits one GPU; the bf16 base needs eight, sharded)', () => {
    const model = decoderPresetConfig('llama-3.1-70b', 'causal-lm');
    const rows = [row('A100-80GB', 4), row('H200', 10), row('H100', 98, 8)];
    const open = compare(model, rows);
    const cost = (m: PlanMethod) => open.choices.find((c) => c.method === m)!.row?.costUsd ?? Infinity;
    const q = cost('qlora');
    expect(open.choices.find((c) => c.method === 'qlora')!.row!.gpus).toBe(1);
    // the set-up this test is about: LoRA fits (sharded over 8 GPUs) but costs more; QLoRA is the cheapest way
    expect(open.choices.find((c) => c.method === 'lora')!.row!.sharding).toBe('fsdp');
    expect(cost('lora')).toBeLessThan(Infinity);
    expect(q).toBeLessThan(Math.min(cost('lora'), cost('full')));
    const budget = (q + Math.min(cost('lora'), cost('full'))) / 2;
    const c = compare(model, rows, budget);
    expect(c.pick).toBe('qlora');
    expect(c.choices.find((x) => x.method === 'qlora')!.row!.costUsd).toBeLessThanOrEqual(budget);
    for (const m of ['lora', 'full'] as const) {
      const choice = c.choices.find((x) => x.method === m)!;
      expect(choice.row).toBeNull();
      expect(choice.reason).toMatch(/no instance meets the constraints|fits no GPU/);
    }
    expect(c.tradeOff[0]).toMatch(/^by cost: QLoRA on 1× (A100-80GB|H200)/);
  });

  it('picks LoRA when it fits and is cheaper than QLoRA (Llama-3.1-8B: both take the whole batch on an 80 GB GPU; NF4 pays its dequantisation)', () => {
    const model = decoderPresetConfig('llama-3.1-8b', 'causal-lm');
    const rows = [row('A100-80GB', 4), row('H100', 8)];
    const c = compare(model, rows);
    expect(c.pick).toBe('lora');
    const lora = c.choices.find((x) => x.method === 'lora')!.row!;
    const qlora = c.choices.find((x) => x.method === 'qlora')!.row!;
    expect(lora.costUsd).toBeLessThan(qlora.costUsd);
    expect([lora.microBatch, qlora.microBatch]).toEqual([8, 8]);
    // full fine-tuning (16 bytes a parameter) fits neither single GPU
    expect(c.choices.find((x) => x.method === 'full')!.row).toBeNull();
    expect(c.tradeOff.join('\n')).toMatch(/QLoRA holds the targeted weights in NF4/);
  });

  it('every plan row carries the method, checkpointing, per-GPU peak memory and whole-instance tokens/s', () => {
    const model = decoderPresetConfig('llama-3.1-8b', 'causal-lm');
    const p = plan(input(model, [row('L4', 0.8), row('A100-80GB', 4, 8)], 'lora'));
    for (const r of p.rows) {
      expect(r.method).toBe('lora');
      expect(typeof r.gradientCheckpointing).toBe('boolean');
      expect(r.peakMemoryBytes).toBeGreaterThan(0);
      if (r.fits) expect(r.tokensPerSec).toBeGreaterThan(0);
    }
    expect(p.method?.trainableParameters).toBe(41_943_040);
    expect(p.method?.memory?.peakBytes).toBe(p.recommended!.peakMemoryBytes);
  });

  it('a model that fits no single GPU is priced sharded on multi-GPU rows, and the row says launch refuses it', () => {
    const model = decoderPresetConfig('llama-3.1-70b', 'causal-lm');
    const p = plan(input(model, [row('H100', 98, 8)], 'lora'));
    const r = p.rows[0]!;
    expect(r.fits).toBe(true);
    expect(r.sharding).toBe('fsdp');
    expect(r.reason).toMatch(/needs FSDP\/ZeRO-3 sharding.*ftplan run trains data-parallel replicas only/);
    expect(p.notes.join('\n')).toMatch(/launch` refuses them/);
  });
});

describe('--method auto on a small GPU', () => {
  it('QLoRA can win on a 24 GB GPU: the memory NF4 frees buys a larger micro-batch, which pays for the dequantisation', () => {
    const model = decoderPresetConfig('llama-3.1-8b', 'causal-lm');
    const c = compare(model, [row('L4', 0.8)]);
    const lora = c.choices.find((x) => x.method === 'lora')!.row!;
    const qlora = c.choices.find((x) => x.method === 'qlora')!.row!;
    expect(qlora.microBatch).toBeGreaterThan(lora.microBatch);
    expect(c.pick).toBe(qlora.costUsd < lora.costUsd ? 'qlora' : 'lora');
  });
});
