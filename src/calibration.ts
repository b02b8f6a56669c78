/**
 * calibration.ts — what real runs measured, kept locally so the next estimate on the same device
 * and model can correct its projection: actual training tokens/s ÷ the estimate's tokens/s.
 * Stored in $FTPLAN_HOME/calibration.json (default ~/.ftplan).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from './model/safetensors.js';

export interface CalibrationEntry {
  /** actual ÷ estimated training throughput, averaged over runs */
  ratio: number;
  runs: number;
  updatedAt: string;
}

export function calibrationFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.FTPLAN_HOME ?? join(env.HOME ?? homedir(), '.ftplan'), 'calibration.json');
}

export const calibrationKey = (deviceName: string, model: string, dtype: string) => `${deviceName}|${model}|${dtype}`;

function readAll(file: string): Record<string, CalibrationEntry> {
  if (!existsSync(file)) return {};
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    return raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, CalibrationEntry>) : {};
  } catch {
    return {}; // a damaged store is not worth failing an estimate for: it is rebuilt by the next run
  }
}

export function readCalibration(key: string, env: NodeJS.ProcessEnv = process.env): CalibrationEntry | null {
  const e = readAll(calibrationFile(env))[key];
  return e && Number.isFinite(e.ratio) && e.ratio > 0 ? e : null;
}

export function recordCalibration(key: string, ratio: number, env: NodeJS.ProcessEnv = process.env): CalibrationEntry {
  const file = calibrationFile(env);
  const all = readAll(file);
  const prev = all[key];
  const runs = (prev?.runs ?? 0) + 1;
  const entry = { ratio: prev ? (prev.ratio * prev.runs + ratio) / runs : ratio, runs, updatedAt: new Date().toISOString() };
  all[key] = entry;
  mkdirSync(dirname(file), { recursive: true });
  writeFileAtomic(file, `${JSON.stringify(all, null, 2)}\n`);
  return entry;
}
