import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

const testHome = mkdtempSync(join(tmpdir(), 'ftplan-home-'));
process.env.FTPLAN_TEST_HOME = testHome; // read by test/global-setup.ts's teardown

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native code and OpenMP: one process per test file, files one after another (2 cores).
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    // every test file removes the temp folders it made with tempDir() (test/helpers.ts)
    setupFiles: ['test/setup.ts'],
    // and the run removes the FTPLAN_HOME below when it ends
    globalSetup: ['test/global-setup.ts'],
    hookTimeout: 600_000,
    // imported price tables and the calibration store of the tests stay out of the user's ~/.ftplan
    env: { FTPLAN_HOME: testHome },
  },
});
