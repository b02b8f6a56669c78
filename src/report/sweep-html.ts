/**
 * sweep-html.ts — a sweep's report as one self-contained HTML page for a budgeting review: the
 * spend against the plan and the grid, every trial's train/eval curves inline (the SVG each run
 * wrote, so over- and under-fitting show side by side), the rung decisions and the winner. No
 * scripts, nothing fetched: the page can be mailed or attached as it is.
 */
import { duration, usd } from '../sweep/plan.js';
import type { SweepReport } from '../sweep/result.js';
import { describeSettings } from '../sweep/space.js';
import { esc } from './documents.js';
import { fraction } from './sweep.js';


/** svgs: each trial's curves (the run's curves.svg text), by trial id; a trial without one shows none. */
export function sweepHtml(r: SweepReport, svgs: Record<string, string | null>): string {
  const w = r.winner;
  const better = r.goal === 'min' ? 'lower' : 'higher';
  const spend = [
    ['planned search', r.planned.steps, duration(r.planned.hours), usd(r.planned.costUsd), usd(r.planned.instanceCostUsd)],
    ['actual search', r.actual.steps, duration(r.actual.hours), usd(r.actual.costUsd), ''],
    ['grid (planned)', r.grid.steps, duration(r.grid.hours), usd(r.grid.costUsd), usd(r.grid.instanceCostUsd)],
  ]
    .map((row) => `<tr>${row.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`)
    .join('\n');
  const trials = r.trials
    .map((t) => {
      const won = w?.trial === t.id;
      const dropped = r.decisions.find((d) => d.dropped.includes(t.id));
      const fate = won ? 'winner' : dropped ? `dropped after rung ${dropped.rung + 1}` : t.stepsDone < t.totalSteps ? 'not finished' : 'finished';
      const values = t.rungs.map((v) => `<td>${v === null ? '' : v.toFixed(4)}</td>`).join('');
      const svg = svgs[t.id];
      return `<section class="trial${won ? ' won' : ''}"><h3>${esc(t.id)}${won ? ' ★' : ''} <small>${esc(describeSettings(t.settings))} · ${esc(fate)} · ${t.stepsDone}/${t.totalSteps} steps · ${duration(t.seconds / 3600)}</small></h3>
<table><thead><tr>${r.fractions.map((f, i) => `<th>rung ${i + 1} (${fraction(f)})</th>`).join('')}</tr></thead><tbody><tr>${values}</tr></tbody></table>
${svg ? `<figure>${svg}</figure>` : '<p class="none">no curves (the trial has not evaluated yet)</p>'}</section>`;
    })
    .join('\n');
  const decisions = r.decisions
    .map((d) => `<li>Rung ${d.rung + 1}: ${d.ranking.map((x) => `${esc(x.trial)} ${x.value.toFixed(4)}`).join(', ')} → kept ${esc(d.kept.join(', '))}${d.dropped.length ? `; dropped ${esc(d.dropped.join(', '))}` : ''}.</li>`)
    .join('\n');
  const inst = r.planned.instance;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ftplan sweep: ${r.trials.length} trials</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}.trial{border-top:1px solid #ddd;padding-top:6px}.won h3{color:#b71c1c}small{font-weight:normal;color:#555}.none{color:#999}</style>
</head><body>
<h1>Hyperparameter sweep: ${r.trials.length} trials, ${esc(r.search)} search, successive halving (eta ${r.eta})</h1>
<ul>
<li>Status: ${esc(r.status)} (${esc(r.message)}).</li>
<li>Ranked by ${esc(r.metric)} (${better} is better) at the end of each rung; rungs train each trial to ${r.fractions.map(fraction).join(' → ')} of its run on the same data order.</li>
<li>${w ? `Winner: <b>${esc(w.trial)}</b> (${esc(describeSettings(w.settings))}), ${esc(r.metric)} ${w.value.toFixed(4)}${w.metrics.accuracy !== undefined ? `, accuracy ${(w.metrics.accuracy * 100).toFixed(2)}%` : ''}. Train it: <code>ftplan run --from-sweep ${esc(r.dir)}</code>.` : 'No winner yet.'}</li>
<li>The search trained ${r.actual.steps} steps against the grid's ${r.grid.steps} (${r.vsGrid.stepsSavedPct.toFixed(0)}% fewer)${r.timeErrorPct !== null ? `; it took ${duration(r.actual.hours)} against ${duration(r.planned.hours)} planned (${r.timeErrorPct >= 0 ? '+' : ''}${r.timeErrorPct.toFixed(0)}%)` : ''}.</li>
${inst ? `<li>Instance priced: ${esc(inst.cloud)} ${esc(inst.instance)} (${inst.gpus}× ${esc(inst.gpu)}, ${esc(inst.region)}, $${inst.pricePerHour}/h; source: ${esc(inst.source)}).</li>` : ''}
${r.notes.map((n) => `<li>Note: ${esc(n)}.</li>`).join('\n')}
</ul>
<h2>Spend</h2>
<table><thead><tr><th></th><th>steps</th><th>time here</th><th>cost here</th><th>on the instance</th></tr></thead><tbody>
${spend}
</tbody></table>
<h2>Rung decisions</h2>
<ul>${decisions || '<li>none yet</li>'}</ul>
<h2>Trials: train and eval curves</h2>
${trials}
</body></html>
`;
}
