/**
 * read.ts — a saved `estimate --json` (or its bare `measurement`), read back for re-planning
 * without LibTorch (`estimate --measurement`) and for the run's comparison (`run --estimate`).
 */
import { readFileSync } from 'node:fs';
import { FtplanError } from '../errors.js';
import { MeasurementSchema, type Measurement } from '../measurement.js';

/** A saved `estimate --json` (or its `measurement`), for re-planning without LibTorch. */
export function readMeasurement(file: string): Measurement {
  return readEstimate(file).measurement;
}

export interface SavedEstimate {
  measurement: Measurement;
  /** the calibration the estimate applied to its projection (null: none, or a bare measurement) */
  calibration: { ratio: number; runs: number } | null;
}

/**
 * A saved `estimate --json`: its measurement, and the calibration it applied to its projection
 * (null: none, or the file is a bare measurement). One read of the file.
 */
export function readEstimate(file: string): SavedEstimate {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: not a readable JSON measurement (${(e as Error).message})`, { fix: 'pass a file written by `ftplan estimate --json > m.json`' });
  }
  const m = (raw as { measurement?: unknown }).measurement ?? raw;
  const parsed = MeasurementSchema.safeParse(m);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new FtplanError('ERR_INPUT', `${file}: not an ftplan measurement (${i?.path.join('.')}: ${i?.message})`, { fix: 'pass a file written by `ftplan estimate --json > m.json`' });
  }
  // The calibration the estimate applied: the run is compared with what the user was told, so a
  // damaged one is an error, not a silent "none" (which would move the reported error).
  const c = (raw as { calibration?: unknown }).calibration;
  let calibration: { ratio: number; runs: number } | null = null;
  if (c !== undefined && (raw as { measurement?: unknown }).measurement !== undefined) {
    const cal = c as { used?: unknown; ratio?: unknown; runs?: unknown };
    const ok =
      c !== null && typeof c === 'object' && (cal.used === false ||
        (cal.used === true && typeof cal.ratio === 'number' && Number.isFinite(cal.ratio) && cal.ratio > 0 && typeof cal.runs === 'number' && Number.isInteger(cal.runs) && cal.runs >= 1));
    if (!ok)
      throw new FtplanError('ERR_INPUT', `${file}: its "calibration" is damaged (want {"used": false} or {"used": true, "ratio": > 0, "runs": ≥ 1}, got ${JSON.stringify(c)?.slice(0, 80)})`, {
        fix: 'pass the file `ftplan estimate --json` wrote, unedited, or estimate again',
      });
    if (cal.used === true) calibration = { ratio: cal.ratio as number, runs: cal.runs as number };
  }
  return { measurement: parsed.data, calibration };
}
