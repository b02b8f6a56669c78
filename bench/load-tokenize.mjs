#!/usr/bin/env node
// bench/load-tokenize.mjs — loading + tokenizing the 27,481 training tweets (target: < 1 s).
// Each run is a fresh process (cold: module load, tokenizer construction, file read, JSON parse,
// BPE), timed from before the loader is imported to the last token. Median of N runs (default 5),
// for the jsonl and the parquet copy, with the embedded tokenizer (js-tiktoken) and with
// @huggingface/tokenizers on tiny-gpt2's tokenizer.json for comparison.
//   FTPLAN_DATA=../shared/data node bench/load-tokenize.mjs [runs]
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';

const DATA = resolve(process.env.FTPLAN_DATA ?? '../shared/data');
const runs = Number(process.argv[2] ?? 5);

const child = `
  const [which, data, spec] = process.argv.slice(-3);
  const t0 = performance.now();
  const { loadDataset } = await import('./dist/data/loaders.js');
  const tok = await import('./dist/data/tokenizer.js');
  const tokenizer = which === 'hf' ? tok.folderTokenizer(data + '/tiny-gpt2') : tok.embeddedTokenizer();
  const ds = await loadDataset(spec, {});
  const t1 = performance.now();
  let tokens = 0;
  const train = ds.splits.train.examples;
  for (const e of train) tokens += tokenizer.encode(e.text).length;
  const t2 = performance.now();
  console.log(JSON.stringify({ rows: train.length, tokens, loadMs: t1 - t0, tokenizeMs: t2 - t1, totalMs: t2 - t0 }));
`;

const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const [tokName, source] of [['embedded', 'jsonl'], ['embedded', 'parquet'], ['hf', 'jsonl']]) {
  const spec = source === 'jsonl' ? `${DATA}/tweet_sentiment_extraction/train.jsonl` : `${DATA}/tweet_sentiment_extraction/train.parquet`;
  const results = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child, '--', tokName, DATA, spec], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    results.push(JSON.parse(r.stdout));
  }
  rows.push({ tokName, source, n: results[0].rows, tokens: results[0].tokens, load: med(results.map((x) => x.loadMs)), tok: med(results.map((x) => x.tokenizeMs)), total: med(results.map((x) => x.totalMs)), min: Math.min(...results.map((x) => x.totalMs)) });
}
const lines = [
  `### Loading + tokenizing the training tweets — ${new Date().toISOString().slice(0, 10)}`,
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model}; Node ${process.version}; 1-min load ${loadavg()[0].toFixed(2)} at the end. Command: \`FTPLAN_DATA=../shared/data node bench/load-tokenize.mjs ${runs}\` (median of ${runs} fresh processes each).`,
  '',
  '| tokenizer | file | rows | tokens | load + parse ms | tokenize ms | total ms (median) | total ms (min) | target < 1000 ms |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.tokName === 'hf' ? '@huggingface/tokenizers (tokenizer.json)' : 'embedded (js-tiktoken)'} | train.${r.source} | ${r.n.toLocaleString('en-US')} | ${r.tokens.toLocaleString('en-US')} | ${r.load.toFixed(0)} | ${r.tok.toFixed(0)} | ${r.total.toFixed(0)} | ${r.min.toFixed(0)} | ${r.total < 1000 ? 'met' : 'NOT met'} |`),
  '',
];
process.stdout.write(lines.join('\n'));
