// The planner's arithmetic with hand-computed cases, the memory model against measured peaks and
// the GPT-2 sizes, and the catalog importer on the real SkyPilot catalogs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { modelConfig } from '../src/model/presets.js';
import { loadNative } from '../src/native.js';
import { effectivePrice, freshness, loadCatalog, loadGpus, readCatalog, type PriceRow } from '../src/pricing/catalog.js';
import { importSkypilot } from '../src/pricing/skypilot.js';
import { fitMicroBatch, parameterCount, trainingMemory, type ActivationModel } from '../src/planner/memory.js';
import { instanceStep, matchGpu, peakFlops, type LocalMeasurement } from '../src/planner/performance.js';
import { epochsRule, plan, SETUP_HOURS } from '../src/planner/recommend.js';
import { DATA } from './data.js';

const SOURCES = join(DATA, 'pricing-sources');
const gpus = loadGpus();

describe('memory fit', () => {
  it('parameter counts match HF for the four GPT-2 sizes (+ a 3-class head)', () => {
    expect(parameterCount(modelConfig('gpt2'))).toBe(124_439_808 + 768 * 3);
    expect(parameterCount(modelConfig('gpt2-xl'))).toBe(1_557_611_200 + 1600 * 3);
  });

  const act = (perLayer: number, base = 0): ActivationModel => ({ seqLen: 128, perSamplePerLayer: perLayer, perSampleBase: base, measuredOn: 'test', dtype: 'fp32' });

  it('hand-computed: gpt2 states are 16 bytes/param; the peak is the larger of forward and optimizer', () => {
    const cfg = modelConfig('gpt2');
    const P = parameterCount(cfg);
    const m1 = trainingMemory(cfg, act(1_000_000), 1);
    expect(m1.statesBytes).toBe(16 * P);
    expect(m1.peakAt).toBe('optimizer'); // 12P + 12 MB < 16P + 2 × wte
    expect(m1.peakBytes).toBe(16 * P + 2 * 50257 * 768 * 4);
    const m128 = trainingMemory(cfg, act(1_000_000), 128);
    expect(m128.peakAt).toBe('forward');
    expect(m128.peakBytes).toBe(12 * P + 128 * 12 * 1_000_000);
  });

  it('gpt2-xl in fp32 AdamW does not fit a 24 GB GPU at any batch; gpt2 fits a 16 GB T4', async () => {
    const addon = loadNative();
    const probe = async (name: string) => {
      const cfg = modelConfig(name);
      const p = await addon.probeActivations({ model: cfg, seqLen: 128, threads: 2 });
      return { cfg, act: { ...p, seqLen: 128, measuredOn: 'cpu', dtype: 'fp32' as const } };
    };
    const xl = await probe('gpt2-xl'); // the probe uses 1- and 2-block twins: it runs here though xl does not
    const onL4 = fitMicroBatch(xl.cfg, xl.act, gpus.L4!.memoryGiB, 16);
    expect(onL4.fits).toBe(false);
    expect(onL4.reason).toMatch(/23\.2 GiB of it weights, gradients and AdamW states/);
    expect(fitMicroBatch(xl.cfg, xl.act, gpus['A100-80GB']!.memoryGiB, 16).fits).toBe(true);
    const small = await probe('gpt2');
    const onT4 = fitMicroBatch(small.cfg, small.act, gpus.T4!.memoryGiB, 16);
    expect(onT4).toMatchObject({ fits: true, microBatch: 16, gradAccum: 1 });
    // a batch that does not fit at once is split with accumulation, keeping the effective batch
    const big = fitMicroBatch(small.cfg, small.act, gpus.T4!.memoryGiB, 512);
    expect(big.fits).toBe(true);
    expect(big.microBatch * big.gradAccum).toBeGreaterThanOrEqual(512);
    expect(big.gradAccum).toBeGreaterThan(1);
    expect(trainingMemory(small.cfg, small.act, big.microBatch).peakBytes).toBeLessThanOrEqual(big.usableBytes);
  }, 120_000);

  it('predicts the peak measured on the full model here within 10% (gpt2, batch 16 × 100 tokens)', async () => {
    const addon = loadNative();
    const cfg = modelConfig('gpt2');
    const probe = await addon.probeActivations({ model: cfg, seqLen: 100, threads: 2 });
    const r = await addon.benchmark({ model: cfg, batchSize: 2, seqLen: 16, steps: 1, warmupSteps: 0, threads: 2, probeBatchSizes: [16], probeSeqLen: 100 });
    const measured = r.probe[0]!.peakBytes;
    const predicted = trainingMemory(cfg, { ...probe, seqLen: 100, measuredOn: 'cpu', dtype: 'fp32' }, 16).peakBytes;
    expect(Math.abs(predicted - measured) / measured).toBeLessThan(0.1);
  }, 120_000);
});

describe('performance model', () => {
  const m: LocalMeasurement = {
    device: 'cpu',
    deviceName: 'AMD EPYC',
    dtype: 'bf16',
    stepMs: 2000,
    tokensPerStep: 576,
    flopsPerToken: 5e8,
    achievedFlops: 1e11,
    parameters: 124e6,
    nLayer: 12,
    evalTokensPerSec: null,
    tokensPerSec: 288,
  };

  it('recognises CUDA device names', () => {
    expect(matchGpu('NVIDIA H200', gpus)).toBe('H200');
    expect(matchGpu('NVIDIA H100 80GB HBM3', gpus)).toBe('H100');
    expect(matchGpu('NVIDIA H100 PCIe', gpus)).toBe('H100-PCIe');
    expect(matchGpu('NVIDIA A100-SXM4-80GB', gpus)).toBe('A100-80GB');
    expect(matchGpu('Tesla T4', gpus)).toBe('T4');
    expect(matchGpu('AMD EPYC', gpus)).toBeNull();
  });

  it('T4 has no bf16: bf16 autocast is priced at its fp32 peak', () => {
    expect(peakFlops(gpus.T4!, 'bf16')).toBe(8.1e12);
    expect(peakFlops(gpus.H100!, 'bf16')).toBe(989e12);
  });

  it('hand-computed analytic step on one H100, and the all-reduce on 8', () => {
    const one = instanceStep(m, gpus.H100!, 1, 576, 1, gpus);
    const eff = 0.45 * (576 / (576 + 4 * 989));
    expect(one.basis).toBe('analytic');
    expect(one.efficiency).toBeCloseTo(eff, 12);
    expect(one.computeMs).toBeCloseTo(((5e8 * 576) / (989e12 * eff)) * 1000, 9);
    expect(one.optimizerMs).toBeCloseTo(((32 * 124e6) / 3350e9) * 1000, 12);
    expect(one.allReduceMs).toBe(0);
    expect(one.scalingEfficiency).toBe(1);
    const eight = instanceStep(m, gpus.H100!, 8, 72, 1, gpus);
    // ring over the published NVLink figure; each of the 25 MB buckets pays 2(N-1) hops of latency
    const ring = (2 * 7) / 8 * ((4 * 124e6) / 900e9) * 1000 + Math.ceil((4 * 124e6) / (25 * 2 ** 20)) * 0.05 * 14;
    expect(eight.allReduceMs).toBeCloseTo(ring, 12);
    expect(eight.scalingEfficiency).toBeLessThan(1);
    expect(eight.tokensPerSec).toBeCloseTo((8 * 72 / eight.stepMs) * 1000, 9);
  });

  it('measured on a GPU: efficiency carries over (extrapolated), and the same GPU and shape is "measured"', () => {
    const onH200 = { ...m, device: 'cuda:0', deviceName: 'NVIDIA H200', achievedFlops: 0.3 * 989e12, stepMs: 10, tokensPerSec: 57_600 };
    const same = instanceStep(onH200, gpus.H200!, 1, 576, 1, gpus);
    expect(same.basis).toBe('measured');
    expect(same.stepMs).toBe(10);
    const other = instanceStep(onH200, gpus.A100!, 1, 576, 1, gpus);
    expect(other.basis).toBe('extrapolated');
    expect(other.stepMs).toBeGreaterThan(same.stepMs);
  });
});

describe('recommendation', () => {
  const row = (over: Partial<PriceRow>): PriceRow => ({
    cloud: 'gcp', instanceType: 'x', gpu: 'A100', gpuCount: 1, vCPUs: null, memoryGiB: null, region: 'r', price: 2, spotPrice: 1, source: 'test', asOf: '2026-11-01', note: '', ...over,
  });
  const base = {
    measurement: { device: 'cpu', deviceName: 'cpu', dtype: 'fp32' as const, stepMs: 1000, tokensPerStep: 576, flopsPerToken: 5e8, achievedFlops: 1e11, parameters: 124e6, nLayer: 12, evalTokensPerSec: null, tokensPerSec: 576 },
    model: modelConfig('gpt2'),
    activation: { seqLen: 100, perSamplePerLayer: 7e6, perSampleBase: 1e6, measuredOn: 'test', dtype: 'fp32' as const },
    gpus,
    trainRows: 27_481,
    evalRows: 3_534,
    trainTokensPerEpoch: 1e6,
    evalTokensPerEpoch: 1.5e5,
    meanSeqLen: 36,
    batchSize: 16,
    objective: 'cost' as const,
    spot: false,
    maxAgeDays: 90,
    now: new Date('2026-11-28T00:00:00Z'),
  };

  it('hours, cost and the pick: hand-checked against the row\'s own throughput', () => {
    const p = plan({ ...base, rows: [row({ instanceType: 'cheap', gpu: 'T4', price: 0.5 }), row({ instanceType: 'fast', gpu: 'H100', price: 5 })] });
    expect(p.epochs).toBe(3);
    expect(p.stepsPerEpoch).toBe(1_718);
    for (const r of p.rows) {
      const perEpoch = 1e6 / r.tokensPerSec / 3600 + 1.5e5 / (r.tokensPerSec * 3) / 3600;
      expect(r.hours).toBeCloseTo(SETUP_HOURS + 3 * perEpoch, 10);
      expect(r.costUsd).toBeCloseTo(r.hours * r.pricePerHour, 10);
    }
    expect(p.rows.filter((r) => r.recommended)).toHaveLength(1);
    expect(p.recommended).toBe(p.rows[0]);
    const byTime = plan({ ...base, objective: 'time', rows: [row({ instanceType: 'cheap', gpu: 'T4', price: 0.5 }), row({ instanceType: 'fast', gpu: 'H100', price: 5 })] });
    expect(byTime.recommended?.instance).toBe('fast');
    expect(byTime.recommended!.hours).toBeLessThan(byTime.rows[1]!.hours);
    expect(p.pilot!.hours).toBeCloseTo(SETUP_HOURS + 0.1 * ((p.recommended!.hours - SETUP_HOURS) / 3), 10);
  });

  it('--budget and --deadline make rows infeasible and say why; spot prices are used when asked', () => {
    const rows = [row({ instanceType: 'a', price: 1 }), row({ instanceType: 'b', price: 100, gpuCount: 8, gpu: 'H100' })];
    const p = plan({ ...base, rows, budget: 1, epochs: 3 });
    for (const r of p.rows) {
      if (r.costUsd > 1) expect(r).toMatchObject({ feasible: false, reason: expect.stringMatching(/^over budget: \$\d+\.\d\d > \$1$/) });
    }
    const d = plan({ ...base, rows, deadline: 0.0001 });
    expect(d.recommended).toBeNull();
    expect(d.rows.every((r) => !r.feasible && /past the deadline/.test(r.reason))).toBe(true);
    const s = plan({ ...base, rows, spot: true });
    expect(s.rows.find((r) => r.instance === 'a')?.pricePerHour).toBe(1);
    expect(effectivePrice(rows[0]!, true)).toBe(1);
  });

  it('epochs: the rule from data set size, capped by the budget', () => {
    expect(epochsRule(27_481).epochs).toBe(3);
    expect(epochsRule(5_000).epochs).toBe(4);
    expect(epochsRule(999).epochs).toBe(10);
    const rows = [row({ instanceType: 'a', gpu: 'T4', price: 10 })];
    const free = plan({ ...base, rows, trainRows: 500 });
    expect(free.epochs).toBe(10);
    const perEpoch = (free.rows[0]!.hours - SETUP_HOURS) / 10;
    const budget = 10 * (SETUP_HOURS + 4.5 * perEpoch); // buys 4 whole epochs
    const capped = plan({ ...base, rows, trainRows: 500, budget });
    expect(capped.epochs).toBe(4);
    expect(capped.epochsBasis).toMatch(/10 → 4 to stay within the \$/);
  });

  it('a model that fits no GPU: no pick, and the reason', () => {
    const p = plan({ ...base, model: modelConfig('gpt2-xl'), rows: [row({ gpu: 'L4' })] });
    expect(p.recommended).toBeNull();
    expect(p.rows[0]).toMatchObject({ fits: false, feasible: false });
    expect(p.notes.join(' ')).toMatch(/does not fit any GPU/);
  });
});

describe('price catalogs', () => {
  const now = new Date('2026-11-28T00:00:00Z');

  it('the shipped table validates; every row has a source, and an as-of date or an explicit none', () => {
    const { rows } = loadCatalog({ env: { FTPLAN_HOME: '/nonexistent' } });
    expect(rows.length).toBeGreaterThan(500);
    expect(rows.every((r) => r.source.length > 10 && (r.asOf === null || /^\d{4}-\d{2}-\d{2}$/.test(r.asOf)))).toBe(true);
    expect(new Set(rows.map((r) => r.cloud))).toEqual(new Set(['aws', 'gcp', 'azure', 'lambda', 'runpod', 'vast']));
    expect(rows.every((r) => gpus[r.gpu])).toBe(true);
    expect(freshness(rows.find((r) => r.cloud === 'gcp')!, now, 90)).toBe('stale');
    expect(freshness(rows.find((r) => r.cloud === 'aws')!, now, 90)).toBe('undated');
  });

  it('the shipped rows for the hand-checked price points equal them', () => {
    const { rows } = loadCatalog({ env: { FTPLAN_HOME: '/nonexistent' } });
    const points = parse(readFileSync(join(SOURCES, 'price_points.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    const checked = points.filter((p) => Number(p.accelerator_count) > 0);
    let compared = 0;
    for (const p of checked) {
      const instance = p.instance_type!.replace(/ \(VM \+ GPUs.*\)$/, '');
      if (instance.startsWith('(')) continue; // an accelerator-only row: part of the sum row after it
      const region = p.cloud === 'runpod' ? p.region : p.region;
      const r = rows.find((x) => x.cloud === p.cloud && x.instanceType === instance && (x.region === region || p.cloud === 'runpod'));
      expect(r, `${p.cloud} ${instance} ${region}`).toBeDefined();
      expect(r!.price).toBeCloseTo(Number(p.ondemand_usd_per_hr), 6);
      if (p.spot_usd_per_hr) expect(r!.spotPrice).toBeCloseTo(Number(p.spot_usd_per_hr), 6);
      else expect(r!.spotPrice).toBeNull();
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(12);
  });

  const imports: [string, (c: ReturnType<typeof importSkypilot>['counts']) => void][] = [
    ['gcp', (c) => {
      expect(c.gcpAcceleratorRows).toBe(2_395);
      expect(c.gcpAcceleratorRows - c.gcpNoHost).toBeGreaterThan(2_000);
      expect(c.gpuNotPlanned.TPU).toBeGreaterThan(0);
      expect(c.zonesFolded).toBeGreaterThan(0);
    }],
    ['azure', (c) => {
      expect(c.extraFields).toBe(27_141); // Generation "V1,V2" unquoted
      expect(c.fractionalGpu).toBe(108);
      expect(c.spotNotCheaper).toBeGreaterThan(0);
    }],
    ['lambda', (c) => expect(c.spotEmpty).toBe(c.rowsKept)],
    ['vast', (c) => expect(c.gpuNotPlanned.RTX4090).toBe(12)],
  ];
  for (const [cloud, check] of imports) {
    it(`imports SkyPilot's ${cloud} catalog as it is, quirks handled and counted`, () => {
      const r = importSkypilot(join(SOURCES, 'skypilot-format', cloud, 'vms.csv'), cloud, { source: 'test', asOf: '2026-05-20' });
      expect(r.rows.length).toBeGreaterThan(10);
      expect(r.rows.every((x) => x.spotPrice === null || x.spotPrice < x.price)).toBe(true);
      expect(r.rows.every((x) => Number.isInteger(x.gpuCount) && gpus[x.gpu])).toBe(true);
      check(r.counts);
    });
  }

  it('GCP: accelerator rows are joined with their host VMs (a2-highgpu-1g = host + A100)', () => {
    const r = importSkypilot(join(SOURCES, 'skypilot-format', 'gcp', 'vms.csv'), 'gcp', { source: 't', asOf: null });
    const a2 = r.rows.find((x) => x.instanceType === 'a2-highgpu-1g' && x.region === 'us-central1');
    expect(a2).toMatchObject({ gpu: 'A100', gpuCount: 1, price: 3.67339, spotPrice: 1.80385 });
  });

  it('RunPod\'s column order and GpuInfo unit bug; spot equal to on-demand is not a spot offer', () => {
    const csv = [
      'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Region,SpotPrice,Price,AvailabilityZone,GpuInfo',
      `1x_A100-80GB_SECURE,A100-80GB,1,8,117,US,1.39,1.39,US-CA-1,"{'Gpus': [{'Name': 'A100-80GB', 'Count': 1, 'MemoryInfo': {'SizeInMiB': 80}}]}"`,
      `1x_H100_SECURE,H100,1,16,125,US,2.10,2.99,US-GA-1,"{'Gpus': [{'Name': 'H100', 'Count': 1, 'MemoryInfo': {'SizeInMiB': 80}}]}"`,
    ].join('\n');
    const r = importSkypilot('runpod.csv', 'runpod', { source: 't', asOf: '2026-01-01' }, csv);
    expect(r.counts.gpuInfoGbAsMib).toBe(2);
    expect(r.counts.spotNotCheaper).toBe(1);
    expect(r.rows.find((x) => x.instanceType === '1x_H100_SECURE')).toMatchObject({ price: 2.99, spotPrice: 2.1 });
  });
});
