// The real price data (FTPLAN_DATA/pricing-sources): the shipped table's rows equal the hand-checked
// price points, and SkyPilot's real catalogs import as they are, quirks handled and counted.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { loadCatalog, loadGpus } from '../../src/pricing/catalog.js';
import { importSkypilot } from '../../src/pricing/skypilot.js';
import { PRICING_SOURCES as SOURCES } from '../real-data.js';

const gpus = loadGpus();

describe('price catalogs (real)', () => {
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
    ['vast', (c) => expect(c.gpuNotPlanned.RTX5090).toBe(11)],
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

  it('the GPUs people rent beyond the A100/H100 class import under their planner names', () => {
    const imported = (cloud: string) => new Set(importSkypilot(join(SOURCES, 'skypilot-format', cloud, 'vms.csv'), cloud, { source: 't', asOf: null }).rows.map((x) => x.gpu));
    const gcp = imported('gcp');
    const azure = imported('azure');
    const lambda = imported('lambda');
    const vast = imported('vast');
    for (const g of ['V100', 'B200']) expect(gcp.has(g), `gcp ${g}`).toBe(true);
    for (const g of ['V100', 'V100-32GB']) expect(azure.has(g), `azure ${g}`).toBe(true);
    for (const g of ['V100', 'A6000', 'B200']) expect(lambda.has(g), `lambda ${g}`).toBe(true);
    for (const g of ['V100', 'A6000', 'RTX4090', 'L40S']) expect(vast.has(g), `vast ${g}`).toBe(true);
  });

  it('GCP: accelerator rows are joined with their host VMs (a2-highgpu-1g = host + A100)', () => {
    const r = importSkypilot(join(SOURCES, 'skypilot-format', 'gcp', 'vms.csv'), 'gcp', { source: 't', asOf: null });
    const a2 = r.rows.find((x) => x.instanceType === 'a2-highgpu-1g' && x.region === 'us-central1');
    expect(a2).toMatchObject({ gpu: 'A100', gpuCount: 1, price: 3.67339, spotPrice: 1.80385 });
  });

});
