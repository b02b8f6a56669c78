// The GPU table (pricing/gpus.json): every entry complete, its peaks dense and consistent, its source
// named; the GPUs people rent are there under the names SkyPilot's catalogs use, and the shipped
// price table prices them. The importer's mapping of those names is checked on small catalogs.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GPUS_FILE, loadCatalog, loadGpus } from '../../src/pricing/catalog.js';
import { importSkypilot, skypilotAccelerator } from '../../src/pricing/skypilot.js';
import { tempDir } from '../helpers.js';
import { writeSkypilot } from '../fixtures.js';

const gpus = loadGpus();
const RENTED = ['T4', 'V100', 'V100-32GB', 'L4', 'A10', 'A10G', 'RTX4090', 'A6000', 'L40', 'L40S', 'A100', 'A100-80GB', 'H100', 'H100-PCIe', 'H200', 'B200'];

describe('GPU table', () => {
  it('has the GPUs people rent, under the names SkyPilot gives them', () => {
    for (const name of RENTED) expect(gpus[name], name).toBeDefined();
  });

  it('every entry: memory, dense peaks, bandwidth and interconnect positive, and a source that names the datasheet and its figures', () => {
    for (const [name, g] of Object.entries(gpus)) {
      for (const v of [g.memoryGiB, g.fp16, g.fp32, g.memoryBandwidthGBs, g.interconnect.GBs]) expect(v, name).toBeGreaterThan(0);
      expect(g.interconnect.kind.length, name).toBeGreaterThan(3);
      expect(g.source, name).toMatch(/datasheet|whitepaper|specifications|A10 variant/i);
      // the source prints the figures taken from it: the fp32 peak and the bandwidth appear in it
      const printed = (n: number) => [String(n), n.toLocaleString('en-US')].some((s) => g.source.includes(s)) || g.source.includes(`${n / 1000} TB/s`);
      if (name !== 'A10G') {
        expect(printed(g.fp32), `${name} fp32 ${g.fp32} in its source`).toBe(true);
        expect(printed(g.memoryBandwidthGBs), `${name} bandwidth ${g.memoryBandwidthGBs} in its source`).toBe(true);
      }
    }
  });

  it('peaks are dense, not sparse: tf32 is half of bf16 on every tensor-core GPU that has both, fp16 equals bf16, and tensor peaks exceed fp32', () => {
    for (const [name, g] of Object.entries(gpus)) {
      expect(g.fp16, name).toBeGreaterThan(g.fp32);
      if (g.bf16 === null) {
        expect(g.tf32, `${name}: no bf16 means a pre-Ampere GPU, no tf32 either`).toBeNull();
        continue;
      }
      expect(g.bf16, name).toBe(g.fp16);
      expect(g.tf32! / g.bf16, name).toBeGreaterThan(0.45);
      expect(g.tf32! / g.bf16, name).toBeLessThan(0.55);
    }
  });

  it('the datasheet figures of the added GPUs', () => {
    expect(gpus.RTX4090).toMatchObject({ memoryGiB: 24, bf16: 165.2, fp32: 82.6, memoryBandwidthGBs: 1008 });
    expect(gpus.A6000).toMatchObject({ memoryGiB: 48, bf16: 154.8, fp32: 38.7, memoryBandwidthGBs: 768 });
    expect(gpus.L40).toMatchObject({ memoryGiB: 48, bf16: 181, fp32: 90.5, memoryBandwidthGBs: 864 });
    expect(gpus.V100).toMatchObject({ memoryGiB: 16, bf16: null, fp16: 125, fp32: 15.7, memoryBandwidthGBs: 900 });
    expect(gpus['V100-32GB']).toMatchObject({ memoryGiB: 32, bf16: null, fp16: 125 });
    expect(gpus.B200).toMatchObject({ memoryGiB: 180, bf16: 2250, tf32: 1100, fp32: 75, memoryBandwidthGBs: 7700 });
  });

  it('the file keeps its schema and note', () => {
    const raw = JSON.parse(readFileSync(GPUS_FILE, 'utf8'));
    expect(raw.schema).toBe('ftplan.gpus/1');
    expect(raw.note).toMatch(/Dense \(no sparsity\)/);
  });
});

describe('the shipped price table prices the added GPUs', () => {
  const { rows } = loadCatalog({ env: { FTPLAN_HOME: '/nonexistent' } });
  const where = (gpu: string) => new Set(rows.filter((r) => r.gpu === gpu).map((r) => r.cloud));
  it.each([
    ['V100', ['azure', 'gcp', 'lambda', 'vast']],
    ['V100-32GB', ['azure']],
    ['A6000', ['lambda', 'vast']],
    ['RTX4090', ['vast']],
    ['B200', ['gcp', 'lambda']],
  ])('%s: rows from %j, each with its source', (gpu, clouds) => {
    expect([...where(gpu)].sort()).toEqual(clouds);
    expect(rows.filter((r) => r.gpu === gpu).every((r) => r.source.includes('SkyPilot format') && r.price > 0)).toBe(true);
  });
});

describe('importing SkyPilot names of the added GPUs', () => {
  it("Vast's RTXA6000 is the A6000; RTX4090 and V100 keep their names", () => {
    const r = importSkypilot(writeSkypilot(tempDir('ftplan-sky-'), 'vast', [
      `2x-RTX_A6000-32-65536,RTXA6000,2,32,64.0,,0.80,0.00,"Romania, RO, EU"`,
      `1x-RTX_4090-32-65536,RTX4090,1,32,64.0,,0.40,0.00,"Sweden, SE, EU"`,
      `1x-Tesla_V100-32-65536,V100,1,32,64.0,,0.18,0.00,"The Netherlands, NL, EU"`,
    ], 'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region'), 'vast', { source: 't', asOf: null });
    expect(r.counts.gpuNotPlanned).toEqual({});
    expect(r.rows.map((x) => `${x.gpu}×${x.gpuCount}`).sort()).toEqual(['A6000×2', 'RTX4090×1', 'V100×1']);
  });

  it('GCP: V100 and T4 on the same n1 host in the same zone are two rows; B200 joins its a4 host listed at 0', () => {
    const r = importSkypilot(writeSkypilot(tempDir('ftplan-sky-'), 'gcp', [
      'n1-standard-8,8.0,30.0,,,,us-central1,us-central1-a,0.38,0.14',
      'a4-highgpu-8g,224.0,3968.0,,,,us-central1,us-central1-b,0.0,0.0',
      ',,,T4,1,,us-central1,us-central1-a,0.35,0.15',
      ',,,V100,1,,us-central1,us-central1-a,2.48,1.24',
      ',,,B200,8,,us-central1,us-central1-b,90.216,34.2368',
      ',,,B200,4,,us-central1,us-central1-b,45.1,17.1', // no a4 host carries 4
    ], 'InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice'), 'gcp', { source: 't', asOf: null });
    expect(r.counts).toMatchObject({ duplicates: 0, gcpNoHost: 1, rowsKept: 3 });
    expect(r.rows.find((x) => x.gpu === 'T4')).toMatchObject({ instanceType: 'n1-standard-8', price: 0.73, spotPrice: 0.29 });
    expect(r.rows.find((x) => x.gpu === 'V100')).toMatchObject({ instanceType: 'n1-standard-8', price: 2.86, spotPrice: 1.38 });
    // the a4 host is listed at 0 on-demand and 0 spot: the B200 row's own prices are the machine's
    expect(r.rows.find((x) => x.gpu === 'B200')).toMatchObject({ instanceType: 'a4-highgpu-8g', gpuCount: 8, price: 90.216, spotPrice: 34.2368, vCPUs: 224 });
  });

  it('Azure: V100-32GB (ND40rs_v2) and V100 (NC*s_v3) are told apart by their SkyPilot names', () => {
    const r = importSkypilot(writeSkypilot(tempDir('ftplan-sky-'), 'azure', [
      'Standard_ND40rs_v2,V100-32GB,8,40,672,V100-32GB,22.032,4.071514,eastus,V2',
      'Standard_NC6s_v3,V100,1,6,112,V100,3.06,0.6,eastus,V1,V2',
    ], 'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,Generation'), 'azure', { source: 't', asOf: null });
    expect(r.rows.map((x) => [x.instanceType, x.gpu, x.gpuCount])).toEqual([
      ['Standard_NC6s_v3', 'V100', 1],
      ['Standard_ND40rs_v2', 'V100-32GB', 8],
    ]);
  });

  it('a price table may sell one host type with different GPUs in one region, but not the same GPU twice', async () => {
    const { readCatalog } = await import('../../src/pricing/catalog.js');
    const dir = tempDir('ftplan-cat-');
    const head = 'cloud,instanceType,gpu,gpuCount,vCPUs,memoryGiB,region,price,spotPrice,source,asOf,note';
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir}/ok.csv`, `${head}\ngcp,n1-standard-8,T4,1,8,30,us-central1,0.73,,src here,2026-05-20,\ngcp,n1-standard-8,V100,1,8,30,us-central1,2.86,,src here,2026-05-20,\n`);
    expect(readCatalog(`${dir}/ok.csv`)).toHaveLength(2);
    writeFileSync(`${dir}/dup.csv`, `${head}\ngcp,n1-standard-8,T4,1,8,30,us-central1,0.73,,src here,2026-05-20,\ngcp,n1-standard-8,T4,1,8,30,us-central1,0.8,,src here,2026-05-20,\n`);
    expect(() => readCatalog(`${dir}/dup.csv`)).toThrow(/dup\.csv:3: duplicate row for gcp n1-standard-8 in us-central1/);
  });
});

describe('the accelerator name a SkyPilot task asks for', () => {
  it('is the catalog\'s own spelling on the cloud the row came from', () => {
    expect(skypilotAccelerator('A6000', 'vast')).toBe('RTXA6000');
    expect(skypilotAccelerator('A6000', 'lambda')).toBe('A6000');
    expect(skypilotAccelerator('H100-PCIe', 'azure')).toBe('H100');
    expect(skypilotAccelerator('RTX4090', 'vast')).toBe('RTX4090');
    expect(skypilotAccelerator('A6000', null)).toBe('A6000');
  });
});
