import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/sequencer.js';

const testHome = mkdtempSync(join(tmpdir(), 'ftplan-home-'));
process.env.FTPLAN_TEST_HOME = testHome; // read by test/global-setup.ts's teardown

// The test projects, one folder each (docs/testing.md):
//   unit    pure TypeScript, no native addon (stubs where the subject is the TS logic); in parallel
//   native  the addon loaded in-process
//   e2e     the CLI as a user runs it (node bin/ftplan.js over dist/)
//   slow    CI only: the node-gyp rebuild and long training runs
//   data    CI only: the real tweet data, tiny-gpt2 and price catalogs (FTPLAN_DATA)
// `npm test` runs unit, native and e2e and needs nothing outside the repository; `npm run test:ci`
// runs slow and data. Groups run one after another. unit, native and e2e files run two at a time,
// each process held to one LibTorch thread (OMP_NUM_THREADS, which ftplan's --threads defaults to)
// so two side by side fit two cores; the slow and data runs one at a time, with every core.
const project = (name: string, groupOrder: number, parallel: boolean, env: Record<string, string> = {}) => ({
  extends: true as const,
  test: {
    name,
    include: [`test/${name}/**/*.test.ts`],
    sequence: { groupOrder },
    env,
    ...(parallel ? { maxWorkers: 2 } : { maxWorkers: 1, fileParallelism: false }),
  },
});

export default defineConfig({
  test: {
    pool: 'forks',
    sequence: { sequencer: LongestFirst },
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // every test file removes the temp folders it made with tempDir() (test/helpers.ts)
    setupFiles: ['test/setup.ts'],
    // and the run removes the FTPLAN_HOME below when it ends
    globalSetup: ['test/global-setup.ts'],
    // imported price tables and the calibration store of the tests stay out of the user's ~/.ftplan
    env: { FTPLAN_HOME: testHome },
    projects: [
      project('unit', 0, true),
      project('native', 1, true, { OMP_NUM_THREADS: '1' }),
      project('e2e', 2, true, { OMP_NUM_THREADS: '1' }),
      project('slow', 3, false),
      project('data', 4, false),
      // benchmarks written as tests: accuracy runs on the real tweets that take the better part of an
      // hour on 2 cores (npm run bench:accuracy, FTPLAN_DATA); their numbers go to bench/RESULTS.md
      { extends: true as const, test: { name: 'accuracy', include: ['bench/accuracy/**/*.test.ts'], sequence: { groupOrder: 5 }, maxWorkers: 1, fileParallelism: false } },
    ],
  },
});
