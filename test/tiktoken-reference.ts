// An independent implementation of the Llama 3 and Qwen tokenizers to check
// @huggingface/tokenizers against: js-tiktoken's rank-based BPE (the algorithm both vocabularies
// were made with: their ids are tiktoken ranks) over the ranks read from the package's
// tokenizer.json, with the pre-tokenization regex each model publishes — not HF's merges list.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import { bytesToUnicode } from '../src/data/gpt2-files.js';
import { packagedTokenizerDir, type PackagedTokenizer } from '../src/data/lm-tokenizer.js';

// Llama 3's regex is cl100k_base's; Qwen's splits digits one by one (\p{N} instead of \p{N}{1,3}).
// The case-insensitive contractions are spelled out, as js-tiktoken's cl100k ranks do (JS regexes
// in Node 20 have no inline (?i:…)).
const CONTRACTIONS = "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)";
const PATTERNS: Record<PackagedTokenizer, string> = {
  llama3: `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
  qwen3: `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
};

/** text → ids without special tokens, by tiktoken's BPE; Qwen's tokenizer NFC-normalizes first. */
export function tiktokenReference(name: PackagedTokenizer): (text: string) => number[] {
  const spec = JSON.parse(readFileSync(join(packagedTokenizerDir(name), 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  const byteOf = new Map(bytesToUnicode().map((c, b) => [c, b]));
  const ranks: string[] = [];
  for (const [token, id] of Object.entries(spec.model.vocab)) ranks[id] = Buffer.from([...token].map((c) => byteOf.get(c) as number)).toString('base64');
  if (ranks.some((r) => r === undefined) || ranks.length !== Object.keys(spec.model.vocab).length) throw new Error(`${name}: the vocabulary's ids are not 0..n-1`);
  const enc = new Tiktoken({ pat_str: PATTERNS[name], special_tokens: {}, bpe_ranks: `! 0 ${ranks.join(' ')}` });
  return name === 'qwen3' ? (text) => enc.encode(text.normalize('NFC'), [], []) : (text) => enc.encode(text, [], []);
}
