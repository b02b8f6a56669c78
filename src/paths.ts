/** paths.ts — where the package lives on disk (dist/.. or src/..): the root its shipped files are found from. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
