#!/usr/bin/env node
// build-native.mjs — build the addon against the libtorch that find-libtorch.mjs picks.
//   node scripts/build-native.mjs          cmake-js (CMakeLists.txt): the main build
//   node scripts/build-native.mjs --gyp    node-gyp (binding.gyp): the same sources, the same libtorch
//   --dir DIR                              build in DIR instead of the project root (node-gyp only;
//                                          used by the test that proves binding.gyp builds)
// Both write build/Release/ftplan.node and build/libtorch.json (what was linked: version, CUDA, path).
// Offline: cmake-js builds against node-api-headers (package.json "binary.napi_versions"), node-gyp
// against the headers of the running node (its install prefix, e.g. /usr/include/node).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { findLibtorchOrExit } from './find-libtorch.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const useGyp = args.includes('--gyp');
const dirIdx = args.indexOf('--dir');
const buildRoot = dirIdx >= 0 ? resolve(args[dirIdx + 1]) : root;

function run(cmd, argv, opts = {}) {
  process.stderr.write(`$ ${[cmd, ...argv].join(' ')}\n`);
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: buildRoot, ...opts });
  if (r.status !== 0) {
    process.stderr.write(`build failed (${cmd} exited ${r.status ?? r.signal})\n`);
    process.exit(r.status || 1);
  }
}

const lt = findLibtorchOrExit();
process.stderr.write(`ftplan: libtorch ${lt.version ?? '?'} (${lt.cuda ? 'CUDA' : 'CPU'}) from ${lt.source}\n`);

const jobs = String(Math.max(1, Math.min(availableParallelism(), 8)));
if (useGyp) {
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  const nodedir = process.env.npm_config_nodedir || resolve(dirname(process.execPath), '..');
  if (!existsSync(join(nodedir, 'include/node/common.gypi'))) {
    process.stderr.write(
      `node-gyp needs Node's headers offline; none at ${nodedir}/include/node. ` +
        'Set npm_config_nodedir to a Node install that has include/node, or use the cmake-js build (npm run build:native).\n',
    );
    process.exit(2);
  }
  run(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, `--jobs=${jobs}`], {
    env: { ...process.env, FTPLAN_ROOT: root },
  });
} else {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const defs = [];
  if (lt.cmakeDir) defs.push(`--CDTorch_DIR=${lt.cmakeDir}`);
  else {
    process.stderr.write(`libtorch at ${lt.libDir} has no TorchConfig.cmake; use the node-gyp build (npm run build:gyp)\n`);
    process.exit(2);
  }
  run(process.execPath, [cmakeJs, 'compile', '--parallel', jobs, ...defs], { cwd: root });
}

const outDir = join(buildRoot, 'build');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(outDir, 'libtorch.json'),
  `${JSON.stringify({ ...lt, builtWith: useGyp ? 'node-gyp' : 'cmake-js', builtAt: new Date().toISOString() }, null, 2)}\n`,
);
if (!existsSync(join(outDir, 'Release/ftplan.node'))) {
  process.stderr.write(`build finished but ${join(outDir, 'Release/ftplan.node')} is missing\n`);
  process.exit(1);
}
process.stderr.write(`ftplan: built ${join(outDir, 'Release/ftplan.node')}\n`);
