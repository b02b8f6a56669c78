#!/usr/bin/env node
// bench/estimate.mjs — what `ftplan estimate` measures on its defaults, and how long it takes.
// Runs the built CLI (`node bin/ftplan.js estimate --json`) N times (default 3) one after another,
// records wall time, the measured step time, throughput and memory, and the host load, and prints
// a Markdown section for bench/RESULTS.md.
//   node bench/estimate.mjs [runs] [-- extra estimate flags]
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const runs = Number(argv[0] && argv[0] !== '--' ? argv[0] : 3);
const extra = sep >= 0 ? argv.slice(sep + 1) : [];

const rows = [];
for (let i = 0; i < runs; i++) {
  const load = loadavg()[0];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['bin/ftplan.js', 'estimate', '--json', ...extra], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    process.exit(1);
  }
  const j = JSON.parse(r.stdout);
  rows.push({ wall, load, j });
  process.stderr.write(`run ${i + 1}/${runs}: ${wall.toFixed(1)} s, step ${j.measurement.stepMs.toFixed(0)} ms\n`);
}

const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const j0 = rows[0].j;
const m0 = j0.measurement;
const gib = (b) => (b / 2 ** 30).toFixed(2);
const lines = [
  `### \`ftplan estimate${extra.length ? ' ' + extra.join(' ') : ''}\` — ${new Date().toISOString().slice(0, 10)}`,
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; libtorch ${j0.libtorch.version} (${j0.libtorch.cuda ? 'CUDA' : 'CPU'}), BLAS ${j0.libtorch.blas}, ${m0.threads} threads. Command: \`node bench/estimate.mjs ${argv.join(' ')}\`.`,
  '',
  '| run | wall s | model | device | dtype | batch × seq | step ms (median of ' + m0.steps + ') | tokens/s | peak tensors GiB | peak RSS GiB | achieved GFLOP/s | projected h | 1-min load before |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map(({ wall, load, j }, i) => {
    const m = j.measurement;
    return `| ${i + 1} | ${wall.toFixed(1)} | ${j.model} | ${j.device} | ${j.dtype} | ${j.batchSize} × ${j.seqLen} | ${m.stepMs.toFixed(0)} | ${m.tokensPerSec.toFixed(1)} | ${gib(m.peakMemoryBytes)} | ${m.rssPeakBytes ? gib(m.rssPeakBytes) : 'n/a'} | ${(m.achievedFlops / 1e9).toFixed(1)} | ${j.projection.hours.toFixed(2)} | ${load.toFixed(2)} |`;
  }),
  '',
  `Median wall time ${med(rows.map((r) => r.wall)).toFixed(1)} s; median step ${med(rows.map((r) => r.j.measurement.stepMs)).toFixed(0)} ms; projected ${med(rows.map((r) => r.j.projection.hours)).toFixed(2)} h for ${j0.epochs} epochs over ${j0.dataset.trainRows.toLocaleString('en-US')} rows.`,
  '',
];
process.stdout.write(lines.join('\n'));
