// The planner's arithmetic with hand-computed cases, the shipped price table, and the SkyPilot
// catalog importer on small catalogs with each cloud's quirks. The memory model against measured
// peaks is in test/native/memory-model.test.ts; the real SkyPilot catalogs in the data suite.
import { describe, expect, it } from 'vitest';
import { modelConfig } from '../../src/model/presets.js';
import { effectivePrice, freshness, loadCatalog, loadGpus, type PriceRow } from '../../src/pricing/catalog.js';
import { importSkypilot } from '../../src/pricing/skypilot.js';
import { parameterCount, trainingMemory, type ActivationModel } from '../../src/planner/memory.js';
import { instanceStep, matchGpu, peakFlops, type LocalMeasurement } from '../../src/planner/performance.js';
import { epochsRule, plan, SETUP_HOURS } from '../../src/planner/recommend.js';
import { tempDir } from '../helpers.js';
import { writeSkypilot } from '../fixtures.js';

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

  // Small catalogs in each cloud's own column order, one row per quirk, so every count is known.
  it('GCP: accelerator rows joined with their host VM zone by zone (a2-highgpu-1g = host + A100), zones folded, TPUs and host-less rows counted', () => {
    const file = writeSkypilot(tempDir('ftplan-sky-'), 'gcp', [
      'a2-highgpu-1g,12.0,85.0,,,,us-central1,us-central1-a,1.0,0.4',
      'a2-highgpu-1g,12.0,85.0,,,,us-central1,us-central1-b,1.1,0.45',
      'g2-standard-4,4.0,16.0,,,,europe-west4,europe-west4-a,0.7,0.28',
      ',,,A100,1,,us-central1,us-central1-a,2.67,1.4',
      ',,,A100,1,,us-central1,us-central1-b,2.6,1.35',
      ',,,A100,3,,us-central1,us-central1-a,8.0,4.0', // no host VM carries 3 A100s
      ',,,L4,1,,us-east1,us-east1-b,0.6,0.2', // no g2 host priced in that zone
      ',,,L4,1,,europe-west4,europe-west4-a,0.56,',
      ',,,tpu-v4-8,8,,us-central2,us-central2-b,12.88,3.9',
      'n2-standard-8,8.0,32.0,,,,us-central1,us-central1-a,0.39,0.1',
    ], 'InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice');
    const r = importSkypilot(file, 'gcp', { source: 'test', asOf: '2026-05-20' });
    expect(r.counts).toMatchObject({ rowsRead: 10, gcpAcceleratorRows: 6, gcpNoHost: 2, zonesFolded: 1, gpuNotPlanned: { TPU: 1 }, spotEmpty: 1, rowsKept: 2 });
    const a2 = r.rows.find((x) => x.instanceType === 'a2-highgpu-1g');
    // the cheapest zone's on-demand (1.0 + 2.67 in a, 1.1 + 2.6 in b) and the cheapest spot (0.4 + 1.4 in a, 0.45 + 1.35 in b)
    expect(a2).toMatchObject({ cloud: 'gcp', gpu: 'A100', gpuCount: 1, region: 'us-central1', price: 3.67, spotPrice: 1.8, vCPUs: 12, memoryGiB: 85, note: 'cheapest of 2 zones', source: 'test', asOf: '2026-05-20' });
    expect(r.rows.find((x) => x.gpu === 'L4')).toMatchObject({ instanceType: 'g2-standard-4', price: 1.26, spotPrice: null });
  });

  it('Azure: Generation "V1,V2" written unquoted is read by position; fractional GPUs, spot not below on-demand, short and CPU rows counted', () => {
    const file = writeSkypilot(tempDir('ftplan-sky-'), 'azure', [
      'Standard_D2_v5,,,2,8,,0.096,0.02,eastus,V1',
      'Standard_NC24ads_A100_v4,A100,1,24,220,,3.673,1.1,eastus,V1,V2',
      'Standard_NV6ads_A10_v5,A10,0.166666,6,55,,0.454,0.09,eastus,V2',
      'Standard_NC40ads_H100_v5,H100,1,40,320,,6.98,7.5,eastus,V2',
      'Standard_NC8as_T4_v3,T4',
    ], 'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,Generation');
    const r = importSkypilot(file, 'azure', { source: 'test', asOf: null });
    expect(r.counts).toMatchObject({ rowsRead: 5, extraFields: 1, shortRows: 1, noGpu: 1, fractionalGpu: 1, spotNotCheaper: 1, rowsKept: 2 });
    expect(r.rows.find((x) => x.gpu === 'A100')).toMatchObject({ instanceType: 'Standard_NC24ads_A100_v4', price: 3.673, spotPrice: 1.1, region: 'eastus' });
    // an NC…ads H100 is the PCIe card
    expect(r.rows.find((x) => x.instanceType === 'Standard_NC40ads_H100_v5')).toMatchObject({ gpu: 'H100-PCIe', spotPrice: null });
  });

  it('Lambda: no spot market (every spot empty); Vast: GPUs the planner has no data for are counted by name, quoted regions kept', () => {
    const lambda = importSkypilot(writeSkypilot(tempDir('ftplan-sky-'), 'lambda', [
      'gpu_1x_a100_sxm4,A100,1,30,200,1.29,us-east-1,,',
      'gpu_8x_h100_sxm5,H100,8,208,1800,23.92,us-east-1,,',
      'gpu_1x_a10,A10,1,30,200,0.75,us-west-1,,',
      'gpu_1x_gh200,GH200,1,64,432,1.49,us-east-3,,',
      'cpu_4x_generalx,,,4.0,16.0,0.2,europe-central-1,,',
    ], 'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice'), 'lambda', { source: 't', asOf: null });
    expect(lambda.counts).toMatchObject({ rowsKept: 3, spotEmpty: 3, noGpu: 1, gpuNotPlanned: { GH200: 1 } });
    expect(lambda.rows.find((x) => x.gpu === 'H100')).toMatchObject({ gpuCount: 8, price: 23.92, spotPrice: null });
    const vast = importSkypilot(writeSkypilot(tempDir('ftplan-sky-'), 'vast', [
      `1x-RTX_3090-16-32768,RTX3090,1,16,32.0,"{'Gpus': [{'Name': 'RTX3090', 'Count': 1, 'MemoryInfo': {'SizeInMiB': 24576}}]}",0.2,0.1,"Quebec, CA, NA"`,
      `2x-RTX_3090-32-65536,RTX3090,2,32,64.0,,0.4,0.2,"Quebec, CA, NA"`,
      `1x-H100_SXM-24-131072,H100,1,24,128.0,,1.9,1.2,"Texas, US, NA"`,
    ], 'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region'), 'vast', { source: 't', asOf: null });
    expect(vast.counts.gpuNotPlanned).toEqual({ RTX3090: 2 });
    expect(vast.rows).toHaveLength(1);
    expect(vast.rows[0]).toMatchObject({ gpu: 'H100', region: 'Texas, US, NA', price: 1.9, spotPrice: 1.2 });
  });

  it('every imported row satisfies the price table\'s rules: a known GPU, whole GPU counts, spot below on-demand', () => {
    const file = writeSkypilot(tempDir('ftplan-sky-'), 'aws', [
      'p4d.24xlarge,A100,8,96,1152,,32.77,12.1,us-east-1,us-east-1a',
      'p4d.24xlarge,A100,8,96,1152,,32.77,11.9,us-east-1,us-east-1b',
      'g5.xlarge,A10G,1,4,16,,1.006,1.2,us-east-1,us-east-1a',
      'g5.xlarge,A10G,1,4,16,,1.006,0.4,us-east-1,us-east-1a', // the same zone twice
      'g4dn.xlarge,T4,1,4,16,,-0.526,,us-east-1,us-east-1a',
    ]);
    const r = importSkypilot(file, 'aws', { source: 't', asOf: '2026-05-20' });
    expect(r.counts).toMatchObject({ duplicates: 1, negativePrice: 1, spotNotCheaper: 1, zonesFolded: 1, rowsKept: 2 });
    expect(r.rows.every((x) => (x.spotPrice === null || x.spotPrice < x.price) && Number.isInteger(x.gpuCount) && gpus[x.gpu])).toBe(true);
    expect(r.rows.find((x) => x.gpu === 'A100')).toMatchObject({ spotPrice: 11.9, note: 'cheapest of 2 zones' });
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
