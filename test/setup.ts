// Runs in every test file (vitest.config.ts setupFiles): the temp folders the file made with
// tempDir() are removed after its last test, so runs of the suite do not fill the disk (a gpt2
// checkpoint is ~1.5 GB; the run tests write dozens of small ones).
import { afterAll } from 'vitest';
import { removeTempDirs } from './helpers.js';

afterAll(() => {
  removeTempDirs();
});
