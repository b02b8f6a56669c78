// Finding libtorch in tch-rs order: LIBTORCH, LIBTORCH_USE_PYTORCH=1, then a system install.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { findLibtorch } from '../../scripts/find-libtorch.mjs';
import { tempDir } from '../helpers.js';

/** A fake unzipped libtorch: the files find-libtorch looks at, nothing that links. */
function fakeLibtorch(version: [number, number, number], cuda: boolean): string {
  const root = tempDir('ftplan-libtorch-');
  const api = join(root, 'include/torch/csrc/api/include/torch');
  mkdirSync(api, { recursive: true });
  writeFileSync(join(api, 'torch.h'), '// fake\n');
  writeFileSync(
    join(api, 'version.h'),
    `#define TORCH_VERSION_MAJOR ${version[0]}\n#define TORCH_VERSION_MINOR ${version[1]}\n#define TORCH_VERSION_PATCH ${version[2]}\n`,
  );
  mkdirSync(join(root, 'lib'));
  for (const lib of ['libtorch.so', 'libc10.so', 'libtorch_cpu.so', ...(cuda ? ['libtorch_cuda.so', 'libc10_cuda.so'] : [])]) {
    writeFileSync(join(root, 'lib', lib), '');
  }
  mkdirSync(join(root, 'share/cmake/Torch'), { recursive: true });
  writeFileSync(join(root, 'share/cmake/Torch/TorchConfig.cmake'), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")\n');
  return root;
}

describe('find-libtorch', () => {
  it('LIBTORCH wins: version, CUDA, ABI and an rpath for a folder outside the system paths', () => {
    const root = fakeLibtorch([2, 11, 0], true);
    const lt = findLibtorch({ LIBTORCH: root, LIBTORCH_USE_PYTORCH: '1' });
    expect(lt.source).toBe(`LIBTORCH=${root}`);
    expect(lt.version).toBe('2.11.0');
    expect(lt.cuda).toBe(true);
    expect(lt.cxx11Abi).toBe(false);
    expect(lt.rpath).toBe(join(root, 'lib'));
    expect(lt.cmakeDir).toBe(join(root, 'share/cmake/Torch'));
  });

  it('a LIBTORCH that is not a libtorch fails with every fix listed (no silent fallback)', () => {
    expect(() => findLibtorch({ LIBTORCH: '/nonexistent/libtorch' })).toThrow(
      /LIBTORCH=\/nonexistent\/libtorch[\s\S]*export LIBTORCH=[\s\S]*LIBTORCH_USE_PYTORCH=1[\s\S]*apt-get install -y libtorch-dev/,
    );
  });

  it('refuses an unsupported version unless bypassed', () => {
    const root = fakeLibtorch([1, 8, 0], false);
    expect(() => findLibtorch({ LIBTORCH: root })).toThrow(/1\.8\.0.*not supported.*LIBTORCH_BYPASS_VERSION_CHECK/);
    const prev = process.env.LIBTORCH_BYPASS_VERSION_CHECK;
    process.env.LIBTORCH_BYPASS_VERSION_CHECK = '1';
    try {
      expect(findLibtorch({ LIBTORCH: root }).version).toBe('1.8.0');
    } finally {
      if (prev === undefined) delete process.env.LIBTORCH_BYPASS_VERSION_CHECK;
      else process.env.LIBTORCH_BYPASS_VERSION_CHECK = prev;
    }
  });

  it('LIBTORCH_USE_PYTORCH=1 asks python for torch\'s include and library paths', () => {
    const root = fakeLibtorch([2, 5, 1], false);
    const dir = tempDir('ftplan-py-');
    const python = join(dir, 'python3');
    // A stand-in python that answers the probe the way torch.utils.cpp_extension would.
    writeFileSync(
      python,
      `#!/bin/sh\necho '${JSON.stringify({ version: '2.5.1+cpu', include: [join(root, 'include')], lib: [join(root, 'lib')], cmake: join(root, 'share/cmake'), cuda: null })}'\n`,
    );
    chmodSync(python, 0o755);
    const lt = spawnSync(process.execPath, ['scripts/find-libtorch.mjs', '--json'], {
      env: { ...process.env, LIBTORCH: '', LIBTORCH_USE_PYTORCH: '1', PYTHON: python },
      encoding: 'utf8',
    });
    expect(lt.status).toBe(0);
    const found = JSON.parse(lt.stdout);
    expect(found.source).toMatch(/^LIBTORCH_USE_PYTORCH \(.*python3, torch 2\.5\.1\+cpu\)$/);
    expect(found.libDir).toBe(join(root, 'lib'));
    expect(found.cmakeDir).toBe(join(root, 'share/cmake/Torch'));
  });

  it('LIBTORCH_USE_PYTORCH=1 with a python that has no torch says so and lists the fixes', () => {
    const r = spawnSync(process.execPath, ['scripts/find-libtorch.mjs'], {
      env: { ...process.env, LIBTORCH: '', LIBTORCH_USE_PYTORCH: '1', PYTHON: '/bin/false' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/LIBTORCH_USE_PYTORCH=1: '\/bin\/false' could not report torch's paths/);
    expect(r.stderr).toMatch(/Fix one of/);
  });

  it('finds the system install on this machine (Debian libtorch-dev) with no variables set', () => {
    const lt = findLibtorch({});
    expect(lt.source).toMatch(/^system/);
    expect(lt.rpath).toBeNull(); // the loader finds system libraries by itself
    // and that is the libtorch the addon was built against
    const record = JSON.parse(execFileSync('cat', ['build/libtorch.json'], { encoding: 'utf8' }));
    expect(record.libDir).toBe(lt.libDir);
  });

  it('answers binding.gyp\'s queries', () => {
    const q = (what: string) => execFileSync(process.execPath, ['scripts/find-libtorch.mjs', '--gyp', what], { encoding: 'utf8', env: { ...process.env, LIBTORCH: '', LIBTORCH_USE_PYTORCH: '' } });
    expect(q('include').split(' ')).toHaveLength(2);
    expect(q('libs')).toMatch(/-ltorch\b/);
    expect(q('defines')).toMatch(/_GLIBCXX_USE_CXX11_ABI=[01]/);
  });
});
