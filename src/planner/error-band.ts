/**
 * error-band.ts — how far the planner's GPU figures are from what people measured: the band each
 * plan row carries. The bands come from bench/published-compare.mjs (the planner's --exact
 * prediction for every row of bench/published.json), written to pricing/error-bands.json with the
 * commit and date they were computed at; the planner takes them as an input (it reads no file).
 * A band is the 80th percentile of |error| over the rows of that kind: four predictions in five
 * were at least that close. Tokens/s bands are per basis; the published rows are predicted without
 * a GPU measurement, so only the analytic basis has one until GPU measurements are compared too.
 */
import type { Basis } from './performance.js';

export const BAND_PERCENTILE = 80;

export interface BandFigure {
  /** the percentile of |error|, percent */
  pct: number;
  /** the median |error|, percent */
  medianPct: number;
  /** rows it is computed over */
  rows: number;
}

export interface ErrorBands {
  schema: 'ftplan.error-bands/1';
  percentile: number;
  source: string;
  commit: string;
  date: string;
  /** tokens/s per basis (eager rows only: compiled and fused frameworks are not what ftplan runs) */
  tokensPerSec: Partial<Record<Basis, BandFigure>>;
  /** peak memory per GPU, every row with a figure */
  memory: BandFigure | null;
}

export interface RowBand {
  tokensPerSecPct: number | null;
  memoryPct: number | null;
  source: string;
}

/** The band a row of this basis carries; null without bands. */
export function bandFor(bands: ErrorBands | null, basis: Basis | 'n/a'): RowBand | null {
  if (!bands) return null;
  const t = basis === 'n/a' ? undefined : bands.tokensPerSec[basis];
  return { tokensPerSecPct: t ? t.pct : null, memoryPct: bands.memory ? bands.memory.pct : null, source: `${bands.source} @ ${bands.commit.slice(0, 8)}, ${bands.date}` };
}

/** The q-th percentile (0–100) by linear interpolation between order statistics. */
export function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

/** "±18%" or "n/a". */
export const fmtBand = (pct: number | null | undefined): string => (pct === null || pct === undefined ? 'n/a' : `±${Math.round(pct)}%`);
