#!/usr/bin/env node
// profile-dataset.mjs — the token-length profile of a jsonl text-classification data set, shipped
// with the package so `ftplan estimate` knows the cost of the reference data set with nothing
// downloaded. Tokenizer: GPT-2 byte-level BPE (js-tiktoken's "gpt2" ranks, the same vocabulary
// and merges as Hugging Face's gpt2 tokenizer).
//
//   node scripts/profile-dataset.mjs <folder with train.jsonl and test.jsonl> <out.json> [name]
//
// Regenerate the shipped profile:
//   node scripts/profile-dataset.mjs ../shared/data/tweet_sentiment_extraction \
//        src/data/profiles/tweet_sentiment_extraction.json mteb/tweet_sentiment_extraction
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2 from 'js-tiktoken/ranks/gpt2';

const [dir, out, name] = process.argv.slice(2);
if (!dir || !out) {
  process.stderr.write('usage: node scripts/profile-dataset.mjs <dir with train.jsonl/test.jsonl> <out.json> [name]\n');
  process.exit(2);
}
const enc = new Tiktoken(gpt2);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function profileSplit(file) {
  const bytes = readFileSync(file);
  const lines = bytes.toString('utf8').split('\n').filter((l) => l.trim() !== '');
  const lengths = [];
  const labels = {};
  let empty = 0;
  for (const [i, line] of lines.entries()) {
    let row;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${i + 1}: not JSON`);
    }
    const text = String(row.text ?? '');
    // '<|endoftext|>' inside a text is the special token, as HF's GPT-2 tokenizer treats it.
    const n = enc.encode(text, 'all').length;
    if (n === 0) empty += 1;
    lengths.push(Math.max(1, n)); // an empty text still costs one token (the pad/eos id) in a batch
    const label = row.label_text !== undefined ? `${row.label}:${row.label_text}` : String(row.label);
    labels[label] = (labels[label] ?? 0) + 1;
  }
  const sorted = [...lengths].sort((a, b) => a - b);
  const histogram = {};
  for (const n of lengths) histogram[n] = (histogram[n] ?? 0) + 1;
  return {
    file: basename(file),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    rows: lengths.length,
    emptyTexts: empty,
    labels,
    tokens: {
      total: lengths.reduce((a, b) => a + b, 0),
      mean: lengths.reduce((a, b) => a + b, 0) / lengths.length,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1],
      histogram,
    },
  };
}

const profile = {
  schema: 'ftplan.profile/1',
  name: name ?? basename(dir),
  tokenizer: 'gpt2 byte-level BPE (js-tiktoken ranks/gpt2)',
  generatedBy: 'scripts/profile-dataset.mjs',
  splits: {
    train: profileSplit(join(dir, 'train.jsonl')),
    test: profileSplit(join(dir, 'test.jsonl')),
  },
};
writeFileSync(out, `${JSON.stringify(profile, null, 1)}\n`);
const t = profile.splits.train;
process.stderr.write(`${out}: train ${t.rows} rows, tokens p50 ${t.tokens.p50} p99 ${t.tokens.p99} max ${t.tokens.max}; test ${profile.splits.test.rows} rows\n`);
