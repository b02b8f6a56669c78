// The real tweet data set (mteb/tweet_sentiment_extraction, FTPLAN_DATA) as users have it: the
// GPT-2 tokenizer gives HF's ids on every tweet, every layout loads with the known counts, and the
// shipped token-length profile is what the committed code computes from it. The same code on
// synthetic data: test/unit/datasets.test.ts and test/unit/tokenizer.test.ts.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset, seededSample } from '../../src/data/loaders.js';
import { loadProfile } from '../../src/data/profile.js';
import { embeddedTokenizer, folderTokenizer, tokenizerJsonFromVocab } from '../../src/data/tokenizer.js';
import { buildProfile } from '../../src/commands/profile.js';
import { ftplan, tempDir } from '../helpers.js';
import { TINY_GPT2 as TINY, TWEETS } from '../real-data.js';

const tmp = () => tempDir('ftplan-data-');
const jsonl = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { id: string; text: string; label: number; label_text: string });

describe('GPT-2 tokenizer', () => {
  const embedded = embeddedTokenizer();
  const hfJson = folderTokenizer(TINY); // tiny-gpt2/tokenizer.json via @huggingface/tokenizers
  const vocabDir = tmp();
  for (const f of ['vocab.json', 'merges.txt']) copyFileSync(join(TINY, f), join(vocabDir, f));
  const hfVocab = folderTokenizer(vocabDir); // vocab.json + merges.txt

  it('two independent implementations give identical ids on all 31,015 tweets (train and test)', () => {
    const texts = [...jsonl(join(TWEETS, 'train.jsonl')), ...jsonl(join(TWEETS, 'test.jsonl'))].map((r) => r.text);
    expect(texts).toHaveLength(31_015);
    const differ: string[] = [];
    let tokens = 0;
    for (const t of texts) {
      const a = embedded.encode(t);
      const b = hfJson.encode(t);
      tokens += a.length;
      if (a.length !== b.length || a.some((id, i) => id !== b[i])) differ.push(t);
    }
    expect(differ).toEqual([]);
    expect(tokens).toBeGreaterThan(500_000);
  }, 120_000);

  it('hand-made cases: known ids, emoji, leading spaces, <|endoftext|>, non-ASCII, a 10,000-character text', () => {
    expect(embedded.encode('Hello world')).toEqual([15496, 995]);
    expect(embedded.encode(' Hello')).toEqual([18435]);
    expect(embedded.encode('<|endoftext|>')).toEqual([50256]);
    expect(embedded.encode('a<|endoftext|>b')).toEqual([64, 50256, 65]);
    const cases = ['', ' ', '  leading spaces', 'trailing  ', '😀👍🏽 emoji', 'naïve café — 東京 ☃', '\ttabs\nnewlines\r\n', "it's we'll I'M", 'x'.repeat(10_000), 'ab '.repeat(3_334)];
    for (const c of cases) {
      const a = embedded.encode(c);
      expect(hfJson.encode(c)).toEqual(a);
      expect(hfVocab.encode(c)).toEqual(a);
    }
    expect(embedded.encode('x'.repeat(10_000)).length).toBeGreaterThan(1_000);
  });

  it('tokenizer.json assembled from vocab.json + merges.txt has the 50,000 merges and the special token', () => {
    const spec = tokenizerJsonFromVocab(JSON.parse(readFileSync(join(TINY, 'vocab.json'), 'utf8')), readFileSync(join(TINY, 'merges.txt'), 'utf8')) as { model: { merges: string[] }; added_tokens: { id: number }[] };
    expect(spec.model.merges).toHaveLength(50_000);
    expect(spec.added_tokens[0]?.id).toBe(50256);
  });
});

describe('loading the tweet data set', () => {
  const expectTweetCounts = async (spec: string, env?: NodeJS.ProcessEnv) => {
    const ds = await loadDataset(spec, { env });
    expect(ds.splits.train?.examples).toHaveLength(27_481);
    expect(ds.splits.test?.examples).toHaveLength(3_534);
    const counts = [0, 0, 0];
    for (const e of ds.splits.train!.examples) counts[e.label]!++;
    expect(counts).toEqual([7_781, 11_118, 8_582]);
    return ds;
  };

  it('jsonl folder: labels and their names from label_text', async () => {
    const ds = await expectTweetCounts(TWEETS);
    expect(ds.source).toBe('folder');
    expect(ds.labels).toEqual(['negative', 'neutral', 'positive']);
    expect(ds.textColumn).toBe('text');
    expect(ds.labelColumn).toBe('label');
  });

  it('parquet: a Hugging Face snapshot layout (data/train-00000-of-00001.parquet)', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'data'));
    copyFileSync(join(TWEETS, 'train.parquet'), join(dir, 'data', 'train-00000-of-00001.parquet'));
    copyFileSync(join(TWEETS, 'test.parquet'), join(dir, 'data', 'test-00000-of-00001.parquet'));
    const ds = await expectTweetCounts(dir);
    expect(ds.labels).toEqual(['0', '1', '2']); // the parquet files carry only text + label
    // row by row the same texts as the jsonl
    const j = jsonl(join(TWEETS, 'train.jsonl'));
    expect(ds.splits.train!.examples.every((e, i) => e.text === j[i]!.text && e.label === j[i]!.label)).toBe(true);
  });

  it('a Hugging Face id resolved in the hub cache ($HF_HUB_CACHE, refs/main)', async () => {
    const hub = tmp();
    const repo = join(hub, 'datasets--mteb--tweet_sentiment_extraction');
    const snap = join(repo, 'snapshots', '0c1bc7c5dde12fb8ad0e7a3bd3c2bc6a7a4d8f0e');
    mkdirSync(join(snap, 'data'), { recursive: true });
    mkdirSync(join(repo, 'refs'));
    writeFileSync(join(repo, 'refs', 'main'), '0c1bc7c5dde12fb8ad0e7a3bd3c2bc6a7a4d8f0e');
    copyFileSync(join(TWEETS, 'train.parquet'), join(snap, 'data', 'train-00000-of-00001.parquet'));
    copyFileSync(join(TWEETS, 'test.parquet'), join(snap, 'data', 'test-00000-of-00001.parquet'));
    const ds = await expectTweetCounts('mteb/tweet_sentiment_extraction', { HF_HUB_CACHE: hub });
    expect(ds.source).toBe(`hub cache (${snap})`);
    const viaHome = await loadDataset('mteb/tweet_sentiment_extraction', { env: { HF_HOME: join(hub, '..', 'nope'), HOME: '/nonexistent', XDG_CACHE_HOME: join(hub, 'x'), HF_HUB_OFFLINE: '1' } }).catch((e: Error) => e);
    expect((viaHome as Error).message).toBe(`HF_HUB_OFFLINE=1 and --dataset mteb/tweet_sentiment_extraction is not in the cache at ${join(hub, '..', 'nope', 'hub', 'datasets--mteb--tweet_sentiment_extraction')}`);
  });

  it('csv and tsv, string labels mapped in sorted order and recorded', async () => {
    const rows = jsonl(join(TWEETS, 'train.jsonl')).slice(0, 300);
    const dir = tmp();
    const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
    writeFileSync(join(dir, 'train.csv'), ['textID,text,sentiment', ...rows.map((r) => `${r.id},${q(r.text)},${r.label_text}`)].join('\n'));
    const ds = await loadDataset(join(dir, 'train.csv'));
    expect(ds.labelColumn).toBe('sentiment');
    expect(ds.labels).toEqual(['negative', 'neutral', 'positive']);
    expect(ds.labelSource).toMatch(/0=negative, 1=neutral, 2=positive/);
    expect(ds.splits.train!.examples.map((e) => e.label)).toEqual(rows.map((r) => r.label));
    const tsv = tmp();
    writeFileSync(join(tsv, 'train.tsv'), ['sentence\tlabel', ...rows.map((r) => `${r.text.replace(/[\t\n]/g, ' ')}\t${r.label}`)].join('\n'));
    const t = await loadDataset(tsv);
    expect(t.textColumn).toBe('sentence');
    expect(t.splits.train!.examples).toHaveLength(300);
  });

  it('--limit takes a deterministic, seeded subset in file order', async () => {
    const a = await loadDataset(TWEETS, { limit: 5_000 });
    const b = await loadDataset(TWEETS, { limit: 5_000 });
    const c = await loadDataset(TWEETS, { limit: 5_000, seed: 7 });
    expect(a.splits.train!.examples).toHaveLength(5_000);
    expect(a.splits.train!.dropped.limit).toBe(27_481 - 5_000);
    expect(a.splits.train!.examples).toEqual(b.splits.train!.examples);
    expect(a.splits.train!.examples).not.toEqual(c.splits.train!.examples);
    expect(a.splits.test!.examples).toHaveLength(3_534); // eval stays whole
    expect(seededSample([1, 2, 3, 4, 5, 6], 3, 1)).toEqual(seededSample([1, 2, 3, 4, 5, 6], 3, 1));
  });
});

describe('ftplan profile', () => {
  it('reports the tweet data set: 27,481 / 3,534 rows, labels 7,781 / 11,118 / 8,582, token lengths, epoch tokens per policy', () => {
    const r = ftplan(['profile', '--dataset', TWEETS, '--json']);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.splits.train.rows).toBe(27_481);
    expect(p.splits.test.rows).toBe(3_534);
    expect(p.splits.train.labelCounts).toEqual({ negative: 7_781, neutral: 11_118, positive: 8_582 });
    expect(p.splits.test.labelCounts).toEqual({ negative: 1_001, neutral: 1_430, positive: 1_103 });
    expect(p.splits.train.emptyTexts).toBe(1);
    const t = p.splits.train.tokens;
    expect(t.p50).toBeLessThanOrEqual(t.p90);
    expect(t.p90).toBeLessThanOrEqual(t.p99);
    expect(t.p99).toBeLessThanOrEqual(t.max);
    expect(Object.values(t.histogram as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(27_481);
    const b = p.batching.train;
    expect(b.fixed.tokens).toBe(27_481 * t.max);
    expect(b.grouped.tokens).toBeLessThan(b.longest.tokens);
    expect(b.longest.tokens).toBeLessThan(b.fixed.tokens);
  });

  it('the shipped profile is what the committed code computes from the real data', async () => {
    const fresh = await buildProfile({ dataset: TWEETS, emptyText: 'keep', unknownLabels: 'drop', seed: 42 });
    const shipped = loadProfile();
    expect(shipped.name).toBe('mteb/tweet_sentiment_extraction');
    expect({ ...fresh, name: shipped.name }).toEqual(shipped);
  });

  it('prints a table', () => {
    const r = ftplan(['profile', '--dataset', join(TWEETS, 'test.parquet')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rows \(read\)\s+│ 3,534 \(3,534\)/);
    expect(r.stdout).toMatch(/epoch tokens, batch 16, grouped/);
  });
});
