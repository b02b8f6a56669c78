/**
 * table.ts — the terminal rendering of an estimate (cli-table3).
 */
import Table from 'cli-table3';
import type { EstimateResult } from '../estimate/result.js';
import { fmtBand } from '../planner/error-band.js';
import type { PlanRow } from '../planner/recommend.js';

export const fmtBytes = (b: number | null | undefined): string => {
  if (b === null || b === undefined || !Number.isFinite(b) || b < 0) return 'n/a';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
};

const num = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const si = (n: number, unit: string) => {
  const p = ['', 'k', 'M', 'G', 'T', 'P'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < p.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(2)} ${p[i]}${unit}`;
};

/** Colours only on a terminal, and never with NO_COLOR set. */
function style() {
  const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  return color ? { head: ['cyan'], border: ['grey'] } : { head: [], border: [] };
}

/**
 * Rows that differ only in their region, as one line: the first row of each group (the rows come
 * sorted, so the first is the one to show) and how many more regions it stands for. The plan table
 * and `ftplan pricing` group with it; their --json keeps every row.
 */
export function groupRegions<T extends { region: string }>(rows: readonly T[], key: (row: T) => string): { row: T; more: number; regions: string[] }[] {
  const groups = new Map<string, { row: T; more: number; regions: string[] }>();
  for (const row of rows) {
    const k = key(row);
    const g = groups.get(k);
    if (g) {
      g.more++;
      g.regions.push(row.region);
    } else groups.set(k, { row, more: 0, regions: [row.region] });
  }
  return [...groups.values()];
}

/** A group's region cell: the first region, and "(+N more)" for the rest. */
export const regionCell = (g: { row: { region: string }; more: number }): string => (g.more ? `${g.row.region} (+${g.more} more)` : g.row.region);

/** A row's error band: tokens/s and peak memory, from the published comparison. */
const bandCell = (x: PlanRow): string => (x.errorBand ? `${fmtBand(x.errorBand.tokensPerSecPct)} / ${fmtBand(x.errorBand.memoryPct)}` : 'n/a');

/** --method auto: per method the cheapest (fastest) way that fits, and the trade-off. */
function renderComparison(r: EstimateResult): string {
  const c = r.plan.comparison;
  if (!c) return '';
  const t = new Table({
    head: ['method', 'instance (cheapest that fits)', 'micro × accum', 'ckpt', 'hours', 'total $', '± time/mem', 'trainable'],
    style: style(),
    wordWrap: true,
    colWidths: [9, 34, 10, 6, 8, 10, 13, 26],
  });
  for (const ch of c.choices) {
    const x = ch.row as PlanRow | null;
    t.push([
      `${c.pick === ch.method ? '★ ' : ''}${ch.method}`,
      x ? `${x.gpus}× ${x.gpu}: ${x.cloud} ${x.instance}, ${x.region}` : (ch.reason ?? '—'),
      x ? `${x.microBatch} × ${x.gradAccum}` : '—',
      x ? (x.gradientCheckpointing ? 'on' : 'off') : '—',
      x ? x.hours.toFixed(2) : '—',
      x ? x.costUsd.toFixed(2) : '—',
      x ? bandCell(x) : '—',
      ch.description.replace(/^.*: /, ''),
    ]);
  }
  return [`methods compared (--method auto, by ${c.objective}); the rows below are ${c.pick ?? 'full'}'s`, t.toString(), ...c.tradeOff.map((l) => `  ${l}`)].join('\n');
}

/** The plan: one row per instance and region, the pick marked, the arithmetic under it. */
export function renderPlan(r: EstimateResult, top = 12): string {
  const p = r.plan;
  const t = new Table({
    head: ['', 'cloud', 'instance', 'GPUs', 'region', '$/h', 'hours', 'total $', 'micro × accum', 'peak GiB', '± time/mem', 'basis', 'note'],
    style: style(),
    wordWrap: true,
    colWidths: [3, 8, 22, 13, 16, 9, 8, 10, 10, 8, 13, 14, 26],
  });
  // One line per instance type: its cheapest region (the JSON output has every region).
  const grouped = groupRegions(p.rows, (x) => `${x.cloud}|${x.instance}|${x.feasible}`);
  const rows = top > 0 ? grouped.slice(0, top) : grouped;
  for (const { row: x, more } of rows) {
    t.push([
      x.recommended ? '★' : '',
      x.cloud,
      x.instance,
      x.gpus > 1 && x.fits ? `${x.gpus}× ${x.gpu} (${x.sharding === 'fsdp' ? 'FSDP' : 'DP'} ${Math.round(x.scalingEfficiency * 100)}%)` : `${x.gpus}× ${x.gpu}`,
      regionCell({ row: x, more }),
      x.pricePerHour.toFixed(3) + (x.spot ? ' spot' : ''),
      Number.isFinite(x.hours) ? x.hours.toFixed(2) : '—',
      Number.isFinite(x.costUsd) ? x.costUsd.toFixed(2) : '—',
      x.fits ? `${x.microBatch} × ${x.gradAccum}${x.gradientCheckpointing ? ' ckpt' : ''}` : '—',
      Number.isFinite(x.peakMemoryGiB) ? `${x.peakMemoryGiB.toFixed(1)}${x.fits ? '' : ' (no)'}` : '—',
      bandCell(x),
      x.calibration !== 1 ? `${x.basis} ×${x.calibration.toFixed(3)} (calibrated)` : x.basis,
      x.feasible ? '' : x.reason,
    ]);
  }
  const lines = [
    ...(p.method ? [`method: ${p.method.description}${p.method.exact ? ' (--exact: the configuration as given)' : ''}`] : []),
    ...(p.comparison ? [renderComparison(r), ''] : []),
    t.toString(),
    `DP n%: data-parallel scaling efficiency (step time without the gradient all-reduce ÷ with it)\n${rows.length} of ${grouped.length} instance types (${p.rows.length} instance × region rows in --json), by ${p.objective}${p.constraints.budget !== null ? `, budget $${p.constraints.budget}` : ''}${p.constraints.deadline !== null ? `, deadline ${p.constraints.deadline} h` : ''}${p.constraints.spot ? ', spot prices' : ''}; ★ = recommended`,
    ...p.arithmetic.map((a) => `  ${a}`),
    ...p.notes.map((n) => `note: ${n}`),
  ];
  return lines.join('\n');
}

/** The peak's parts as the core measured them: weights as held, the trainable state, activations. */
function memoryParts(b: NonNullable<EstimateResult['memoryBreakdown']>): string {
  const part = (n: number) => (n >= 0 ? fmtBytes(n) : 'not measured');
  return `weights as held ${part(b.weightBytes)} · trainable state (grads + AdamW) ${part(b.trainableStateBytes)} · activations ${part(b.activationBytes)}${b.gradientCheckpointing ? ' (checkpointed)' : ''}`;
}

export function renderEstimate(r: EstimateResult, top = 12): string {
  const m = r.measurement;
  const measured = new Table({ head: ['measured here', ''], wordWrap: true, colWidths: [24, 76], style: style() });
  measured.push(
    ['model', `${r.model} (${r.family === 'gpt2' ? '' : `${r.family}, ${r.task}, `}${num(m.parameters)} parameters, ${num(m.matmulParameters)} in matmuls)`],
    ...(r.checkpoint ? [['checkpoint', r.checkpoint.note]] : []),
    // what trains: older estimates (re-read JSON) have no record of it and trained every weight
    ...(r.training ? [['training', r.training.description]] : []),
    ['device', `${r.device}: ${m.deviceName}`],
    ...((m as { kind?: string; proxy?: { summary: string } }).kind === 'proxy' ? [['measured as', (m as { proxy?: { summary: string } }).proxy?.summary ?? 'proxy']] : []),
    ['dtype · threads', `${r.dtype} · ${m.threads} thread(s)`],
    ['libtorch · BLAS', `${m.libtorch.version}${m.libtorch.cuda ? ' (CUDA)' : ' (CPU)'} · ${m.blas.kind}${m.blas.slow ? ' (SLOW: reference BLAS)' : ''}`],
    ['batch × sequence', `${r.batchSize} × ${r.seqLen} tokens${r.gradAccum > 1 ? ` × ${r.gradAccum} accumulated` : ''} (${r.seqLenBasis})`],
    ['step time', `${num(m.stepMs, 1)} ms per step at the mean length (${m.stepModel?.fit === 'theil-sen' ? `fitted ${num(m.stepModel.interceptMs, 1)} + ${num(m.stepModel.msPerPosition, 2)} ms × length over ` : 'mean of '}${m.steps} timed steps, min ${num(m.stepMsMin, 1)}, max ${num(m.stepMsMax, 1)}, after ${m.warmupSteps} warm-up)`],
    ['throughput', `${num(m.tokensPerSec, 1)} tokens/s · ${num(m.samplesPerSec, 2)} samples/s`],
    ['eval (forward only)', m.evalStepMs === null ? 'not measured' : `${num(m.evalStepMs, 1)} ms per batch of ${m.evalBatchSize} · ${num(m.evalTokensPerSec ?? 0, 1)} tokens/s`],
    [
      'peak memory',
      `${fmtBytes(m.peakMemoryBytes)} tensors (${m.peakMemorySource}); ${fmtBytes(m.staticMemoryBytes)} of it weights + grads + AdamW` +
        (m.rssPeakBytes !== null ? `; process peak RSS ${fmtBytes(m.rssPeakBytes)}` : ''),
    ],
    ...(r.memoryBreakdown ? [['memory parts', memoryParts(r.memoryBreakdown)]] : []),
    ['model FLOPs', `${si(m.flopsPerToken, 'FLOP')}/token (${r.family === 'gpt2' ? '6N + 12·L·C·T' : `6N + 12·L·T·H·d_head${r.task === 'causal-lm' ? ', N with the LM head' : ''}`}) → achieved ${si(m.achievedFlops, 'FLOP/s')}`],
    ['host load', `${m.host.loadBefore.toFixed(2)} → ${m.host.loadAfter.toFixed(2)} (1-min load average, ${m.host.cpus} CPUs)`],
  );
  const p = r.projection;
  const proj = new Table({ head: ['projected here', r.dataset.name], wordWrap: true, colWidths: [24, 76], style: style() });
  proj.push(
    ['data', `${num(r.dataset.trainRows)} train / ${num(r.dataset.evalRows)} eval rows (${r.dataset.source})${r.dataset.targetsPerRow != null ? `; ${num(r.dataset.targetsPerRow, 1)} counted targets per row` : ''}`],
    ['steps', `${num(p.stepsPerEpoch)} steps/epoch × ${p.epochs} epochs = ${num(p.totalSteps)} steps of ${p.samplesPerStep} samples`],
    ['train time', `${num(p.trainHours, 2)} h`],
    ['eval time', p.evalIncluded ? `${num(p.evalHours, 2)} h` : 'not included'],
    ['total on this device', `${num(p.hours, 2)} h${r.calibration.used ? ` (throughput × ${r.calibration.ratio.toFixed(3)}: calibrated by ${r.calibration.runs} earlier run(s) of ftplan run, which ran at ×${r.calibration.observedRatio.toFixed(3)} of their estimates${r.calibration.runs > 1 ? ` (×${r.calibration.min.toFixed(2)}–×${r.calibration.max.toFixed(2)})` : ''}, shrunk toward 1 as one run's ratio is mostly machine noise)` : ''}`],
  );
  const lines = [measured.toString(), proj.toString(), ...p.arithmetic.map((a) => `  ${a}`), '', renderPlan(r, top)];
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
