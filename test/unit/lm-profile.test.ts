// Causal-LM profiles: token lengths and counted targets per split from a tokenized data set, the
// shipped profiles of the tweets as prompt/completion pairs (consistent with the classification
// profile of the same files), and broken profile files refused by name.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLmDataset } from '../../src/data/lm-dataset.js';
import { loadDataset } from '../../src/data/loaders.js';
import { defaultLmProfilePath, lmBatchingCosts, loadLmProfile, profileLabelledAsLm, profileLmDataset } from '../../src/data/lm-profile.js';
import { packagedTokenizer } from '../../src/data/lm-tokenizer.js';
import { loadProfile } from '../../src/data/profile.js';
import { labelledDataset } from '../fixtures.js';
import { tempDir } from '../helpers.js';

describe('profileLmDataset', () => {
  it('lengths, targets, skips and cuts of each split', async () => {
    const dir = tempDir('lm-prof');
    const rows = [
      { prompt: 'a:', completion: ' x' },
      { prompt: 'b b b:', completion: ' y y' },
      { prompt: 'word '.repeat(30), completion: ' z' },
    ];
    writeFileSync(join(dir, 'train.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
    const ds = await loadLmDataset(dir, { tokenizer: packagedTokenizer('qwen3'), seqLen: 12 });
    const p = profileLmDataset(ds);
    const t = p.splits.train;
    expect([p.schema, p.format, t.rows, t.rowsRead, t.skipped.noTarget]).toEqual(['ftplan.lm-profile/1', 'prompt-completion', 2, 3, 1]);
    expect(t.tokens.total).toBe(ds.splits.train!.examples.reduce((a, e) => a + e.length, 0));
    expect(t.targets.histogram).toEqual({ 2: 1, 3: 1 }); // ' x' + EOS; ' y', ' y' + EOS
    expect(t.files[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const costs = lmBatchingCosts(t, 2);
    expect(costs.fixed!.tokens).toBe(2 * t.tokens.max);
  });

  it('a data set where every row has nothing to learn says why and what to change', async () => {
    const dir = tempDir('lm-prof-none');
    writeFileSync(join(dir, 'train.jsonl'), JSON.stringify({ prompt: 'word '.repeat(30), completion: ' z' }));
    const ds = await loadLmDataset(dir, { tokenizer: packagedTokenizer('qwen3'), seqLen: 8 });
    expect(() => profileLmDataset(ds)).toThrow(/no training rows left to learn from \(1 with nothing to learn within 8 tokens, 0 empty\)/);
  });
});

describe('profileLabelledAsLm', () => {
  it('a labelled set profiled as "text → label word" pairs: the set\'s own files, two targets per row', async () => {
    const src = labelledDataset({ train: 12, test: 6 });
    const p = profileLabelledAsLm(await loadDataset(src.dir), packagedTokenizer('qwen3'));
    expect(p.splits.train.files.map((f) => f.name)).toEqual(['train.jsonl']);
    expect([p.splits.train.rows, p.splits.test!.rows]).toEqual([12, 6]);
    expect(p.splits.train.targets.histogram).toEqual({ 2: 12 });
    expect(p.source).toMatch(/as prompt\/completion pairs/);
  });
});

describe('the shipped profiles of the tweets as "tweet → sentiment word" pairs', () => {
  const classification = loadProfile();
  it.each(['llama3', 'qwen3'] as const)('%s: every row of each split kept, two targets per row (the word and EOS)', (tok) => {
    const p = loadLmProfile(defaultLmProfilePath(tok));
    expect(p.format).toBe('prompt-completion');
    expect(p.tokenizer).toContain(tok);
    for (const split of ['train', 'test'] as const) {
      const s = p.splits[split]!;
      expect(s.rows).toBe(classification.splits[split]!.rows);
      expect(s.targets.total).toBe(2 * s.rows);
      expect([s.truncated, s.skipped.noTarget, s.boundaryMismatch]).toEqual([0, 0, 0]);
      // the prompt adds "Tweet: ", "\nSentiment:" and the word + EOS to the text's own tokens
      expect(s.tokens.mean).toBeGreaterThan(classification.splits[split]!.tokens.mean);
    }
  });

  it('a broken or foreign profile file is refused by name', () => {
    const dir = tempDir('lm-prof-bad');
    writeFileSync(join(dir, 'p.json'), '{');
    expect(() => loadLmProfile(join(dir, 'p.json'))).toThrow(/p\.json: not a readable JSON profile/);
    writeFileSync(join(dir, 'q.json'), JSON.stringify({ schema: 'ftplan.profile/1' }));
    expect(() => loadLmProfile(join(dir, 'q.json'))).toThrow(/q\.json: not an ftplan causal-LM profile \(schema/);
  });
});
