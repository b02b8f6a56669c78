// `ftplan pricing` groups rows that differ only in region into one line, "region (+N more)", as the
// plan table does (the same code), while --json keeps every row; Vast's regions without a place
// name (", US, NA" in SkyPilot's catalog) read "US, NA" and are spelled back SkyPilot's way for a
// launch. Fixtures are a few catalog lines written here, in the formats SkyPilot's fetchers write.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { importSkypilot, skypilotRegion, vastRegion } from '../../src/pricing/skypilot.js';
import { groupRegions, regionCell } from '../../src/report/table.js';
import { ftplan as cli, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-regions-');

const ftplan = (args: string[]) => cli(args);

const HEADER = 'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region';
const gpuInfo = (name: string, n: number, mib: number) => `"{'Gpus': [{'Name': '${name}', 'Count': ${n}, 'MemoryInfo': {'SizeInMiB': ${mib}}}], 'TotalGpuMemoryInMiB': ${n * mib}}"`;

/** Lambda's layout: one row per region, the same price in most of them. */
function lambdaCatalog(): string {
  const file = join(tmp(), 'vms.csv');
  const regions = ['us-east-1', 'us-west-1', 'us-south-1', 'europe-central-1', 'asia-northeast-1', 'me-west-1', 'us-midwest-1'];
  const lines = [
    HEADER,
    ...regions.map((r) => `gpu_1x_a100_sxm4,A100,1,30,200,${gpuInfo('A100', 1, 40960)},1.29,,${r}`),
    // the same instance dearer in one region: its own line
    `gpu_1x_a100_sxm4,A100,1,30,200,${gpuInfo('A100', 1, 40960)},1.49,,asia-south-1`,
    ...regions.slice(0, 3).map((r) => `gpu_8x_h100_sxm5,H100,8,208,1800,${gpuInfo('H100', 8, 81920)},23.92,,${r}`),
  ];
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Vast's layout (georegion=true): "<state or country>, <CC>, <continent>", the first part empty for some hosts. */
function vastCatalog(): string {
  const file = join(tmp(), 'vms.csv');
  writeFileSync(
    file,
    [
      HEADER,
      `1x-H100_SXM-32-65536,H100,1,32,64.0,${gpuInfo('H100', 1, 81559)},2.13,0.00,"Japan, JP, AS"`,
      `2x-H200-32-65536,H200,2,32,64.0,${gpuInfo('H200', 2, 143771)},5.65,0.00,", US, NA"`,
      `2x-H200-32-65536,H200,2,32,64.0,${gpuInfo('H200', 2, 143771)},5.65,0.00,"Oregon, US, NA"`,
      `4x-L40S-32-65536,L40S,4,32,64.0,${gpuInfo('L40S', 4, 46068)},3.10,0.00,", CA, NA"`,
    ].join('\n') + '\n',
  );
  return file;
}

describe('groupRegions: rows that differ only in region, as one line', () => {
  it('keeps the order of the first row of each group and counts the rest', () => {
    const rows = [
      { id: 'a', region: 'r1' },
      { id: 'b', region: 'r2' },
      { id: 'a', region: 'r3' },
      { id: 'a', region: 'r4' },
    ];
    const g = groupRegions(rows, (r) => r.id);
    expect(g.map((x) => [x.row.region, x.more, x.regions])).toEqual([
      ['r1', 2, ['r1', 'r3', 'r4']],
      ['r2', 0, ['r2']],
    ]);
    expect(g.map(regionCell)).toEqual(['r1 (+2 more)', 'r2']);
  });
});

describe('ftplan pricing: one line per offer, every row in --json', () => {
  it('seven regions at one price are one line (+6 more); a dearer region stays its own line', () => {
    const cat = `lambda=${lambdaCatalog()}`;
    const text = ftplan(['pricing', '--catalog', cat]);
    expect(text.code, text.stderr).toBe(0);
    const a100 = text.stdout.split('\n').filter((l) => l.includes('gpu_1x_a100_sxm4'));
    expect(a100).toHaveLength(2);
    expect(text.stdout).toMatch(/(us-east-1|us-west-1|us-south-1|europe-central-1|asia-northeast-1|me-west-1|us-midwest-1) \(\+6 more\)\s+│ 1\.2900/);
    expect(text.stdout).toMatch(/asia-south-1\s+│ 1\.4900/);
    expect(text.stdout.split('\n').filter((l) => l.includes('gpu_8x_h100_sxm5'))).toHaveLength(1);
    expect(text.stdout).toMatch(/\(\+2 more\)/);
    expect(text.stdout).toMatch(/3 of 3 offers, cheapest first \(11 instance × region rows; --json lists each\)/);

    const j = JSON.parse(ftplan(['pricing', '--catalog', cat, '--json']).stdout);
    expect(j.rows).toHaveLength(11);
    expect(j.rows.filter((r: { instanceType: string; pricePerHour: number }) => r.instanceType === 'gpu_1x_a100_sxm4' && r.pricePerHour === 1.29)).toHaveLength(7);
    // --limit counts lines (offers), not rows
    const one = ftplan(['pricing', '--catalog', cat, '--limit', '1']);
    expect(one.stdout).toMatch(/1 of 3 offers/);
    expect(one.stdout).not.toMatch(/gpu_8x_h100_sxm5/);
  });
});

describe('Vast regions', () => {
  it('the parser drops the empty place name: ", US, NA" reads "US, NA", named places stay', () => {
    expect(vastRegion(', US, NA')).toBe('US, NA');
    expect(vastRegion('Japan, JP, AS')).toBe('Japan, JP, AS');
    expect(vastRegion(' British Columbia , CA, NA')).toBe('British Columbia, CA, NA');
    const r = importSkypilot(vastCatalog(), 'vast', { source: 'fixture', asOf: '2026-11-01' });
    expect(r.rows.map((x) => x.region).sort()).toEqual(['CA, NA', 'Japan, JP, AS', 'Oregon, US, NA', 'US, NA']);
    expect(r.rows.every((x) => !x.region.startsWith(','))).toBe(true);
    // a host with no place and one in Oregon are two regions (SkyPilot's catalog has both)
    expect(r.rows.filter((x) => x.instanceType === '2x-H200-32-65536')).toHaveLength(2);
  });

  it('ftplan pricing shows "US, NA", and --region US still finds it', () => {
    const cat = `vast=${vastCatalog()}`;
    const t = ftplan(['pricing', '--catalog', cat, '--region', 'US']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).not.toMatch(/│ , US/);
    const j = JSON.parse(ftplan(['pricing', '--catalog', cat, '--json']).stdout);
    expect(j.rows.map((x: { region: string }) => x.region)).toContain('US, NA');
  });

  it('a launch on such a row names the region as SkyPilot\'s catalog spells it', () => {
    expect(skypilotRegion('vast', 'US, NA')).toBe(', US, NA');
    expect(skypilotRegion('vast', 'Japan, JP, AS')).toBe('Japan, JP, AS');
    expect(skypilotRegion('lambda', 'us-east-1')).toBe('us-east-1');
    const planFile = join(tmp(), 'plan.json');
    const rec = { cloud: 'vast', instance: '2x-H200-32-65536', gpu: 'H200', gpus: 2, region: 'US, NA', microBatch: 8, gradAccum: 1 };
    writeFileSync(planFile, JSON.stringify({ model: 'gpt2', plan: { batchSize: 16, recommended: rec } }));
    const data = join(tmp(), 'train.jsonl');
    writeFileSync(data, '{"text": "a", "label": 0}\n{"text": "b", "label": 1}\n');
    const r = ftplan(['launch', '--emit', 'skypilot', '--plan', planFile, '--dataset', data]);
    expect(r.code, r.stderr).toBe(0);
    expect(parse(r.stdout).resources).toMatchObject({ cloud: 'vast', region: ', US, NA', instance_type: '2x-H200-32-65536', accelerators: 'H200:2' });
  });
});
