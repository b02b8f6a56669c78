// The real tweet data set (FTPLAN_DATA) as causal-LM "tweet → sentiment word" pairs: the shipped
// causal-LM profiles are what the committed code computes from it, for both packaged tokenizers,
// and every row's completion is one label token and EOS with a clean prompt boundary. The same code
// on synthetic data: test/unit/lm-profile.test.ts and test/unit/lm-dataset.test.ts.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/loaders.js';
import { defaultLmProfilePath, loadLmProfile, profileLabelledAsLm } from '../../src/data/lm-profile.js';
import { packagedTokenizer } from '../../src/data/lm-tokenizer.js';
import { TWEETS } from '../real-data.js';

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
