// fuzz-seeds.mjs — the real inputs the fuzzer mutates: tiny-gpt2's config.json and
// model.safetensors (from $FTPLAN_DATA), and the small tweet fixture as jsonl, json, csv, tsv, plus
// the real test.parquet of the tweet data set.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function seedFiles(data, fixtures) {
  const jsonl = readFileSync(join(fixtures, 'tweets-small', 'train.jsonl'));
  const rows = jsonl.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).slice(0, 30);
  const csvField = (v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  const csv = ['text,label', ...rows.map((r) => `${csvField(r.text)},${r.label}`)].join('\n') + '\n';
  const tsv = ['text\tlabel', ...rows.map((r) => `${String(r.text).replace(/[\t\n]/g, ' ')}\t${r.label_text}`)].join('\n') + '\n';
  return {
    config: readFileSync(join(data, 'tiny-gpt2', 'config.json')),
    weights: readFileSync(join(data, 'tiny-gpt2', 'model.safetensors')),
    data: {
      jsonl: Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n'),
      json: Buffer.from(JSON.stringify(rows.map((r) => ({ text: r.text, label: r.label_text })))),
      csv: Buffer.from(csv),
      tsv: Buffer.from(tsv),
      parquet: readFileSync(join(data, 'tweet_sentiment_extraction', 'test.parquet')),
    },
  };
}
