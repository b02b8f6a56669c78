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
import { median } from '../dist/measurement.js';

const DATA = resolve(process.env.FTPLAN_DATA ?? '../shared/data');
const tweets = join(DATA, 'tweet_sentiment_extraction');
const home = mkdtempSync(join(tmpdir(), 'ftplan-bench-')); // no calibration from earlier runs
const only = process.env.BENCH_MODELS?.split(',');
const cases = [
  { model: 'tiny', limit: 2600, epochs: 2 },
  { model: 'mini', limit: 2600, epochs: 2 },
].filter((c) => !only || only.includes(c.model));
const ftplan = (args) => {
  const r = spawnSync(process.execPath, ['bin/ftplan.js', ...args], { encoding: 'utf8', env: { ...process.env, FTPLAN_HOME: home }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
};
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const rows = [];
for (let rep = 1; rep <= repeats; rep++) for (const c of cases) {
  const data = ['--dataset', tweets, '--limit', String(c.limit)];
  const load = loadavg()[0];
  const est = ftplan(['estimate', '--model', c.model, ...data, '--steps', process.env.BENCH_STEPS ?? '5', '--json']);
  const file = join(home, `${c.model}-estimate.json`);
  writeFileSync(file, JSON.stringify(est));
  const run = ftplan(['run', '--model', c.model, '--init', 'random', ...data, '--epochs', String(c.epochs), '--eval-limit', '256', '--lr', '1e-3', '--estimate', file, '--output-dir', join(home, c.model), '--json']);
  const v = run.vsEstimate;
  rows.push({ ...c, rep, steps: run.steps, est, v, load: Math.max(load, loadavg()[0]) });
  process.stderr.write(`${c.model}: ${run.steps} steps, predicted ${v.predictedTrainSeconds.toFixed(1)} s, actual ${v.actualTrainSeconds.toFixed(1)} s (${v.errorPct.toFixed(1)}%)\n`);
}
const summary = cases.map((c) => {
  const errs = rows.filter((r) => r.model === c.model).map((r) => Math.abs(r.v.errorPct));
  return `| ${c.model} | ${errs.length} | ${median(errs).toFixed(1)}% | ${Math.max(...errs).toFixed(1)}% | ${median(errs) <= 10 ? 'met' : 'NOT met'} |`;
});
process.stdout.write(
  [
    `### Estimate against the real run — ${new Date().toISOString().slice(0, 10)}`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model}; command: \`FTPLAN_DATA=../shared/data node bench/estimate-accuracy.mjs\` (${repeats} estimate → run pairs per model). Each run: random init, batch 16, batching longest, fp32, ${'`--limit 2600 --epochs 2`'} of the tweet data; each estimate timed at least ${process.env.BENCH_STEPS ?? 5} steps and 10 s of steps (the --min-time default) over a sample of the data's padded batch lengths (Theil–Sen line through step ms against length, read at the mean length).`,
    '',
    '| model | pairs | median abs error | worst abs error | target ≤ 10% (median) |',
    '|---|---|---|---|---|',
    ...summary,
    '',
    '| model | pair | run steps | estimate tokens/s | run tokens/s | predicted train s | actual train s | error | target ≤ 10% | 1-min load |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.model} | ${r.rep} | ${r.steps} | ${r.v.predictedTokensPerSec.toFixed(0)} | ${r.v.actualTokensPerSec.toFixed(0)} | ${r.v.predictedTrainSeconds.toFixed(1)} | ${r.v.actualTrainSeconds.toFixed(1)} | ${r.v.errorPct >= 0 ? '+' : ''}${r.v.errorPct.toFixed(1)}% | ${Math.abs(r.v.errorPct) <= 10 ? 'met' : 'NOT met'} | ${r.load.toFixed(2)} |`),
    '',
  ].join('\n'),
);
