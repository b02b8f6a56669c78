// pricing/error-bands.json as the planner reads it: the shipped file loads; a missing, damaged or
// foreign file gives no band ("n/a" on every row), never a crash and never a made-up band.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadErrorBands } from '../../src/pricing/error-bands.js';
import { tempDir } from '../helpers.js';

describe('loadErrorBands', () => {
  it('reads the shipped bands', () => {
    const b = loadErrorBands();
    expect(b?.schema).toBe('ftplan.error-bands/1');
    expect(b?.memory?.pct).toBeGreaterThan(0);
  });

  it('a missing, truncated or foreign file: no band', () => {
    const dir = tempDir('ftplan-bands-');
    expect(loadErrorBands(join(dir, 'none.json'))).toBeNull();
    const cut = join(dir, 'cut.json');
    writeFileSync(cut, '{"schema": "ftplan.error-bands/1", "percentile": 8');
    expect(loadErrorBands(cut)).toBeNull();
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ schema: 'something/1', percentile: 80, tokensPerSec: {} }));
    expect(loadErrorBands(other)).toBeNull();
  });
});
