// The quick fuzz run on the real inputs bench/fuzz.mjs mutates (test/unit/fuzz.test.ts runs the same
// on inputs the tests make): the real tiny-gpt2 checkpoint (safetensors bytes and header,
// config.json), the tweet fixture as jsonl, json, csv, tsv, and the real test.parquet of the tweet
// data set, through ftplan's parsers. Each case loads or throws an FtplanError: never another
// exception, never a rejection left unhandled.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM JavaScript shared with bench/fuzz.mjs, no type declarations
import { fuzz, mutateSafetensors, rng, targets } from '../../bench/fuzz-lib.mjs';
// @ts-expect-error: as above
import { seedFiles } from '../../bench/fuzz-seeds.mjs';
import { loadDataset } from '../../src/data/loaders.js';
import { FtplanError } from '../../src/errors.js';
import { loadCheckpoint } from '../../src/model/hf.js';
import { FIXTURES } from '../corpus/cases.js';
import { DATA } from '../real-data.js';
import { tempDir } from '../helpers.js';

const files = seedFiles(DATA, FIXTURES);
const all = targets({ loadCheckpoint, loadDataset, FtplanError }, files) as Record<string, object>;
const dir = tempDir('ftplan-fuzz-');
const CASES: Record<string, number> = { safetensors: 400, config: 300, 'data-jsonl': 200, 'data-json': 150, 'data-csv': 200, 'data-tsv': 150, 'data-parquet': 150 };

describe('fuzzing the parsers (quick run)', () => {
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
