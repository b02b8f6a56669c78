#!/usr/bin/env node
// bench/startup.mjs — how long the ftplan command takes to start, bundled (dist/ftplan.mjs, what
// bin/ftplan.js runs after `npm run build`) against the compiled modules it is made from
// (dist/cli.js), interleaved: `--help` (yargs and the flag tables) and a usage error of `estimate`
// (its command module too). Every e2e test starts the command, so this is most of what a test of
// bad input costs.
//   npm run build && node bench/startup.mjs            BENCH_ROUNDS=20 node bench/startup.mjs
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { median } from '../dist/measurement.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
if (!existsSync('dist/ftplan.mjs')) throw new Error('dist/ftplan.mjs is missing: npm run build');
const entry = (file) => `const { run } = await import(${JSON.stringify(new URL(`../dist/${file}`, import.meta.url).href)}); await run();`;
const kinds = { bundle: entry('ftplan.mjs'), modules: entry('cli.js') };
const cases = { help: ['--help'], 'estimate usage error': ['estimate', '--batch-size', '0'] };
const time = (code, args) => {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code, '--', ...args], { encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0 && !/batch-size/.test(r.stderr)) throw new Error(r.stderr);
  return ms;
};
const bare = [];
const ms = {};
const loadBefore = loadavg()[0];
for (let i = 0; i < rounds; i++) {
  bare.push(time('', []));
  for (const [c, args] of Object.entries(cases)) {
    const order = i % 2 ? ['modules', 'bundle'] : ['bundle', 'modules'];
    for (const k of order) (ms[`${c}|${k}`] ??= []).push(time(kinds[k], args));
  }
}
const f = (x) => x.toFixed(0);
console.log(`${rounds} interleaved rounds; 1-min load ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)}; bare \`node -e ''\`: ${f(median(bare))} ms (median)\n`);
console.log('| command | dist/cli.js (modules) ms | dist/ftplan.mjs (bundle) ms | saved |');
console.log('|---|---|---|---|');
for (const c of Object.keys(cases)) {
  const a = median(ms[`${c}|modules`]);
  const b = median(ms[`${c}|bundle`]);
  console.log(`| ${c} | ${f(a)} | ${f(b)} | ${f(a - b)} ms (${((1 - b / a) * 100).toFixed(0)}%) |`);
}
