/**
 * scaling.ts — pricing/scaling.json, the data-parallel model's check on this kind of machine
 * (written by bench/scaling.mjs: measured all-reduce times over Gloo and the 2-process step,
 * predicted vs measured). The planner's scalingModel() takes what this reads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

export interface ScalingCalibration {
  measuredAt: string;
  machine: string;
  command: string;
  gloo: { latencyMs: number; bandwidthGBs: number; points: { bytes: number; ms: number }[] };
  run: { model: string; predictedTwoProcessStepMs: number; errorPct: number; speedupOverOneProcess: number; twoProcesses: { stepMs: number }; oneProcessAllCores: { stepMs: number }; oneProcessHalfCoresAccum2?: { stepMs: number } };
}

/** The shipped (or given) scaling check; null when absent or not of this schema. */
export function loadScalingCalibration(file = join(PACKAGE_ROOT, 'pricing/scaling.json')): ScalingCalibration | null {
  if (!existsSync(file)) return null;
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as ScalingCalibration & { schema?: string };
    return j.schema === 'ftplan.scaling/1' ? j : null;
  } catch {
    return null;
  }
}
