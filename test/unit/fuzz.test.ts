// The quick fuzz run (bench/fuzz.mjs is the long one): mutations of a tiny GPT-2 checkpoint
// (safetensors bytes and header, config.json) and of small labelled data files (jsonl, json, csv,
// tsv, parquet) through ftplan's parsers. Each case loads or throws an FtplanError: never another
// exception, never a rejection left unhandled. The inputs are made here (test/fixtures.ts); the
// data suite runs the same on the real tiny-gpt2 and tweet files.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM JavaScript shared with bench/fuzz.mjs, no type declarations
import { fuzz, mutateSafetensors, rng, targets } from '../../bench/fuzz-lib.mjs';
import { loadDataset } from '../../src/data/loaders.js';
import { FtplanError } from '../../src/errors.js';
import { loadCheckpoint } from '../../src/model/hf.js';
import { labelledFileBytes, labelledRows, tinyHfCheckpoint } from '../fixtures.js';
import { tempDir } from '../helpers.js';

const model = tinyHfCheckpoint(tempDir('ftplan-fuzz-model-'), { seed: 12 }).dir;
const rows = labelledRows(30, 12);
const files = {
  config: readFileSync(join(model, 'config.json')),
  weights: readFileSync(join(model, 'model.safetensors')),
  data: Object.fromEntries((['jsonl', 'json', 'csv', 'tsv', 'parquet'] as const).map((f) => [f, labelledFileBytes(rows, f)])),
};
const all = targets({ loadCheckpoint, loadDataset, FtplanError }, files) as Record<string, object>;
const dir = tempDir('ftplan-fuzz-');
const CASES: Record<string, number> = { safetensors: 400, config: 300, 'data-jsonl': 200, 'data-json': 150, 'data-csv': 200, 'data-tsv': 150, 'data-parquet': 150 };

describe('fuzzing the parsers (quick run)', () => {
  it('the seed inputs themselves load', async () => {
    expect(loadCheckpoint(model, { numLabels: 3 }).missing).toEqual(['score.weight']);
    for (const [name, t] of Object.entries(all)) {
      if (!name.startsWith('data-')) continue;
      const d = join(dir, `seed-${name}`);
      mkdirSync(d, { recursive: true });
      (t as { place: (d: string, b: Buffer) => void }).place(d, (t as { seed: Buffer }).seed);
      const ds = await (t as { parse: (d: string) => Promise<{ splits: { train: { examples: unknown[] } } }> }).parse(d);
      expect(ds.splits.train.examples, name).toHaveLength(30);
    }
  });

  it('the mutations are deterministic and change the input', () => {
    const a = mutateSafetensors(files.weights, rng(3));
    const b = mutateSafetensors(files.weights, rng(3));
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, files.weights)).not.toBe(0);
  });

  it.each(Object.keys(CASES))('%s: every case loads or is an FtplanError', async (name) => {
    const r = await fuzz({ name, ...all[name], cases: CASES[name], seedNumber: 11, dir: join(dir, name) });
    expect(r.failures).toEqual([]);
    expect(r.cases).toBe(CASES[name]);
    // the mutations reach both outcomes: some inputs still load, most are refused
    expect(r.rejected).toBeGreaterThan(0);
    expect(r.accepted + r.rejected).toBe(r.cases);
  });
});
