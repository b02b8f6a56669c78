#!/usr/bin/env node
// The ftplan command: runs the built CLI, made by `npm run build`: the bundle (dist/ftplan.mjs,
// scripts/bundle.mjs: one start-up's module loading instead of hundreds) when it is at least as new
// as the compiled dist/cli.js, else dist/cli.js (a `tsc` without the bundle step).
import { existsSync, statSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
const bundle = new URL('../dist/ftplan.mjs', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('ftplan: not built yet (dist/cli.js is missing)\n  fix: run `npm run build` in the ftplan folder\n');
  process.exit(1);
}
const fresh = existsSync(bundle) && statSync(bundle).mtimeMs >= statSync(cli).mtimeMs;
const { run } = await import((fresh ? bundle : cli).href);
await run();
