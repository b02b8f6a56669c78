// ftplan pricing and the plan in ftplan estimate, as a user runs them; reports for budgeting
// reviews, the HTML one opened in headless Chromium.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readEstimate } from '../../src/measure/read.js';
import { labelledDataset, writeSkypilot } from '../fixtures.js';
import { ftplan as cli, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-plan-');
const HOME = tmp(); // no imported catalogs unless a test imports one
const ftplan = (args: string[], env: Record<string, string> = {}) => cli(args, { env: { FTPLAN_HOME: HOME, ...env } });

/**
 * A SkyPilot Lambda catalog in SkyPilot's own column order: 6 GPU rows the planner knows (one of
 * them in two regions), 2 of GPUs it has no data for, 1 CPU-only row.
 */
function lambdaCatalog(dir: string): string {
  return writeSkypilot(dir, 'lambda', [
    'gpu_1x_a100_sxm4,A100,1,30,200,1.29,us-east-1,,',
    'gpu_1x_a100_sxm4,A100,1,30,200,1.29,us-west-2,,',
    'gpu_8x_a100_80gb_sxm4,A100-80GB,8,240,1800,14.32,us-east-1,,',
    'gpu_1x_h100_pcie,H100,1,26,200,2.49,us-west-3,,',
    'gpu_8x_h100_sxm5,H100,8,208,1800,23.92,us-east-1,,',
    'gpu_1x_a10,A10,1,30,200,0.75,us-west-1,,',
    'gpu_1x_gh200,GH200,1,64,432,1.49,us-east-3,,',
    'gpu_1x_rtx6000,RTX6000,1,14,46,0.5,us-south-1,,',
    'cpu_4x_generalx,,,4.0,16.0,0.2,europe-central-1,,',
  ], 'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice');
}

describe('ftplan pricing', () => {
  it('--gpu H100 --json lists H100 rows from at least 4 clouds, each with source and date, cheapest first', () => {
    const r = ftplan(['pricing', '--gpu', 'H100', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schema).toBe('ftplan.pricing/1');
    const clouds = new Set(j.rows.map((x: { cloud: string }) => x.cloud));
    expect(clouds.size).toBeGreaterThanOrEqual(4);
    expect(j.rows.every((x: { gpu: string; source: string; asOf: string | null }) => x.gpu.startsWith('H100') && x.source && 'asOf' in x)).toBe(true);
    const prices = j.rows.map((x: { pricePerHour: number }) => x.pricePerHour);
    expect(prices).toEqual([...prices].sort((a, b) => a - b));
  });

  it('filters: cloud, region, GPU count, spot', () => {
    const j = JSON.parse(ftplan(['pricing', '--cloud', 'gcp', '--region', 'us-central1', '--gpus', '8', '--spot', '--json']).stdout);
    expect(j.rows.length).toBeGreaterThan(0);
    expect(j.rows.every((x: { cloud: string; region: string; gpuCount: number; spotPrice: number; pricePerHour: number }) => x.cloud === 'gcp' && x.region.includes('us-central1') && x.gpuCount === 8 && x.pricePerHour === x.spotPrice)).toBe(true);
  });

  it('flags prices older than --max-age-days, and undated ones', () => {
    const r = ftplan(['pricing', '--gpu', 'A10G']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/undated/);
    expect(r.stdout).toMatch(/warning: \d+ of these prices are older than 90 days or undated/);
  });

  it('pricing import: a SkyPilot vms.csv replaces the shipped rows of its cloud, with its date, and says what it did', () => {
    const home = tmp();
    const r = ftplan(['pricing', 'import', lambdaCatalog(tmp()), '--cloud', 'lambda', '--as-of', '2026-11-20'], { FTPLAN_HOME: home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/imported 6 lambda rows \(9 read\)/);
    expect(r.stdout).toMatch(/GPUs the planner has no data for: GH200 1, RTX6000 1/);
    expect(existsSync(join(home, 'catalogs', 'lambda.csv'))).toBe(true);
    const j = JSON.parse(ftplan(['pricing', '--cloud', 'lambda', '--json'], { FTPLAN_HOME: home }).stdout);
    expect(j.rows.every((x: { asOf: string; freshness: string }) => x.asOf === '2026-11-20' && x.freshness === 'fresh')).toBe(true);
    expect(j.sources.map((s: { kind: string }) => s.kind)).toEqual(['shipped', 'imported']);
  });

  it('--catalog takes a SkyPilot vms.csv as it is (cloud from its folder or named)', () => {
    const lambda = lambdaCatalog(tmp());
    const j = JSON.parse(ftplan(['pricing', '--catalog', lambda, '--gpu', 'A100', '--json']).stdout);
    expect(j.rows).toHaveLength(3); // A100 in two regions, A100-80GB
    expect(j.rows.every((x: { cloud: string; source: string }) => x.cloud === 'lambda' && x.source === lambda)).toBe(true);
    expect(j.sources).toEqual([{ file: lambda, rows: 6, kind: '--catalog' }]);
    const copy = join(tmp(), 'vms.csv');
    writeFileSync(copy, readFileSync(writeSkypilot(tmp(), 'vast', [`1x-H100_SXM-24-131072,H100,1,24,128.0,,1.9,1.2,"Texas, US, NA",`])));
    const unnamed = ftplan(['pricing', '--catalog', copy]);
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr).toMatch(/a SkyPilot catalog, but its cloud is not known from its folder/);
    expect(unnamed.stderr).toMatch(/--catalog gcp=/);
    const named = JSON.parse(ftplan(['pricing', '--catalog', `vast=${copy}`, '--json']).stdout);
    expect(named.rows.every((x: { cloud: string }) => x.cloud === 'vast')).toBe(true);
  });

  const brokenTables: [string, string, RegExp][] = [
    ['a negative price', 'cloud,instanceType,gpu,gpuCount,vCPUs,memoryGiB,region,price,spotPrice,source,asOf,note\ngcp,x,A100,1,,,r,-1,,src here,2026-01-01,\n', /:2: price: Too small/],
    ['a missing price', 'cloud,instanceType,gpu,gpuCount,vCPUs,memoryGiB,region,price,spotPrice,source,asOf,note\ngcp,x,A100,1,,,r,,,src here,2026-01-01,\n', /:2: price/],
    ['an unknown cloud', 'cloud,instanceType,gpu,gpuCount,vCPUs,memoryGiB,region,price,spotPrice,source,asOf,note\nibm,x,A100,1,,,r,1,,src here,2026-01-01,\n', /:2: cloud/],
    ['duplicate rows', 'cloud,instanceType,gpu,gpuCount,vCPUs,memoryGiB,region,price,spotPrice,source,asOf,note\ngcp,x,A100,1,,,r,1,,src here,2026-01-01,\ngcp,x,A100,1,,,r,2,,src here,2026-01-01,\n', /:3: duplicate row for gcp x in r/],
    ['wrong columns', 'name,cost\nx,1\n', /is not an ftplan catalog \(missing columns: cloud/],
    ['a SkyPilot file whose cloud is unknown', 'InstanceType,AcceleratorName,AcceleratorCount,Price,Region\nx,A100,1,1,r\n', /a SkyPilot catalog, but its cloud is not known from its folder/],
    ['a bad date', 'cloud,instanceType,gpu,gpuCount,vCPUs,memoryGiB,region,price,spotPrice,source,asOf,note\ngcp,x,A100,1,,,r,1,,src here,May 2026,\n', /:2: asOf/],
  ];
  for (const [what, csv, message] of brokenTables) {
    it(`a price table with ${what}: exit 2, the file and the fix`, () => {
      const f = join(tmp(), 'prices.csv');
      writeFileSync(f, csv);
      const r = ftplan(['pricing', '--catalog', f]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(f);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/fix:/);
    });
  }

  it('import of something that is not a SkyPilot catalog', () => {
    const f = join(tmp(), 'vms.csv');
    writeFileSync(f, 'a,b\n1,2\n');
    const r = ftplan(['pricing', 'import', f, '--cloud', 'gcp']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a SkyPilot vms.csv \(missing columns: InstanceType/);
  });
});

let measurementFile = '';
let estimate: {
  plan: { rows: Record<string, unknown>[]; recommended: Record<string, unknown> | null; epochs: number; arithmetic: string[]; schema: string };
  measurement: Record<string, unknown>;
};

// The plan for the tiny preset on the tweet data's shipped profile (a gpt2 measurement takes minutes
// of CPU; the plan's arithmetic does not depend on the model's size). Budgets and deadlines below are
// taken from the plan's own rows, so some rows pass them and some do not.
/** A value between the middle two distinct values of xs, as a flag (some of xs above it, some below). */
const between = (xs: number[]) => {
  const u = [...new Set(xs)].sort((a, b) => a - b);
  const i = Math.floor(u.length / 2);
  return Number(((u[i - 1]! + u[i]!) / 2).toPrecision(6));
};

describe('the plan in ftplan estimate', () => {
  beforeAll(() => {
    const r = ftplan(['estimate', '--model', 'tiny', '--steps', '2', '--min-time', '0', '--threads', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    estimate = JSON.parse(r.stdout);
    measurementFile = join(tmp(), 'estimate.json');
    writeFileSync(measurementFile, r.stdout);
  }, 300_000);

  it('--json (defaults) returns plan rows with the fields a budget review needs, and one recommended row', () => {
    const p = estimate.plan;
    expect(p.schema).toBe('ftplan.plan/1');
    expect(p.epochs).toBe(3);
    expect(p.rows.length).toBeGreaterThan(100);
    for (const k of ['cloud', 'instance', 'gpus', 'region', 'pricePerHour', 'hours', 'costUsd', 'microBatch', 'gradAccum', 'fits', 'basis']) {
      expect(p.rows[0]).toHaveProperty(k);
    }
    expect(p.rows.filter((x) => x.recommended)).toHaveLength(1);
    expect(p.recommended).toMatchObject({ recommended: true, fits: true, feasible: true, basis: 'analytic' });
    expect(estimate.measurement.activation).toMatchObject({ seqLen: 100 }); // the tweets' longest row
  });

  it('--budget makes every row above it infeasible and says so', () => {
    const budget = between(estimate.plan.rows.filter((x) => x.fits).map((x) => x.costUsd as number));
    const r = ftplan(['estimate', '--measurement', measurementFile, '--budget', String(budget), '--json'], { FTPLAN_NATIVE: '/nonexistent/ftplan.node' });
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout).plan.rows as { costUsd: number; feasible: boolean; reason: string; fits: boolean }[];
    const over = rows.filter((x) => x.costUsd > budget);
    expect(over.length).toBeGreaterThan(0);
    expect(over.every((x) => !x.feasible && /^over budget/.test(x.reason))).toBe(true);
    const under = rows.filter((x) => x.costUsd <= budget && x.fits);
    expect(under.filter((x) => x.feasible).length).toBeGreaterThan(0);
    // the budget rules none of them out (a row may still be infeasible for its own reason, e.g. a
    // 5-GPU instance the batch does not split over)
    expect(under.filter((x) => !x.feasible).map((x) => x.reason).filter((r) => /budget/.test(r))).toEqual([]);
  });

  it('--deadline likewise, and re-planning needs no LibTorch (--measurement, with the addon missing)', () => {
    const deadline = String(between(estimate.plan.rows.filter((x) => x.fits).map((x) => x.hours as number)));
    const r = ftplan(['estimate', '--measurement', measurementFile, '--deadline', deadline, '--objective', 'time', '--json'], { FTPLAN_NATIVE: '/nonexistent/ftplan.node' });
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout).plan.rows as { hours: number; feasible: boolean; reason: string; fits: boolean }[];
    const late = rows.filter((x) => x.fits && x.hours > Number(deadline));
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((x) => !x.feasible && x.reason.startsWith('past the deadline: ') && x.reason.endsWith(` h > ${Number(deadline)} h`))).toBe(true);
    expect(rows.some((x) => x.fits && x.feasible)).toBe(true);
    const table = ftplan(['estimate', '--measurement', measurementFile, '--deadline', deadline, '--objective', 'time'], { FTPLAN_NATIVE: '/nonexistent/ftplan.node' });
    expect(table.stdout).toContain(`by time, deadline ${Number(deadline)} h`);
  });

  it('writes Markdown and HTML reports; the HTML chart renders in headless Chromium', () => {
    const dir = tmp();
    const md = join(dir, 'plan.md');
    const html = join(dir, 'plan.html');
    const r = ftplan(['estimate', '--measurement', measurementFile, '--report', md, '--report', html]);
    expect(r.code).toBe(0);
    const text = readFileSync(md, 'utf8');
    expect(text).toMatch(/^# Fine-tuning plan: tiny on mteb\/tweet_sentiment_extraction/);
    expect(text).toMatch(/\| ★ \|/);
    const png = join(dir, 'plan.png');
    const chrome = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`, '--window-size=1000,900', `--screenshot=${png}`, `file://${html}`], { encoding: 'utf8', timeout: 120_000 });
    expect(chrome.status, chrome.stderr).toBe(0);
    const img = PNG.sync.read(readFileSync(png));
    // the pick is a red (#e53935) disc in the chart; the other instances are coloured by cloud
    let red = 0;
    let blue = 0;
    for (let i = 0; i < img.data.length; i += 4) {
      const [R, G, B] = [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
      if (Math.abs(R - 0xe5) < 12 && Math.abs(G - 0x39) < 12 && Math.abs(B - 0x35) < 12) red++;
      if (B > 180 && R < 120 && G > 100 && G < 170) blue++; // GCP/Azure points
    }
    expect(red).toBeGreaterThan(100);
    expect(blue).toBeGreaterThan(50);
  }, 180_000);

  it('a price row for a GPU without data is left out of plans and said so', () => {
    const f = join(tmp(), 'prices.csv');
    writeFileSync(f, 'cloud,instanceType,gpu,gpuCount,vCPUs,memoryGiB,region,price,spotPrice,source,asOf,note\ngcp,x,A100,1,,,r,1,,src here,2026-11-01,\ngcp,y,MI300X,1,,,r,1,,src here,2026-11-01,\n');
    const m = join(tmp(), 'm.json');
    writeFileSync(m, readFileSync(measurementFile));
    const r = ftplan(['estimate', '--measurement', m, '--catalog', f, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.plan.rows).toHaveLength(1);
    expect(j.plan.notes.join(' ')).toMatch(/1 price rows name GPUs pricing\/gpus.json has no data for/);
  });

  it('a saved estimate: the calibration it applied is read back; a damaged one is an error naming the file and the fix', () => {
    const saved = JSON.parse(readFileSync(measurementFile, 'utf8'));
    const write = (calibration: unknown) => {
      const f = join(tmp(), 'e.json');
      writeFileSync(f, JSON.stringify({ ...saved, calibration }));
      return f;
    };
    expect(readEstimate(write({ used: false })).calibration).toBeNull();
    expect(readEstimate(write({ used: true, ratio: 0.9, runs: 2, file: 'x' })).calibration).toEqual({ ratio: 0.9, runs: 2 });
    expect(readEstimate(write({ used: true, ratio: 0.9, runs: 2 })).measurement.model).toBe(saved.measurement.model);
    for (const bad of [{ used: true, ratio: 'x', runs: 1 }, { used: true, ratio: -1, runs: 1 }, { used: true, ratio: 1.1 }, 'yes', null]) {
      expect(() => readEstimate(write(bad))).toThrow(/e.json: its "calibration" is damaged/);
    }
    const out = join(tmp(), 'run');
    const r = ftplan(['run', '--model', 'tiny', '--init', 'random', '--dataset', labelledDataset().dir, '--limit', '64', '--estimate', write({ used: true, ratio: 0 }), '--max-steps', '1', '--output-dir', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"calibration" is damaged/);
    expect(r.stderr).toMatch(/unedited, or estimate again/);
    expect(existsSync(join(out, 'metrics.jsonl'))).toBe(false); // refused before any work
  });

  it('a saved measurement that is not one: exit 2 naming the file', () => {
    const f = join(tmp(), 'bad.json');
    writeFileSync(f, JSON.stringify({ measurement: { schema: 'ftplan.measurement/1', model: 'gpt2' } }));
    const r = ftplan(['estimate', '--measurement', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad.json: not an ftplan measurement/);
  });
});
