#!/usr/bin/env node
// The ftplan command: runs the compiled CLI (dist/), built by `npm run build`.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('ftplan: not built yet (dist/cli.js is missing)\n  fix: run `npm run build` in the ftplan folder\n');
  process.exit(1);
}
const { run } = await import(cli.href);
await run();
