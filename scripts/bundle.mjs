#!/usr/bin/env node
// scripts/bundle.mjs — after `tsc`, the command line as a few ES modules (dist/ftplan.mjs and its
// lazily loaded chunks dist/ftplan-*.mjs) with the JavaScript dependencies inside. Node resolves
// and links several hundred small modules on every start otherwise (yargs, zod, the command
// modules), which costs more than the parsing of one file: bench/RESULTS.md ("CLI start-up") has
// the measurement. bin/ftplan.js runs the bundle when it is at least as new as dist/cli.js, else
// dist/cli.js itself. The native addon, the tokenizers' vocabulary files and the parquet child
// are still found at run time (createRequire / import.meta.resolve from dist/, as before), so the
// bundle sits in dist/ itself, where src/paths.ts expects its modules.
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
// the previous bundle's chunks carry other hashes: remove them first
for (const f of readdirSync(dist)) if (/^ftplan(-.*)?\.mjs$/.test(f)) rmSync(join(dist, f));
await build({
  input: { ftplan: join(dist, 'cli.js') },
  platform: 'node',
  logLevel: 'warn',
  output: {
    dir: dist,
    format: 'esm',
    entryFileNames: '[name].mjs',
    chunkFileNames: 'ftplan-[name]-[hash].mjs',
  },
});
