// The real tweet data set (FTPLAN_DATA) with the Llama 3 and Qwen3 tokenizers: two independent
// implementations give the same ids on every tweet; as causal-LM "tweet → sentiment word" pairs the
// shipped causal-LM profiles are what the committed code computes, and every row's completion is
// one label token and EOS with a clean prompt boundary. The same code on synthetic data:
// test/unit/lm-tokenizer-parity.test.ts, lm-profile.test.ts, lm-dataset.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/loaders.js';
import { defaultLmProfilePath, loadLmProfile, profileLabelledAsLm } from '../../src/data/lm-profile.js';
import { packagedTokenizer } from '../../src/data/lm-tokenizer.js';
import { TWEETS } from '../real-data.js';
import { tiktokenReference } from '../tiktoken-reference.js';

const texts = (split: string) => readFileSync(join(TWEETS, `${split}.jsonl`), 'utf8').split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { text: string }).text);

describe('Llama 3 and Qwen3 tokenizers', () => {
  it.each(['llama3', 'qwen3'] as const)('%s: @huggingface/tokenizers and tiktoken\'s BPE give identical ids on all 31,015 tweets', (name) => {
    const hf = packagedTokenizer(name);
    const ref = tiktokenReference(name);
    const all = [...texts('train'), ...texts('test')];
    expect(all).toHaveLength(31_015);
    const differ = all.filter((t) => {
      const a = hf.encode(t);
      const b = ref(t);
      return a.length !== b.length || a.some((v, i) => v !== b[i]);
    });
    expect(differ).toEqual([]);
  });
});

describe('the tweets as prompt/completion pairs', () => {
  it.each(['llama3', 'qwen3'] as const)('%s: the shipped profile is what the committed code computes from the real data', async (tok) => {
    const ds = await loadDataset(TWEETS);
    ds.name = 'mteb/tweet_sentiment_extraction';
    const fresh = profileLabelledAsLm(ds, packagedTokenizer(tok));
    expect(loadLmProfile(defaultLmProfilePath(tok))).toEqual(fresh);
    for (const split of ['train', 'test'] as const) {
      const s = fresh.splits[split]!;
      expect(s.rows).toBe(split === 'train' ? 27_481 : 3_534);
      expect(s.targets.histogram).toEqual({ 2: s.rows }); // the label word (one token) and EOS, on every row
      expect([s.boundaryMismatch, s.truncated, s.skipped.noTarget, s.skipped.empty]).toEqual([0, 0, 0, 0]);
    }
  });
});
