/**
 * calibration.ts — what real runs measured, kept locally so the next estimate on the same device
 * and model can correct its projection: each run's actual training tokens/s ÷ the estimate's
 * (bare) measured tokens/s. Stored in $FTPLAN_HOME/calibration.json (default ~/.ftplan).
 *
 * The factor applied is shrunk toward 1. On a shared machine one run's ratio is mostly the
 * machine's speed in that minute (identical one-minute runs on a shared 2-core machine spread ±11%,
 * bench/RESULTS.md), about the size of the steady bias a calibration is for; one noisy ratio applied
 * in full makes the next prediction worse, not better (+48.6% after one run, ibid.). So the store
 * keeps the geometric mean of the runs' ratios and applies it as if one more run had found the
 * estimate exact:
 *   applied = exp(n/(n + 1) · mean log ratio)
 * — the square root of the ratio after one run, approaching the mean as runs agree on it. The
 * spread of the runs (the standard deviation of their log ratios, from two runs on) is kept so an
 * estimate can say how far past runs on this device landed from their estimates.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from './util/fs.js';

// The rule that applies a stored factor is the planner's (pure); the store re-exports it beside the factors.
export { calibrate, type AppliedCalibration } from './planner/calibrate.js';

export interface CalibrationEntry {
  /** the factor the next estimate applies to its measured throughput (shrunk toward 1) */
  ratio: number;
  runs: number;
  /** geometric mean of the runs' actual ÷ measured throughput */
  observedRatio: number;
  /** mean and sum of squared deviations of ln(actual ÷ measured) over the runs (Welford) */
  meanLog: number;
  m2Log: number;
  /** the runs' smallest and largest actual ÷ measured */
  min: number;
  max: number;
  updatedAt: string;
}

/** How many runs' worth of "the estimate was exact" the stored mean is shrunk toward. */
export const CALIBRATION_PRIOR_RUNS = 1;

export function calibrationFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.FTPLAN_HOME ?? join(env.HOME ?? homedir(), '.ftplan'), 'calibration.json');
}

export const calibrationKey = (deviceName: string, model: string, dtype: string) => `${deviceName}|${model}|${dtype}`;

/** The model part of a key: the name, and the task when it is not classification (a causal-LM step of the same model is another workload). */
export const calibrationModel = (model: string, task: string) => (task === 'classification' ? model : `${model} ${task}`);

export const appliedRatio = (meanLog: number, runs: number) => Math.exp((meanLog * runs) / (runs + CALIBRATION_PRIOR_RUNS));

/** The runs' spread: the standard deviation of their log ratios as a percentage (null under 2 runs). */
export const calibrationSpreadPct = (e: CalibrationEntry): number | null => (e.runs >= 2 ? Math.sqrt(e.m2Log / (e.runs - 1)) * 100 : null);

const finitePositive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;

/** An entry from its statistics; the applied and observed ratios are derived from the mean log. */
function entry(s: Pick<CalibrationEntry, 'runs' | 'meanLog' | 'm2Log' | 'min' | 'max' | 'updatedAt'>): CalibrationEntry {
  return { ratio: appliedRatio(s.meanLog, s.runs), runs: s.runs, observedRatio: Math.exp(s.meanLog), meanLog: s.meanLog, m2Log: s.m2Log, min: s.min, max: s.max, updatedAt: s.updatedAt };
}

/** One stored entry, upgraded from the older form (an arithmetic-mean `ratio` and `runs` only). */
function entryOf(raw: unknown): CalibrationEntry | null {
  if (!raw || typeof raw !== 'object') return null;
  const e = raw as Partial<CalibrationEntry>;
  const runs = typeof e.runs === 'number' && Number.isInteger(e.runs) && e.runs > 0 ? e.runs : null;
  if (runs === null) return null;
  const updatedAt = String(e.updatedAt ?? '');
  if (typeof e.meanLog === 'number' && Number.isFinite(e.meanLog) && typeof e.m2Log === 'number' && e.m2Log >= 0 && finitePositive(e.min) && finitePositive(e.max))
    return entry({ runs, meanLog: e.meanLog, m2Log: e.m2Log, min: e.min, max: e.max, updatedAt });
  if (!finitePositive(e.ratio)) return null;
  // older store: its mean ratio, no spread known
  return entry({ runs, meanLog: Math.log(e.ratio), m2Log: 0, min: e.ratio, max: e.ratio, updatedAt });
}

function readAll(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    return raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  } catch {
    return {}; // a damaged store is not worth failing an estimate for: it is rebuilt by the next run
  }
}

export function readCalibration(key: string, env: NodeJS.ProcessEnv = process.env): CalibrationEntry | null {
  return entryOf(readAll(calibrationFile(env))[key]);
}

/** Adds one run's actual ÷ measured throughput to the store; returns the updated entry. */
export function recordCalibration(key: string, observed: number, env: NodeJS.ProcessEnv = process.env): CalibrationEntry {
  if (!finitePositive(observed)) throw new RangeError(`recordCalibration: ratio must be a positive number (got ${observed})`);
  const file = calibrationFile(env);
  const all = readAll(file);
  const prev = entryOf(all[key]);
  const x = Math.log(observed);
  const runs = (prev?.runs ?? 0) + 1;
  const delta = x - (prev?.meanLog ?? 0);
  const meanLog = (prev?.meanLog ?? 0) + delta / runs;
  const m2Log = (prev?.m2Log ?? 0) + delta * (x - meanLog);
  const next = entry({ runs, meanLog, m2Log, min: Math.min(prev?.min ?? observed, observed), max: Math.max(prev?.max ?? observed, observed), updatedAt: new Date().toISOString() });
  all[key] = next;
  mkdirSync(dirname(file), { recursive: true });
  writeFileAtomic(file, `${JSON.stringify(all, null, 2)}\n`);
  return next;
}
