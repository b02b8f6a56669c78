// The test helpers themselves: temp folders are really removed (test/setup.ts relies on it).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../helpers.js';

describe('tempDir', () => {
  it('makes fresh folders that removeTempDirs() deletes with their contents', () => {
    const a = tempDir('ftplan-helpers-');
    const b = tempDir('ftplan-helpers-');
    expect(a).not.toBe(b);
    writeFileSync(join(a, 'x.bin'), Buffer.alloc(1024));
    expect(existsSync(join(a, 'x.bin'))).toBe(true);
    expect(removeTempDirs()).toBe(2);
    expect(existsSync(a) || existsSync(b)).toBe(false);
    expect(removeTempDirs()).toBe(0);
  });
});
