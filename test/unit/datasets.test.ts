// Data sets as users have them (synthetic labelled text in every format ftplan reads): labels and
// their names, splits, the Hugging Face layouts, policies for bad rows, --limit, and broken files.
// The real tweet data set's counts are checked in the data suite (test/data/).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset, seededSample } from '../../src/data/loaders.js';
import { labelledDataset, labelledFileBytes, labelledRows, LABELS, writeLabelled, type DataFormat, type LabelledRow } from '../fixtures.js';
import { tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-data-');
const counts = (labels: number[], k = 3) => labels.reduce((c, l) => (c[l]!++, c), Array(k).fill(0) as number[]);

describe('loading a data set', () => {
  it('every format gives back the rows that were written: texts, labels, splits', async () => {
    const expectedText = (r: LabelledRow, f: DataFormat) => (f === 'tsv' ? r.text.replace(/[\t\r\n]/g, ' ') : r.text);
    for (const format of ['jsonl', 'json', 'csv', 'tsv', 'parquet'] as const) {
      const ds = labelledDataset({ format, train: 90, test: 30, seed: 3 });
      const got = await loadDataset(ds.dir);
      expect(got.source, format).toBe('folder');
      const train = got.splits.train!.examples;
      expect(train.map((e) => e.text), format).toEqual(ds.train.map((r) => expectedText(r, format)));
      // named labels (jsonl's label_text, json's and csv's names) map to their names in sorted order;
      // class ids (tsv, parquet) are their own names
      expect(train.map((e) => e.label), format).toEqual(ds.train.map((r) => r.label));
      expect(got.labels, format).toEqual(['json', 'csv', 'jsonl'].includes(format) ? [...LABELS] : ['0', '1', '2']);
      expect(got.splits.test!.examples.map((e) => e.text), format).toEqual(ds.test.map((r) => expectedText(r, format)));
      expect(counts(train.map((e) => e.label))).toEqual([30, 30, 30]);
    }
  });

  it('jsonl: the text and label columns are found, and label names taken from label_text', async () => {
    const ds = await loadDataset(labelledDataset().dir);
    expect(ds.textColumn).toBe('text');
    expect(ds.labelColumn).toBe('label');
    expect(ds.labels).toEqual(['negative', 'neutral', 'positive']);
  });

  it('csv and tsv: the column names users give them (sentiment, sentence), string labels mapped in sorted order and recorded', async () => {
    const rows = labelledRows(300, 5);
    const csv = await loadDataset(writeLabelled(join(tmp(), 'train.csv'), rows));
    expect(csv.labelColumn).toBe('sentiment');
    expect(csv.labels).toEqual(['negative', 'neutral', 'positive']);
    expect(csv.labelSource).toMatch(/0=negative, 1=neutral, 2=positive/);
    expect(csv.splits.train!.examples.map((e) => e.label)).toEqual(rows.map((r) => r.label));
    const dir = tmp();
    writeLabelled(join(dir, 'train.tsv'), rows);
    const tsv = await loadDataset(dir);
    expect(tsv.textColumn).toBe('sentence');
    expect(tsv.splits.train!.examples).toHaveLength(300);
    // label names reversed: still sorted order, so the ids follow the names, not the file order
    const flipped = rows.map((r) => ({ ...r, label_text: ['zeta', 'mu', 'alpha'][r.label]! }));
    const f = await loadDataset(writeLabelled(join(tmp(), 'train.csv'), flipped));
    expect(f.labels).toEqual(['alpha', 'mu', 'zeta']);
    expect(f.splits.train!.examples.map((e) => e.label)).toEqual(rows.map((r) => 2 - r.label));
  });

  it('parquet: a Hugging Face snapshot layout (data/train-00000-of-00001.parquet), several row groups', async () => {
    const dir = tmp();
    const train = labelledRows(250, 11);
    mkdirSync(join(dir, 'data'));
    writeLabelled(join(dir, 'data', 'train-00000-of-00001.parquet'), train, { rowGroupSize: 64 });
    writeLabelled(join(dir, 'data', 'test-00000-of-00001.parquet'), labelledRows(40, 12));
    const ds = await loadDataset(dir);
    expect(ds.labels).toEqual(['0', '1', '2']); // the parquet files carry only text + label
    expect(ds.splits.train!.examples).toHaveLength(250);
    expect(ds.splits.train!.examples.every((e, i) => e.text === train[i]!.text && e.label === train[i]!.label)).toBe(true);
    expect(ds.splits.test!.examples).toHaveLength(40);
  });

  it('a Hugging Face id resolved in the hub cache ($HF_HUB_CACHE, refs/main)', async () => {
    const src = labelledDataset({ format: 'parquet', train: 60, test: 30, layout: 'hub' });
    const hub = tmp();
    const repo = join(hub, 'datasets--acme--reviews');
    const snap = join(repo, 'snapshots', '0c1bc7c5dde12fb8ad0e7a3bd3c2bc6a7a4d8f0e');
    mkdirSync(join(snap, 'data'), { recursive: true });
    mkdirSync(join(repo, 'refs'));
    writeFileSync(join(repo, 'refs', 'main'), '0c1bc7c5dde12fb8ad0e7a3bd3c2bc6a7a4d8f0e');
    for (const f of ['train-00000-of-00001.parquet', 'test-00000-of-00001.parquet']) copyFileSync(join(src.dir, 'data', f), join(snap, 'data', f));
    const ds = await loadDataset('acme/reviews', { env: { HF_HUB_CACHE: hub } });
    expect(ds.source).toBe(`hub cache (${snap})`);
    expect(ds.splits.train!.examples.map((e) => e.text)).toEqual(src.train.map((r) => r.text));
    expect(ds.splits.test!.examples).toHaveLength(30);
    // not in the cache that HF_HOME names, and offline: an error naming where it looked (downloads: test/hub.test.ts)
    const viaHome = await loadDataset('acme/reviews', { env: { HF_HOME: join(hub, '..', 'nope'), HOME: '/nonexistent', XDG_CACHE_HOME: join(hub, 'x'), HF_HUB_OFFLINE: '1' } }).catch((e: Error) => e);
    expect((viaHome as Error).message).toBe(`HF_HUB_OFFLINE=1 and --dataset acme/reviews is not in the cache at ${join(hub, '..', 'nope', 'hub', 'datasets--acme--reviews')}`);
  });

  it('policies: empty texts, missing and unknown labels are counted, never a crash', async () => {
    const dir = tmp();
    const lines = [
      { text: 'good', label: 'pos' },
      { text: 'bad', label: 'neg' },
      { text: '', label: 'neg' },
      { text: 'no label' },
      { text: 'null label', label: null },
    ];
    writeFileSync(join(dir, 'train.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    writeFileSync(join(dir, 'test.jsonl'), [{ text: 'x', label: 'pos' }, { text: 'y', label: 'meh' }].map((l) => JSON.stringify(l)).join('\n'));
    const keep = await loadDataset(dir);
    expect(keep.splits.train!.examples).toHaveLength(3);
    expect(keep.splits.train!.dropped).toEqual({ emptyText: 0, missingLabel: 2, unknownLabel: 0, limit: 0 });
    expect(keep.splits.test!.dropped.unknownLabel).toBe(1);
    const drop = await loadDataset(dir, { emptyText: 'drop' });
    expect(drop.splits.train!.dropped.emptyText).toBe(1);
    await expect(loadDataset(dir, { unknownLabels: 'error' })).rejects.toThrow(/test.jsonl row 2: label 'meh' is not one of the training labels \(neg, pos\)/);
  });

  it('--limit takes a deterministic, seeded subset in file order; the eval split stays whole', async () => {
    const src = labelledDataset({ train: 600, test: 90, seed: 21 });
    const a = await loadDataset(src.dir, { limit: 100 });
    const b = await loadDataset(src.dir, { limit: 100 });
    const c = await loadDataset(src.dir, { limit: 100, seed: 7 });
    expect(a.splits.train!.examples).toHaveLength(100);
    expect(a.splits.train!.dropped.limit).toBe(500);
    expect(a.splits.train!.examples).toEqual(b.splits.train!.examples);
    expect(a.splits.train!.examples).not.toEqual(c.splits.train!.examples);
    // in file order: the subset is a subsequence of the file's rows
    let at = 0;
    for (const e of a.splits.train!.examples) {
      while (at < src.train.length && (src.train[at]!.text !== e.text || src.train[at]!.label !== e.label)) at++;
      expect(at, e.text).toBeLessThan(src.train.length);
      at++;
    }
    expect(a.splits.test!.examples).toHaveLength(90);
    expect(seededSample([1, 2, 3, 4, 5, 6], 3, 1)).toEqual(seededSample([1, 2, 3, 4, 5, 6], 3, 1));
  });
});

describe('broken data files: an error that names the file and the fix', () => {
  const parquet = labelledFileBytes(labelledRows(200, 4), 'parquet');
  const cases: [string, string, string | Buffer, RegExp][] = [
    ['a jsonl line that is not JSON', 'train.jsonl', '{"text": "a", "label": 0}\n{"text": "b", "label": 1\n', /train.jsonl:2: not JSON/],
    ['a jsonl line that is an array', 'train.jsonl', '{"text": "a", "label": 0}\n[1, 2]\n', /train.jsonl:2: is not a JSON object/],
    ['a csv without the label column', 'train.csv', 'text,comment\nhello,x\n', /no label column found \(columns: text, comment/],
    ['a csv with a ragged row', 'train.csv', 'text,label\nhello,1\nbye,0,extra\n', /not valid CSV/],
    ['a truncated parquet', 'train.parquet', parquet.subarray(0, Math.floor(parquet.length / 2)), /train.parquet: not a readable parquet file/],
    ['a parquet without its footer', 'train.parquet', parquet.subarray(0, parquet.length - 6), /train.parquet: not a readable parquet file/],
    ['a file that is not UTF-8', 'train.csv', Buffer.from('text,label\ncaf\xe9,1\n', 'latin1'), /is not UTF-8 text/],
    ['an empty file', 'train.jsonl', '', /is empty/],
    ['labels of mixed type', 'train.jsonl', '{"text": "a", "label": 0}\n{"text": "b", "label": "pos"}\n', /mixes numbers and names/],
    ['one class only', 'train.jsonl', '{"text": "a", "label": 1}\n{"text": "b", "label": 1}\n', /has only one class/],
    ['an unknown file type', 'train.xlsx', 'PK', /unknown data file type '.xlsx'/],
  ];
  for (const [what, name, content, message] of cases) {
    it(what, async () => {
      const dir = tmp();
      writeFileSync(join(dir, name), content);
      const err = await loadDataset(join(dir, name)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_INPUT', exitCode: 2 });
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain(dir);
      expect((err as { fix?: string }).fix).toBeTruthy();
    });
  }

  it('the whole parquet file reads (the cut ones above are cut from a good file)', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'train.parquet'), parquet);
    expect((await loadDataset(join(dir, 'train.parquet'))).splits.train!.examples).toHaveLength(200);
    expect(readFileSync(join(dir, 'train.parquet')).subarray(0, 4).toString()).toBe('PAR1');
  });

  it('a folder without a training file, and a path that does not exist', async () => {
    await expect(loadDataset(tmp())).rejects.toThrow(/has no training file/);
    await expect(loadDataset('/nonexistent/data.jsonl')).rejects.toThrow(/no such file or folder/);
  });
});
