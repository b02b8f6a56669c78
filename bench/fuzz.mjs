#!/usr/bin/env node
// bench/fuzz.mjs — the long fuzz run of ftplan's parsers (on the built dist/): FUZZ_CASES mutations
// (default 10,000) of each seed input through its parser; every case must load or throw an
// FtplanError. Prints a Markdown section for bench/RESULTS.md; exit 1 on any failure.
//   npm run build:ts && node bench/fuzz.mjs            (FUZZ_CASES=n, FUZZ_ONLY=safetensors,config,…)
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fuzz, targets } from './fuzz-lib.mjs';
import { seedFiles } from './fuzz-seeds.mjs';

const root = resolve(import.meta.dirname, '..');
const data = resolve(process.env.FTPLAN_DATA ?? join(root, '../shared/data'));
const { loadCheckpoint } = await import(join(root, 'dist/model/hf.js'));
const { loadDataset } = await import(join(root, 'dist/data/loaders.js'));
const { FtplanError } = await import(join(root, 'dist/errors.js'));
const cases = Number(process.env.FUZZ_CASES ?? 10_000);
const only = process.env.FUZZ_ONLY?.split(',');
const all = targets({ loadCheckpoint, loadDataset, FtplanError }, seedFiles(data, join(root, 'test/corpus/fixtures')));
const dir = mkdtempSync(join(tmpdir(), 'ftplan-fuzz-'));
const results = [];
for (const [name, t] of Object.entries(all)) {
  if (only && !only.includes(name)) continue;
  const r = await fuzz({ name, ...t, cases, seedNumber: 6, dir: join(dir, name) });
  results.push(r);
  process.stderr.write(`${name}: ${r.cases} cases, ${r.accepted} loaded, ${r.rejected} rejected with an FtplanError, ${r.failures.length} failures, ${(r.ms / 1000).toFixed(1)} s (slowest case ${r.slowestMs.toFixed(0)} ms)\n`);
  for (const f of r.failures.slice(0, 5)) process.stderr.write(`  case ${f.case}: ${f.error} (${f.input ?? ''})\n`);
}
const lines = [
  `- ${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores, shared), Node ${process.version}`,
  `- command: \`node bench/fuzz.mjs\` (FUZZ_CASES=${cases}, seed 6); inputs: tiny-gpt2 model.safetensors and config.json, the tweet fixture as jsonl/json/csv/tsv, the tweet test.parquet`,
  '',
  '| parser | cases | loaded | rejected (FtplanError) | failures | seconds | slowest case (ms) |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...results.map((r) => `| ${r.name} | ${r.cases} | ${r.accepted} | ${r.rejected} | ${r.failures.length} | ${(r.ms / 1000).toFixed(1)} | ${r.slowestMs.toFixed(0)} |`),
];
process.stdout.write(`${lines.join('\n')}\n`);
process.exitCode = results.some((r) => r.failures.length) ? 1 : 0;
