// binding.gyp is a working second build: node-gyp builds the same sources into a loadable addon.
// It builds against a LIBTORCH folder outside the system paths (a folder of links to this machine's
// libtorch), which also proves that such a libtorch loads through the addon's RUNPATH, with no
// LD_LIBRARY_PATH.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { findLibtorch } from '../../scripts/find-libtorch.mjs';
import { ROOT as root, tempDir } from '../helpers.js';

/** LIBTORCH-style folder (include/, lib/) made of links to the installed libtorch. */
function linkedLibtorch(): string {
  const system = findLibtorch({});
  const dir = tempDir('ftplan-libtorch-');
  symlinkSync(system.includeDirs[0], join(dir, 'include'));
  mkdirSync(join(dir, 'lib'));
  for (const f of readdirSync(system.libDir)) {
    if (/^lib(c10|torch|torch_cpu|torch_cuda|c10_cuda)\.so(\.|$)/.test(f)) symlinkSync(join(system.libDir, f), join(dir, 'lib', f));
  }
  return dir;
}

describe('node-gyp build (binding.gyp)', () => {
  it('builds a loadable addon that trains, with libtorch found through RUNPATH', () => {
    const work = tempDir('ftplan-gyp-');
    for (const f of ['binding.gyp', 'package.json', 'native', 'scripts']) cpSync(join(root, f), join(work, f), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'));
    const libtorch = linkedLibtorch();
    const env = { ...process.env, LIBTORCH: libtorch, LIBTORCH_USE_PYTORCH: '', LD_LIBRARY_PATH: '' };
    const build = spawnSync(process.execPath, [join(root, 'scripts/build-native.mjs'), '--gyp', '--dir', work], { env, encoding: 'utf8' });
    expect(build.status, build.stderr.slice(-3000)).toBe(0);
    const addon = join(work, 'build/Release/ftplan.node');

    const dynamic = execFileSync('readelf', ['-d', addon], { encoding: 'utf8' });
    expect(dynamic).toMatch(new RegExp(`(RUNPATH|RPATH).*\\[${join(libtorch, 'lib').replace(/[/.]/g, '\\$&')}\\]`));
    const ldd = execFileSync('ldd', [addon], { encoding: 'utf8', env });
    expect(ldd).toMatch(new RegExp(`libc10\\.so\\S* => ${join(libtorch, 'lib').replace(/[/.]/g, '\\$&')}/`));

    const script = `
      const a = require(${JSON.stringify(addon)});
      a.benchmark({ model: { vocabSize: 256, padTokenId: 255, nPositions: 32, nEmbd: 32, nLayer: 1, nHead: 2 }, batchSize: 2, seqLen: 8, steps: 2, threads: 1 })
        .then((r) => console.log(JSON.stringify({ version: a.runtimeInfo().torchVersion, steps: r.stepMs.length, loss: r.losses[0] })));`;
    const run = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.steps).toBe(2);
    expect(Number.isFinite(out.loss)).toBe(true);
    expect(out.version).toMatch(/^(1\.13|2\.)/);
  }, 900_000);
});
