// The Llama 3 and Qwen3 tokenizers as ftplan runs them (@huggingface/tokenizers over the packages'
// tokenizer.json) against an independent implementation (js-tiktoken's rank BPE over the same
// vocabulary, test/tiktoken-reference.ts): the same ids on hand-made edge cases and synthetic
// tweets. All 31,015 real tweets: test/data/lm-tweets.test.ts.
import { describe, expect, it } from 'vitest';
import { packagedTokenizer } from '../../src/data/lm-tokenizer.js';
import { labelledRows } from '../fixtures.js';
import { tiktokenReference } from '../tiktoken-reference.js';

const HAND = ['', ' ', '  leading spaces', 'trailing  ', '😀👍🏽 emoji', 'naïve café — 東京 ☃', 'e\u0301 (a combining accent)', '\ttabs\nnewlines\r\n\n\n', "it's we'll I'M THEY'RE", 'x'.repeat(2_000), 'ab '.repeat(500), '1234567 89,000.5 3.14159', 'ÀÉÎÕÜ ß ﬁ', 'a\u0000b', '\u200b zero width', 'Tweet: I love it\nSentiment: positive'];

describe.each(['llama3', 'qwen3'] as const)('%s: two implementations, the same ids', (name) => {
  const hf = packagedTokenizer(name);
  const ref = tiktokenReference(name);
  it('hand-made edge cases: emoji, combining accents, whitespace runs, contractions, long words, digits, control characters', () => {
    for (const text of HAND) expect(hf.encode(text), JSON.stringify(text.slice(0, 40))).toEqual(ref(text));
  });
  it('300 synthetic tweets (mentions, links, non-ASCII, doubled spaces)', () => {
    for (const r of labelledRows(300, 7)) expect(hf.encode(r.text), r.text).toEqual(ref(r.text));
  });
});
