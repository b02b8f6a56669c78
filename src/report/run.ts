/**
 * run.ts — how a run is shown: the terminal summary, the Markdown report for a budgeting review,
 * the loss/accuracy curves as SVG, a sparkline, and an evaluation's metrics as text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isLmMetrics } from '../train/lm-metrics.js';
import { metricScore, metricScoreName, type RunMetrics } from '../train/metrics.js';
import type { RunReport } from '../train/result.js';

/** A small SVG of train loss and eval loss/accuracy against steps: over- and under-fitting at a glance. */
export function curvesSvg(train: { step: number; loss: number }[], evals: { step: number; loss: number; accuracy: number }[]): string {
  const W = 720;
  const H = 360;
  const pad = 50;
  const maxStep = Math.max(1, ...train.map((p) => p.step), ...evals.map((p) => p.step));
  const maxLoss = Math.max(0.1, ...train.map((p) => p.loss), ...evals.map((p) => p.loss)) * 1.05;
  const X = (s: number) => pad + (s / maxStep) * (W - 2 * pad);
  const Y = (v: number, max: number) => H - pad - (v / max) * (H - 2 * pad);
  const line = (pts: [number, number][], colour: string) => (pts.length ? `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>` : '');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><rect width="${W}" height="${H}" fill="#fff"/>`,
    `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#444"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#444"/>`,
    `<text x="${W / 2}" y="${H - 12}" font-size="12" text-anchor="middle">optimizer step (max ${maxStep})</text>`,
    `<text x="10" y="${pad - 10}" font-size="12">loss (max ${maxLoss.toFixed(2)}); accuracy 0–1 on the same axis height</text>`,
    line(train.map((p) => [X(p.step), Y(p.loss, maxLoss)]), '#1e88e5'),
    line(evals.map((p) => [X(p.step), Y(p.loss, maxLoss)]), '#e53935'),
    line(evals.map((p) => [X(p.step), Y(p.accuracy, 1)]), '#43a047'),
    `<text x="${W - 200}" y="${pad}" font-size="12" fill="#1e88e5">train loss</text><text x="${W - 200}" y="${pad + 16}" font-size="12" fill="#e53935">eval loss</text><text x="${W - 200}" y="${pad + 32}" font-size="12" fill="#43a047">eval accuracy</text>`,
    '</svg>',
  ].join('\n');
}

/** Unicode sparkline of a series, resampled to `width` columns. */
export function sparkline(values: number[], width = 60): string {
  if (!values.length) return '';
  const bars = '▁▂▃▄▅▆▇█';
  const cols = Math.min(width, values.length);
  const pts = Array.from({ length: cols }, (_, i) => {
    const a = Math.floor((i * values.length) / cols);
    const b = Math.max(a + 1, Math.floor(((i + 1) * values.length) / cols));
    const slice = values.slice(a, b);
    return slice.reduce((x, y) => x + y, 0) / slice.length;
  });
  const lo = Math.min(...pts);
  const hi = Math.max(...pts);
  return pts.map((v) => bars[hi > lo ? Math.round(((v - lo) / (hi - lo)) * 7) : 0]).join('');
}

function readCurve(dir: string, type: string, field: string): number[] {
  try {
    return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, number | string>)
      .filter((o) => o.type === type)
      .map((o) => o[field] as number);
  } catch {
    return [];
  }
}

const pct2 = (x: number) => `${(x * 100).toFixed(2)}%`;

export function renderMetrics(m: RunMetrics): string {
  if (isLmMetrics(m)) {
    const exact = m.exactMatch !== null ? `exact match ${pct2(m.exactMatch)} (${m.exactMatchRows} rows scored) · ` : '';
    return `${exact}loss ${m.loss.toFixed(4)} · perplexity ${m.perplexity.toFixed(3)} · token accuracy ${pct2(m.tokenAccuracy)} · ${m.targets} counted tokens in ${m.rows} rows`;
  }
  const lines = [`accuracy ${(m.accuracy * 100).toFixed(2)}% · macro-F1 ${m.macroF1.toFixed(4)} · loss ${m.loss.toFixed(4)} · ${m.rows} rows`];
  for (const c of m.perClass) lines.push(`  ${c.label.padEnd(12)} precision ${c.precision.toFixed(3)}  recall ${c.recall.toFixed(3)}  f1 ${c.f1.toFixed(3)}  support ${c.support}`);
  lines.push(`  confusion (rows: true, columns: predicted): ${JSON.stringify(m.confusion)}`);
  return lines.join('\n');
}

/** A signed percentage: +4.2%, -3.0%. */
const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;

/** The run's report for a budgeting review: what it cost against what was predicted. */
export function runMarkdown(r: RunReport): string {
  const v = r.vsEstimate;
  const m = r.finalEval;
  return [
    `# ftplan run: ${r.model} on ${r.dataset}`,
    '',
    `- Status: ${r.status} (${r.message}); ${r.steps}/${r.totalSteps} steps, ${r.epochsDone} epoch(s), on ${r.device}.`,
    r.peft ? `- Trained: ${r.peft.description}.${r.peft.adapter ? ` Adapter (PEFT's layout): \`${r.peft.adapter}\`${r.peft.merged ? `; merged model: \`${r.peft.merged}\`` : ''}.` : ''}` : '',
    `- Wall time ${r.wallSeconds.toFixed(1)} s; training ${r.trainSeconds.toFixed(1)} s at ${r.tokensPerSec.toFixed(1)} tokens/s.`,
    r.spentUsd !== null ? `- Spent ≈ $${r.spentUsd.toFixed(4)}${r.finishUsd !== null ? `; finishing ≈ $${r.finishUsd.toFixed(4)} more` : ''}.` : '',
    m ? (isLmMetrics(m) ? `- Eval: ${renderMetrics(m)}.` : `- Eval: accuracy ${(m.accuracy * 100).toFixed(2)}%, macro-F1 ${m.macroF1.toFixed(4)}, loss ${m.loss.toFixed(4)} (${m.rows} rows).`) : '- Eval: no eval split.',
    '',
    '## Predicted against actual',
    '',
    v
      ? [
          '| | predicted | actual | error |',
          '|---|---|---|---|',
          `| training time | ${v.predictedTrainSeconds.toFixed(1)} s | ${v.actualTrainSeconds.toFixed(1)} s | ${pct(v.errorPct)} |`,
          `| tokens/s | ${v.predictedTokensPerSec.toFixed(1)} | ${v.actualTokensPerSec.toFixed(1)} | ${pct(((v.predictedTokensPerSec - v.actualTokensPerSec) / v.actualTokensPerSec) * 100)} |`,
          v.predictedEvalSeconds !== null ? `| eval time | ${v.predictedEvalSeconds.toFixed(1)} s | ${v.actualEvalSeconds.toFixed(1)} s | ${pct(((v.predictedEvalSeconds - v.actualEvalSeconds) / Math.max(1e-9, v.actualEvalSeconds)) * 100)} |` : '',
          v.predictedCostUsd !== null ? `| cost | $${v.predictedCostUsd.toFixed(4)} | $${v.actualCostUsd!.toFixed(4)} | ${pct(((v.predictedCostUsd - v.actualCostUsd!) / v.actualCostUsd!) * 100)} |` : '',
          '',
          `Prediction: ${v.source}${v.calibrationApplied ? `, calibrated ×${v.calibrationApplied.ratio.toFixed(3)} from ${v.calibrationApplied.runs} earlier run(s) (the bare measurement, ${v.measuredTokensPerSec.toFixed(1)} tokens/s, would have been ${pct(v.uncalibratedErrorPct)} off)` : ' (no calibration from earlier runs applied)'}. Calibration now ×${v.calibration.ratio.toFixed(3)} (the runs measured ×${v.calibration.observedRatio.toFixed(3)} over ${v.calibration.runs} run(s), shrunk toward 1), stored in ${v.calibration.file} for the next estimate.`,
        ]
          .filter(Boolean)
          .join('\n')
      : 'No steps were run.',
    '',
    '## Evaluations',
    '',
    ...(r.task === 'causal-lm'
      ? ['| step | epoch | loss | perplexity | token accuracy | exact match |', '|---|---|---|---|---|---|', ...r.evals.map((e) => (isLmMetrics(e.metrics) ? `| ${e.step} | ${e.epoch} | ${e.metrics.loss.toFixed(4)} | ${e.metrics.perplexity.toFixed(3)} | ${pct2(e.metrics.tokenAccuracy)} | ${e.metrics.exactMatch !== null ? pct2(e.metrics.exactMatch) : 'n/a'} |` : ''))]
      : ['| step | epoch | loss | accuracy | macro-F1 |', '|---|---|---|---|---|', ...r.evals.map((e) => (isLmMetrics(e.metrics) ? '' : `| ${e.step} | ${e.epoch} | ${e.metrics.loss.toFixed(4)} | ${(e.metrics.accuracy * 100).toFixed(2)}% | ${e.metrics.macroF1.toFixed(4)} |`))]),
    '',
    `Checkpoint: ${r.checkpoint}. Metrics: metrics.jsonl; curves: curves.svg in ${r.outputDir}.`,
    '',
  ]
    .filter((l, i, a) => l !== '' || a[i - 1] !== '')
    .join('\n');
}

/** The run's summary on the terminal: how it ended, speed, spend, eval, curves, the comparison. */
export function runSummary(r: RunReport): string {
  return (
    [
      `${r.status}: ${r.message}`,
      r.peft ? `trained: ${r.peft.description}` : '',
      `${r.steps}/${r.totalSteps} steps, ${r.epochsDone} epoch(s), ${r.wallSeconds.toFixed(1)} s wall; ${r.tokensPerSec.toFixed(1)} tokens/s; ${r.meanStepMs.toFixed(1)} ms/step (of which ${r.jsOverheadMs.toFixed(2)} ms outside the native core)`,
      r.spentUsd !== null ? `spent ≈ $${r.spentUsd.toFixed(4)}${r.finishUsd !== null ? `; finishing ≈ $${r.finishUsd.toFixed(4)} more` : ''}` : '',
      r.finalEval ? `eval: ${renderMetrics(r.finalEval)}` : 'eval: no eval split',
      `train loss  ${sparkline(readCurve(r.outputDir, 'train', 'loss'))}`,
      r.evals.length > 1 ? `${r.task === 'causal-lm' ? `eval ${metricScoreName(r.evals[0]!.metrics)}`.padEnd(11) : 'eval acc.  '} ${sparkline(r.evals.map((e) => metricScore(e.metrics)), r.evals.length)}  (${r.evals.map((e) => (metricScore(e.metrics) * 100).toFixed(1)).join(' → ')} %)` : '',
      r.vsEstimate
        ? `vs estimate (${r.vsEstimate.source}): train ${r.vsEstimate.predictedTrainSeconds.toFixed(1)} s predicted, ${r.vsEstimate.actualTrainSeconds.toFixed(1)} s actual (${pct(r.vsEstimate.errorPct)}${r.vsEstimate.calibrationApplied ? `, calibrated ×${r.vsEstimate.calibrationApplied.ratio.toFixed(3)}; uncalibrated ${pct(r.vsEstimate.uncalibratedErrorPct)}` : ''}); ${r.vsEstimate.predictedTokensPerSec.toFixed(1)} vs ${r.vsEstimate.actualTokensPerSec.toFixed(1)} tokens/s${r.vsEstimate.predictedCostUsd !== null ? `; cost $${r.vsEstimate.predictedCostUsd.toFixed(4)} predicted, $${r.vsEstimate.actualCostUsd!.toFixed(4)} actual` : ''}; calibration ×${r.vsEstimate.calibration.ratio.toFixed(3)} (${r.vsEstimate.calibration.runs} run(s)) saved to ${r.vsEstimate.calibration.file}`
        : '',
      r.peft?.adapter ? `adapter (PEFT's layout): ${r.peft.adapter}; evaluate it with \`ftplan eval --model ${r.model} --adapter ${r.peft.adapter} --dataset …\`${r.peft.merged ? `; merged model: ${r.peft.merged}` : ''}` : '',
      `checkpoint: ${r.checkpoint}; metrics: ${join(r.outputDir, 'metrics.jsonl')}; curves: ${join(r.outputDir, 'curves.svg')}`,
    ]
      .filter(Boolean)
      .join('\n') + '\n'
  );
}
