#!/usr/bin/env node
// bench/startup.mjs — how long the ftplan command takes to start, bundled (dist/ftplan.mjs, what
// bin/ftplan.js runs after `npm run build`) against the compiled modules it is made from
// (dist/cli.js), interleaved: `--help` (yargs and the flag tables) and a usage error of `estimate`
// (its command module too). Every e2e test starts the command, so this is most of what a test of
// bad input costs.
//   npm run build && node bench/startup.mjs            BENCH_ROUNDS=20 node bench/startup.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from '../dist/measurement.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
if (!existsSync('dist/ftplan.mjs')) throw new Error('dist/ftplan.mjs is missing: npm run build');
// each entry a file of its own, as bin/ftplan.js is one (the CLI reads its arguments after the script's)
const dir = mkdtempSync(join(tmpdir(), 'ftplan-startup-'));
const entry = (name, body) => {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, body);
  return file;
};
const runs = (file) => `const { run } = await import(${JSON.stringify(new URL(`../dist/${file}`, import.meta.url).href)}); await run();\n`;
const kinds = { bundle: entry('bundle', runs('ftplan.mjs')), modules: entry('modules', runs('cli.js')) };
const empty = entry('bare', '');
const cases = { help: ['--help'], 'estimate usage error': ['estimate', '--batch-size', '0'] };
const time = (file, args) => {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0 && !/batch-size/.test(r.stderr)) throw new Error(r.stderr);
  return ms;
};
const bare = [];
const ms = {};
const loadBefore = loadavg()[0];
for (let i = 0; i < rounds; i++) {
  bare.push(time(empty, []));
  for (const [c, args] of Object.entries(cases)) {
    const order = i % 2 ? ['modules', 'bundle'] : ['bundle', 'modules'];
    for (const k of order) (ms[`${c}|${k}`] ??= []).push(time(kinds[k], args));
  }
}
const f = (x) => x.toFixed(0);
console.log(`${rounds} interleaved rounds; 1-min load ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)}; bare \`node empty.mjs\`: ${f(median(bare))} ms (median)\n`);
console.log('| command | dist/cli.js (modules) ms | dist/ftplan.mjs (bundle) ms | saved |');
console.log('|---|---|---|---|');
for (const c of Object.keys(cases)) {
  const a = median(ms[`${c}|modules`]);
  const b = median(ms[`${c}|bundle`]);
  console.log(`| ${c} | ${f(a)} | ${f(b)} | ${f(a - b)} ms (${((1 - b / a) * 100).toFixed(0)}%) |`);
}
