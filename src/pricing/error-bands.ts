/**
 * error-bands.ts — pricing/error-bands.json, the planner's error bands as the published comparison
 * (bench/published-compare.mjs) last computed them. The planner's bandFor() takes what this reads.
 * Absent (or damaged): no band, said as "n/a" on every row — never a made-up one.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import type { ErrorBands } from '../planner/error-band.js';

export const ERROR_BANDS_FILE = join(PACKAGE_ROOT, 'pricing/error-bands.json');

export function loadErrorBands(file = ERROR_BANDS_FILE): ErrorBands | null {
  if (!existsSync(file)) return null;
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as ErrorBands;
    return j.schema === 'ftplan.error-bands/1' && typeof j.percentile === 'number' && typeof j.tokensPerSec === 'object' ? j : null;
  } catch {
    return null;
  }
}
