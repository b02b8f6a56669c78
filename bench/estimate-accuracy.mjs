#!/usr/bin/env node
// bench/estimate-accuracy.mjs — how close `ftplan estimate` comes to the real run on the same device.
// For each model: `ftplan estimate --json` on the run's data and batch (saved), then `ftplan run`
// of ≥ 300 steps with `--estimate` pointing at it; the run reports predicted against actual
// training time (predicted = the run's tokens ÷ the estimate's measured tokens/s).
//   FTPLAN_DATA=../shared/data [BENCH_STEPS=5] node bench/estimate-accuracy.mjs   (timed steps of the estimate)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const DATA = resolve(process.env.FTPLAN_DATA ?? '../shared/data');
const tweets = join(DATA, 'tweet_sentiment_extraction');
const home = mkdtempSync(join(tmpdir(), 'ftplan-bench-')); // no calibration from earlier runs
const cases = [
  { model: 'tiny', limit: 2600, epochs: 2 },
  { model: 'mini', limit: 2600, epochs: 2 },
];
const ftplan = (args) => {
  const r = spawnSync(process.execPath, ['bin/ftplan.js', ...args], { encoding: 'utf8', env: { ...process.env, FTPLAN_HOME: home }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
};
const rows = [];
for (const c of cases) {
  const data = ['--dataset', tweets, '--limit', String(c.limit)];
  const est = ftplan(['estimate', '--model', c.model, ...data, '--steps', process.env.BENCH_STEPS ?? '5', '--json']);
  const file = join(home, `${c.model}-estimate.json`);
  writeFileSync(file, JSON.stringify(est));
  const run = ftplan(['run', '--model', c.model, '--init', 'random', ...data, '--epochs', String(c.epochs), '--eval-limit', '256', '--lr', '1e-3', '--estimate', file, '--output-dir', join(home, c.model), '--json']);
  const v = run.vsEstimate;
  rows.push({ ...c, steps: run.steps, est, v, load: loadavg()[0] });
  process.stderr.write(`${c.model}: ${run.steps} steps, predicted ${v.predictedTrainSeconds.toFixed(1)} s, actual ${v.actualTrainSeconds.toFixed(1)} s (${v.errorPct.toFixed(1)}%)\n`);
}
process.stdout.write(
  [
    `### Estimate against the real run — ${new Date().toISOString().slice(0, 10)}`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model}; command: \`FTPLAN_DATA=../shared/data node bench/estimate-accuracy.mjs\`. Each run: random init, batch 16, batching longest, fp32, ${'`--limit 2600 --epochs 2`'} of the tweet data; the estimate measured 5 steps at the data's mean padded length.`,
    '',
    '| model | run steps | estimate tokens/s | run tokens/s | predicted train s | actual train s | error | target ≤ 10% | 1-min load |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.model} | ${r.steps} | ${r.v.predictedTokensPerSec.toFixed(0)} | ${r.v.actualTokensPerSec.toFixed(0)} | ${r.v.predictedTrainSeconds.toFixed(1)} | ${r.v.actualTrainSeconds.toFixed(1)} | ${r.v.errorPct >= 0 ? '+' : ''}${r.v.errorPct.toFixed(1)}% | ${Math.abs(r.v.errorPct) <= 10 ? 'met' : 'NOT met'} | ${r.load.toFixed(2)} |`),
    '',
  ].join('\n'),
);
