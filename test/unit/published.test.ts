// The published fine-tuning measurements the planner's predictions are compared with: every row of
// bench/published.json names what was run and where it was read, carries a throughput or a peak
// memory, and bench/published.md's table shows the same rows with the same figures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { loadGpus } from '../../src/pricing/catalog.js';

interface PublishedRow {
  id: string;
  model: string;
  method: string;
  gpu: string;
  count: number;
  precision: string;
  quantization: string | null;
  microBatch: number;
  seqLen: number;
  gradientCheckpointing: boolean | null;
  framework: string;
  execution: string;
  tokensPerSec: number | null;
  tokensPerSecPerGpu: number | null;
  peakMemoryGiB: number | null;
  memoryKind: string | null;
  derivation: string | null;
  source: string;
  sourceLocation: string;
  ftplanPredicted: { tokensPerSec: number | null; peakMemoryGiB: number | null; fits: boolean; basis: string; notes: string[] } | null;
  error: { tokensPerSecPct: number | null; memoryPct: number | null } | null;
}

/** The table's cells for the prediction and the error, as bench/published-compare.mjs writes them. */
const cellPred = (r: PublishedRow) =>
  r.ftplanPredicted === null ? '' : [r.ftplanPredicted.tokensPerSec !== null ? `${r.ftplanPredicted.tokensPerSec} tok/s` : null, r.ftplanPredicted.peakMemoryGiB !== null ? `${r.ftplanPredicted.peakMemoryGiB} GiB${r.ftplanPredicted.fits ? '' : ' (no fit)'}` : null].filter(Boolean).join('; ');
const signedPct = (x: number) => `${x >= 0 ? '+' : ''}${x}%`;
const cellErr = (r: PublishedRow) => (r.error === null ? '' : [r.error.tokensPerSecPct !== null ? signedPct(r.error.tokensPerSecPct) : null, r.error.memoryPct !== null ? `${signedPct(r.error.memoryPct)} mem` : null].filter(Boolean).join('; '));

const json = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'bench/published.json'), 'utf8')) as { schema: string; rows: PublishedRow[] };
const rows = json.rows;
const markdown = readFileSync(join(PACKAGE_ROOT, 'bench/published.md'), 'utf8');

/** The table under "## Measurements": one record per row, keyed by the header's cells. */
function markdownTable(text: string): Record<string, string>[] {
  const section = text.split(/^## Measurements\s*$/m)[1]?.split(/^## /m)[0] ?? '';
  const lines = section.split('\n').filter((l) => l.startsWith('|'));
  const cells = (line: string) => line.slice(1, line.lastIndexOf('|')).split('|').map((c) => c.trim());
  const header = cells(lines[0] ?? '');
  return lines.slice(2).map((l) => Object.fromEntries(cells(l).map((c, i) => [header[i], c])));
}

const cellNumber = (c: string | undefined) => (c === '—' ? null : Number(c));

describe('published measurements (bench/published.json)', () => {
  it('has at least 20 rows, each with a unique id', () => {
    expect(json.schema).toBe('ftplan.published/1');
    expect(rows.length).toBeGreaterThanOrEqual(20);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
  });

  it('every row says what was run, on what, and where it was read', () => {
    const gpus = loadGpus();
    for (const r of rows) {
      for (const k of ['model', 'precision', 'framework', 'execution', 'sourceLocation'] as const) expect(r[k], `${r.id}.${k}`).toMatch(/\S/);
      expect(['full', 'lora', 'qlora'], `${r.id}.method`).toContain(r.method);
      expect(['eager', 'compiled', 'fused'], `${r.id}.execution`).toContain(r.execution);
      expect(gpus[r.gpu], `${r.id}: GPU ${r.gpu} is in pricing/gpus.json`).toBeDefined();
      for (const k of ['count', 'microBatch', 'seqLen'] as const) {
        expect(Number.isInteger(r[k]) && r[k] > 0, `${r.id}.${k} = ${r[k]}`).toBe(true);
      }
      expect(r.source, `${r.id}.source`).toMatch(/^https:\/\/\S+$/);
      // a repository file is cited at a fixed commit, never a moving branch
      if (/github\.com\/[^/]+\/[^/]+\/blob\//.test(r.source)) expect(r.source, r.id).toMatch(/\/blob\/[0-9a-f]{7,40}\//);
      if (r.method === 'qlora') expect(r.quantization, `${r.id}: a QLoRA row names its quantization`).toMatch(/\S/);
    }
  });

  it('every row has a throughput or a peak memory, positive, and memory says what it measured', () => {
    for (const r of rows) {
      expect(r.tokensPerSec !== null || r.peakMemoryGiB !== null, r.id).toBe(true);
      if (r.tokensPerSec !== null) expect(r.tokensPerSec, r.id).toBeGreaterThan(0);
      if (r.peakMemoryGiB !== null) {
        expect(r.peakMemoryGiB, r.id).toBeGreaterThan(0);
        expect(r.memoryKind, `${r.id}.memoryKind`).toMatch(/\S/);
        // a per-GPU peak cannot exceed the GPU it ran on
        expect(r.peakMemoryGiB, `${r.id} on ${r.gpu}`).toBeLessThanOrEqual(loadGpus()[r.gpu]!.memoryGiB);
      }
    }
  });

  it('the whole-run throughput is the per-GPU figure times the GPU count', () => {
    for (const r of rows.filter((x) => x.tokensPerSecPerGpu !== null)) {
      expect(r.tokensPerSec, r.id).not.toBeNull();
      expect(Math.abs(r.tokensPerSec! - r.tokensPerSecPerGpu! * r.count) / r.tokensPerSec!, r.id).toBeLessThan(1e-3);
    }
  });

  it('the planner\'s prediction (bench/published-compare.mjs): every published figure has one, and its error is (predicted − published) ÷ published', () => {
    for (const r of rows) {
      if (r.ftplanPredicted === null) {
        expect(r.error, r.id).toBeNull();
        continue;
      }
      const p = r.ftplanPredicted;
      expect(p.tokensPerSec === null, `${r.id}: a tokens/s prediction exactly where a published one is`).toBe(r.tokensPerSec === null);
      expect(p.peakMemoryGiB === null, `${r.id}: a memory prediction exactly where a published one is`).toBe(r.peakMemoryGiB === null);
      if (r.tokensPerSec !== null) expect(r.error!.tokensPerSecPct, r.id).toBeCloseTo(((p.tokensPerSec! - r.tokensPerSec) / r.tokensPerSec) * 100, 0);
      if (r.peakMemoryGiB !== null) expect(r.error!.memoryPct, r.id).toBeCloseTo(((p.peakMemoryGiB! - r.peakMemoryGiB) / r.peakMemoryGiB) * 100, 0);
      expect(['analytic', 'extrapolated', 'measured'], r.id).toContain(p.basis);
    }
  });
});

describe('bench/published.md holds the same rows as the JSON', () => {
  const table = markdownTable(markdown);

  it('the same ids in the same order', () => {
    expect(table.map((t) => t.id)).toEqual(rows.map((r) => r.id));
  });

  it('the same configuration and figures on every row', () => {
    for (const [i, r] of rows.entries()) {
      const t = table[i]!;
      expect([t.model, t.method, t.gpu], r.id).toEqual([r.model, r.method, r.gpu]);
      expect([Number(t.count), Number(t['micro-batch']), Number(t['seq len'])], r.id).toEqual([r.count, r.microBatch, r.seqLen]);
      expect(cellNumber(t['tokens/s']), `${r.id} tokens/s`).toBe(r.tokensPerSec);
      expect(cellNumber(t['peak GiB']), `${r.id} peak GiB`).toBe(r.peakMemoryGiB);
      expect(t.execution, r.id).toBe(r.execution);
      expect(t.source, r.id).toContain(`(${r.source})`);
      expect(t['ftplan predicted'], r.id).toBe(cellPred(r));
      expect(t.error, r.id).toBe(cellErr(r));
    }
  });
});
