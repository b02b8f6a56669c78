import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native code and OpenMP: one process per test file, files one after another (2 cores).
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // imported price tables and the calibration store of the tests stay out of the user's ~/.ftplan
    env: { FTPLAN_HOME: mkdtempSync(join(tmpdir(), 'ftplan-home-')) },
  },
});
