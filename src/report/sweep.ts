/**
 * sweep.ts — how a sweep is shown: its plan before any training (rungs, steps, time and cost here
 * and on the plan's instance, against the grid), the progress line of each segment, and the final
 * report as a terminal table and as Markdown for a budgeting review.
 */
import Table from 'cli-table3';
import { duration, usd, type Spend, type SweepPlan } from '../sweep/plan.js';
import type { SweepReport } from '../sweep/result.js';
import { describeSettings, DIMENSIONS, type Value } from '../sweep/space.js';

export { duration, usd };
const pct = (x: number) => `${x.toFixed(0)}%`;
/** A rung's share of the run: 100%, or two significant digits. */
export const fraction = (f: number) => (f === 1 ? '100%' : `${(f * 100).toPrecision(2)}%`);
const show = (k: string, v: Value) => {
  const d = DIMENSIONS.find((x) => x.flag === k);
  return d?.show ? d.show(v) : String(v);
};
const plain = () => ({ head: [] as string[], border: [] as string[] });
/** No line between rows: a table of numbers reads down its columns. */
const CHARS = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

export interface PlanHeader {
  trials: number;
  search: string;
  eta: number;
  metric: string;
  pricePerHour: number | null;
  dimensions: string[];
}

/** The plan of the whole search, printed before anything trains. */
export function renderPlan(p: SweepPlan, h: PlanHeader): string {
  const inst = p.instance;
  const t = new Table({ head: ['rung', 'of run', 'trials', 'to step', 'steps', 'evals', 'time here', 'cost here', inst ? `time ${inst.instance}` : 'instance', inst ? 'cost there' : ''], style: plain(), chars: CHARS });
  const row = (name: string, f: string, n: string, to: string, s: Spend) => [name, f, n, to, String(s.steps), String(s.evals), duration(s.hours), usd(s.costUsd), s.instanceHours !== null ? duration(s.instanceHours) : '—', usd(s.instanceCostUsd)];
  for (const r of p.rungs) if (!r.trials) t.push([String(r.rung + 1), fraction(r.fraction), '0', 'skipped', '', '', '', '', '', '']);
  else t.push(row(String(r.rung + 1), fraction(r.fraction), String(r.trials), r.toStep[0] === r.toStep[1] ? String(r.toStep[0]) : `${r.toStep[0]}–${r.toStep[1]}`, r));
  t.push(row('search', '', String(h.trials), '', p.total));
  t.push(row('grid', '100%', String(h.trials), '', p.grid));
  const skipped = p.rungs.some((r) => !r.trials) ? ['a skipped rung: one trial was left after the decision before it, so it trains on to the last rung without another evaluation'] : [];
  return [
    `plan: ${h.trials} trials (${h.search} over ${h.dimensions.join(', ')}), successive halving: keep the best 1/${h.eta} by ${h.metric} at each rung`,
    t.toString(),
    `the search: ${p.total.steps} steps, ${duration(p.total.hours)} here${p.total.costUsd !== null ? ` (${usd(p.total.costUsd)} at $${h.pricePerHour}/h)` : ''}; the grid (every trial to the end): ${p.grid.steps} steps, ${duration(p.grid.hours)}: the search spends ${pct(p.savingPct)} less`,
    inst
      ? `on ${inst.cloud} ${inst.instance} (${inst.gpus}× ${inst.gpu}, ${inst.region}${inst.spot ? ', spot' : ''}, $${inst.pricePerHour}/h; the planner's estimate, set-up included): ${duration(p.total.instanceHours!)} ${usd(p.total.instanceCostUsd)}, the grid ${duration(p.grid.instanceHours!)} ${usd(p.grid.instanceCostUsd)}`
      : 'no cloud instance priced (none in the price tables fits every trial)',
    ...[...skipped, ...p.notes].map((n) => `note: ${n}`),
  ].join('\n');
}

/** One line before each segment: where the search is and what it has spent. */
export function progressLine(e: { rung: number; rungs: number; trial: string; settings: Record<string, Value>; index: number; of: number; fromStep: number; toStep: number; totalSteps: number; spentHours: number; plannedHours: number; pricePerHour: number | null }): string {
  const spent = e.pricePerHour !== null ? ` (${usd(e.spentHours * e.pricePerHour)} of ${usd(e.plannedHours * e.pricePerHour)})` : '';
  return `rung ${e.rung + 1}/${e.rungs} · trial ${e.index + 1}/${e.of} ${e.trial} (${describeSettings(e.settings)}) · steps ${e.fromStep}→${e.toStep} of ${e.totalSteps} · spent ${duration(e.spentHours)} of ${duration(e.plannedHours)} planned${spent}`;
}

function trialTable(r: SweepReport): string {
  const keys = Object.keys(r.trials[0]?.settings ?? {});
  const t = new Table({ head: ['trial', ...keys, ...r.fractions.map((f, i) => `rung ${i + 1} (${fraction(f)})`), 'steps'], style: plain(), chars: CHARS });
  const lastRung = (tr: SweepReport['trials'][number]) => tr.rungs.reduce<number>((m, v, i) => (v !== null ? i : m), -1);
  for (const tr of r.trials) {
    const end = lastRung(tr);
    const dropped = r.decisions.some((d) => d.dropped.includes(tr.id));
    t.push([
      tr.id + (r.winner?.trial === tr.id ? ' ★' : ''),
      ...keys.map((k) => show(k, tr.settings[k]!)),
      ...tr.rungs.map((v, i) => (v === null ? '' : `${v.toFixed(4)}${i === end && dropped ? ' ✗' : ''}`)),
      `${tr.stepsDone}/${tr.totalSteps}`,
    ]);
  }
  return t.toString();
}

const spendLine = (r: SweepReport) => {
  const a = r.actual;
  const lines = [
    `time: ${duration(a.hours)} here${a.costUsd !== null ? ` (${usd(a.costUsd)})` : ''} against ${duration(r.planned.hours)} planned${r.timeErrorPct !== null ? ` (${r.timeErrorPct >= 0 ? '+' : ''}${r.timeErrorPct.toFixed(0)}%)` : ''}${r.planned.costUsd !== null ? `, ${usd(r.planned.costUsd)}` : ''}`,
    `vs the grid: ${a.steps} steps trained against the grid's ${r.grid.steps} (${pct(r.vsGrid.stepsSavedPct)} fewer); the grid was planned at ${duration(r.grid.hours)}${r.grid.costUsd !== null ? ` (${usd(r.grid.costUsd)})` : ''}${r.vsGrid.actualSavingPct !== null ? `: the search took ${pct(Math.abs(r.vsGrid.actualSavingPct))} ${r.vsGrid.actualSavingPct >= 0 ? 'less' : 'more'} than that` : ''}`,
  ];
  const inst = r.planned.instance;
  if (inst) lines.push(`on ${inst.cloud} ${inst.instance} the plan prices the search at ${usd(r.planned.instanceCostUsd)} and the grid at ${usd(r.grid.instanceCostUsd)}`);
  return lines;
};

/** The sweep on the terminal. */
export function renderSweep(r: SweepReport): string {
  const w = r.winner;
  return [
    `${r.status}: ${r.message}`,
    trialTable(r),
    ...r.decisions.map((d) => `rung ${d.rung + 1}: kept ${d.kept.join(', ')}${d.dropped.length ? `; dropped ${d.dropped.join(', ')}` : ''} (${r.metric}, ${r.goal === 'min' ? 'lower' : 'higher'} is better)`),
    w ? `winner ${w.trial}: ${describeSettings(w.settings)} · ${r.metric} ${w.value.toFixed(4)}${w.metrics.accuracy !== undefined ? ` · accuracy ${(w.metrics.accuracy * 100).toFixed(2)}%` : ''} · model in ${r.dir}/${w.folder}` : '',
    ...spendLine(r),
    w ? `train the winner on the full run: ftplan run --from-sweep ${r.dir}` : '',
  ]
    .filter(Boolean)
    .join('\n') + '\n';
}

/** The sweep for a budgeting review. */
export function sweepMarkdown(r: SweepReport): string {
  const keys = Object.keys(r.trials[0]?.settings ?? {});
  const w = r.winner;
  return [
    `# ftplan sweep: ${r.trials.length} trials, ${r.search} search, successive halving (eta ${r.eta})`,
    '',
    `- Status: ${r.status} (${r.message}).`,
    `- Ranked by ${r.metric} (${r.goal === 'min' ? 'lower' : 'higher'} is better) at the end of each rung; rungs train each trial to ${r.fractions.map(fraction).join(' → ')} of its run, on the same data order, each continuing from the trial's own checkpoint.`,
    w ? `- Winner: **${w.trial}** (${describeSettings(w.settings)}), ${r.metric} ${w.value.toFixed(4)}. Train it: \`ftplan run --from-sweep ${r.dir}\`.` : '- No winner yet.',
    '',
    '## Spend',
    '',
    '| | steps | time here | cost here | on the instance |',
    '|---|---|---|---|---|',
    `| planned search | ${r.planned.steps} | ${duration(r.planned.hours)} | ${usd(r.planned.costUsd)} | ${usd(r.planned.instanceCostUsd)} |`,
    `| actual search | ${r.actual.steps} | ${duration(r.actual.hours)} | ${usd(r.actual.costUsd)} | |`,
    `| grid (planned) | ${r.grid.steps} | ${duration(r.grid.hours)} | ${usd(r.grid.costUsd)} | ${usd(r.grid.instanceCostUsd)} |`,
    '',
    ...spendLine(r).map((l) => `- ${l}.`),
    r.planned.instance ? `- Instance: ${r.planned.instance.cloud} ${r.planned.instance.instance} (${r.planned.instance.gpus}× ${r.planned.instance.gpu}, ${r.planned.instance.region}, $${r.planned.instance.pricePerHour}/h; source: ${r.planned.instance.source}).` : '',
    ...r.notes.map((n) => `- Note: ${n}.`),
    '',
    '## Trials',
    '',
    `| trial | ${keys.join(' | ')} | ${r.fractions.map((f, i) => `rung ${i + 1} (${fraction(f)})`).join(' | ')} | steps | curves |`,
    `|---|${keys.map(() => '---|').join('')}${r.fractions.map(() => '---|').join('')}---|---|`,
    ...r.trials.map((t) => `| ${t.id}${w?.trial === t.id ? ' ★' : ''} | ${keys.map((k) => show(k, t.settings[k]!)).join(' | ')} | ${t.rungs.map((v) => (v === null ? '' : v.toFixed(4))).join(' | ')} | ${t.stepsDone}/${t.totalSteps} | ${t.curves ? `![${t.id}](${t.curves})` : ''} |`),
    '',
    '## Rung decisions',
    '',
    ...r.decisions.map((d) => `- Rung ${d.rung + 1}: ${d.ranking.map((x) => `${x.trial} ${x.value.toFixed(4)}`).join(', ')} → kept ${d.kept.join(', ')}.`),
    '',
  ]
    .filter((l, i, a) => l !== '' || a[i - 1] !== '')
    .join('\n');
}
