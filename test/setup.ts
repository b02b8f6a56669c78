// Runs in every test file (vitest.config.ts setupFiles): the temp folders the file made with
// tempDir() are removed after its last test, so runs of the suite do not fill the disk (a gpt2
// checkpoint is ~1.5 GB; the run tests write dozens of small ones).
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { removeTempDirs } from './helpers.js';

// Each file its own FTPLAN_HOME (inside the run's, which global-setup removes): files that run side
// by side never see each other's imported price tables or calibration store.
const runHome = process.env.FTPLAN_TEST_HOME;
if (runHome) process.env.FTPLAN_HOME = mkdtempSync(join(runHome, 'file-'));

afterAll(() => {
  removeTempDirs();
});
