#!/usr/bin/env node
// bench/run-vs-estimate-steps.mjs — a run's steps against its estimate, length by length and over
// time: where a prediction error comes from. Reads an `ftplan estimate --json` file and a run's
// output folder (metrics.jsonl records each step's ms and padded tokens).
//   node bench/run-vs-estimate-steps.mjs e.json out/ [batch=16]
// This is how the median-level bias of the old step-time fit was found: at every length the
// estimate's own mean step sat 5–7% above its fitted (median) line, and the run's steps with it.
import { readFileSync } from 'node:fs';
import { fitStepTime, mean, stepMsAt } from '../dist/measurement.js';

const [estFile, runDir, batch = '16'] = process.argv.slice(2);
if (!estFile || !runDir) {
  process.stderr.write('usage: node bench/run-vs-estimate-steps.mjs <estimate.json> <run output folder> [batch]\n');
  process.exit(2);
}
const B = Number(batch);
const m = JSON.parse(readFileSync(estFile, 'utf8')).measurement;
const fit = fitStepTime(m.stepSeqLens, m.stepMsAll);
const steps = readFileSync(`${runDir}/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((o) => o.type === 'train' && o.tokens);
const rows = steps.map((s) => ({ T: s.tokens / B, ms: s.ms, pred: stepMsAt(fit, s.tokens / B) }));
const est = new Map();
m.stepSeqLens.forEach((T, i) => est.set(T, [...(est.get(T) ?? []), m.stepMsAll[i]]));
const run = new Map();
rows.forEach((r) => run.set(r.T, [...(run.get(r.T) ?? []), r.ms]));
const actual = rows.reduce((a, r) => a + r.ms, 0) / 1000;
const predicted = rows.reduce((a, r) => a + r.pred, 0) / 1000;
const out = [
  `estimate: ${m.steps} timed steps, line ${fit.interceptMs.toFixed(2)} + ${fit.msPerPosition.toFixed(3)} ms × length (${fit.fit})`,
  `run: ${rows.length} steps, ${actual.toFixed(1)} s; the line summed over the run's own lengths: ${predicted.toFixed(1)} s (${(((predicted - actual) / actual) * 100).toFixed(1)}%)`,
  '',
  '| length | run steps | run mean ms | line ms | estimate steps | estimate mean ms | estimate median ms |',
  '|---|---|---|---|---|---|---|',
];
for (const T of [...new Set([...run.keys(), ...est.keys()])].sort((a, b) => a - b)) {
  const r = run.get(T) ?? [];
  const e = est.get(T) ?? [];
  if (r.length < 10 && !e.length) continue;
  const med = e.length ? [...e].sort((a, b) => a - b)[e.length >> 1] : null;
  out.push(`| ${T} | ${r.length} | ${r.length ? mean(r).toFixed(2) : '—'} | ${stepMsAt(fit, T).toFixed(2)} | ${e.length || '—'} | ${e.length ? mean(e).toFixed(2) : '—'} | ${med !== null ? med.toFixed(2) : '—'} |`);
}
out.push('', '| run steps | run ÷ line |', '|---|---|');
const w = Math.max(50, Math.ceil(rows.length / 8));
for (let i = 0; i < rows.length; i += w) {
  const c = rows.slice(i, i + w);
  out.push(`| ${i + 1}–${i + c.length} | ${(mean(c.map((r) => r.ms)) / mean(c.map((r) => r.pred))).toFixed(3)} |`);
}
process.stdout.write(`${out.join('\n')}\n`);
