#!/usr/bin/env node
// find-libtorch.mjs — locate a libtorch the way tch-rs (torch-sys/build.rs) users expect:
//   1. LIBTORCH=/path/to/libtorch            (an unzipped libtorch, or any folder with include/ + lib/)
//      LIBTORCH_INCLUDE / LIBTORCH_LIB       (split layouts; both override the paths under LIBTORCH)
//   2. LIBTORCH_USE_PYTORCH=1                (ask python3's torch; PYTHON or python3 on PATH)
//   3. a system install                      (Debian/Ubuntu libtorch-dev, /usr/local, /opt/libtorch)
// LIBTORCH_BYPASS_VERSION_CHECK=1 skips the supported-version check (1.13 and 2.x).
//
// Usage: node scripts/find-libtorch.mjs [--json | --gyp include|libdir|libs|cflags]
// As a module: import { findLibtorch } from './find-libtorch.mjs'.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SYSTEM_PREFIXES = ['/usr', '/usr/local', '/opt/libtorch'];
// Directories the dynamic loader searches without help: no RUNPATH needed for these.
const LOADER_DIRS = ['/lib', '/usr/lib', '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/local/lib'];
const MULTIARCH = ['lib/x86_64-linux-gnu', 'lib/aarch64-linux-gnu', 'lib64', 'lib'];

export class LibtorchNotFound extends Error {
  constructor(attempts) {
    super(
      [
        'libtorch was not found. Looked at:',
        ...attempts.map((a) => `  - ${a}`),
        'Fix one of:',
        '  1. export LIBTORCH=/path/to/libtorch        (an unzipped libtorch from pytorch.org: include/ and lib/ inside)',
        '  2. export LIBTORCH_USE_PYTORCH=1            (use the libtorch inside python3\'s torch package; PYTHON=/path/to/python3 to pick one)',
        '  3. sudo apt-get install -y libtorch-dev libopenblas0-openmp   (Debian/Ubuntu system install, CPU)',
      ].join('\n'),
    );
    this.code = 'ERR_LIBTORCH_NOT_FOUND';
  }
}

function readVersion(includeDir) {
  const header = join(includeDir, 'torch/csrc/api/include/torch/version.h');
  if (!existsSync(header)) return null;
  const text = readFileSync(header, 'utf8');
  const m = /#define TORCH_VERSION_MAJOR (\d+)[\s\S]*?#define TORCH_VERSION_MINOR (\d+)[\s\S]*?#define TORCH_VERSION_PATCH (\d+)/.exec(text);
  return m ? `${m[1]}.${m[2]}.${m[3]}` : null;
}

// TorchConfig.cmake states the C++ ABI libtorch was built with; default to the new ABI (Debian,
// PyTorch >= 2.7 wheels).
function readAbi(cmakeDir) {
  const config = cmakeDir ? join(cmakeDir, 'TorchConfig.cmake') : null;
  if (config && existsSync(config)) {
    const m = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(readFileSync(config, 'utf8'));
    if (m) return m[1] === '1';
  }
  return true;
}

function checkVersion(version, where) {
  if (process.env.LIBTORCH_BYPASS_VERSION_CHECK === '1' || !version) return;
  const [major, minor] = version.split('.').map(Number);
  if (!(major === 2 || (major === 1 && minor >= 13))) {
    const err = new Error(
      `libtorch ${version} at ${where} is not supported: ftplan builds against 1.13 and 2.x. ` +
        'Point LIBTORCH at a supported libtorch, or set LIBTORCH_BYPASS_VERSION_CHECK=1 to try anyway.',
    );
    err.code = 'ERR_LIBTORCH_VERSION';
    throw err;
  }
}

function describe(source, includeDir, libDir, cmakeDir) {
  const version = readVersion(includeDir);
  checkVersion(version, includeDir);
  const libs = existsSync(libDir) ? readdirSync(libDir) : [];
  const cuda = libs.some((f) => /^libtorch_cuda.*\.so/.test(f)) || libs.some((f) => /^libc10_cuda\.so/.test(f));
  const system = LOADER_DIRS.includes(resolve(libDir));
  return {
    source,
    version,
    cuda,
    cxx11Abi: readAbi(cmakeDir),
    includeDirs: [includeDir, join(includeDir, 'torch/csrc/api/include')],
    libDir,
    cmakeDir,
    rpath: system ? null : libDir,
  };
}

function fromFolder(source, root, attempts) {
  const includeDir = process.env.LIBTORCH_INCLUDE ? join(process.env.LIBTORCH_INCLUDE, 'include') : join(root, 'include');
  const libDir = process.env.LIBTORCH_LIB ? join(process.env.LIBTORCH_LIB, 'lib') : join(root, 'lib');
  const cmakeDir = join(root, 'share/cmake/Torch');
  if (!existsSync(join(includeDir, 'torch/csrc/api/include/torch/torch.h'))) {
    attempts.push(`${source}: ${includeDir} has no torch/csrc/api/include/torch/torch.h`);
    return null;
  }
  if (!existsSync(join(libDir, 'libtorch.so')) && !existsSync(join(libDir, 'libtorch_cpu.so'))) {
    attempts.push(`${source}: ${libDir} has no libtorch.so`);
    return null;
  }
  return describe(source, includeDir, libDir, existsSync(join(cmakeDir, 'TorchConfig.cmake')) ? cmakeDir : null);
}

const PY_PROBE = `
import json, os, torch
from torch.utils import cpp_extension as ext
print(json.dumps(dict(version=torch.__version__, include=ext.include_paths(), lib=ext.library_paths(),
                      cmake=torch.utils.cmake_prefix_path, cuda=torch.version.cuda)))
`;

function fromPython(attempts) {
  const python = process.env.PYTHON || 'python3';
  let probe;
  try {
    const out = execFileSync(python, ['-c', PY_PROBE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    probe = JSON.parse(out.trim().split('\n').pop());
  } catch (e) {
    const why = String(e.stderr || e.message).trim().split('\n').pop();
    attempts.push(`LIBTORCH_USE_PYTORCH=1: '${python}' could not report torch's paths (${why})`);
    return null;
  }
  const source = `LIBTORCH_USE_PYTORCH (${python}, torch ${probe.version})`;
  const includeDir = probe.include?.[0];
  const libDir = (probe.lib ?? []).find((d) => existsSync(join(d, 'libtorch.so')) || existsSync(join(d, 'libtorch_cpu.so')));
  if (!includeDir || !existsSync(join(includeDir, 'torch/csrc/api/include/torch/torch.h'))) {
    attempts.push(`${source}: no C++ headers at ${includeDir}`);
    return null;
  }
  if (!libDir) {
    attempts.push(`${source}: no libtorch.so in ${(probe.lib ?? []).join(', ') || '(no library paths)'}`);
    return null;
  }
  const cmakeDir = probe.cmake && existsSync(join(probe.cmake, 'Torch/TorchConfig.cmake')) ? join(probe.cmake, 'Torch') : null;
  const found = describe(source, includeDir, libDir, cmakeDir);
  found.version ??= String(probe.version).split('+')[0];
  return found;
}

function fromSystem(attempts) {
  for (const prefix of SYSTEM_PREFIXES) {
    for (const sub of MULTIARCH) {
      const cmakeDir = join(prefix, sub, 'cmake/Torch');
      const libDir = join(prefix, sub);
      const includeDir = join(prefix, 'include');
      if (existsSync(join(cmakeDir, 'TorchConfig.cmake')) && existsSync(join(includeDir, 'torch/csrc/api/include/torch/torch.h'))) {
        return describe(`system (${prefix})`, includeDir, libDir, cmakeDir);
      }
    }
    // Unzipped libtorch layout under a system prefix (e.g. /opt/libtorch)
    if (existsSync(join(prefix, 'share/cmake/Torch/TorchConfig.cmake'))) {
      const found = fromFolder(`system (${prefix})`, prefix, attempts);
      if (found) return found;
    }
  }
  attempts.push(`system: no TorchConfig.cmake under ${SYSTEM_PREFIXES.join(', ')}`);
  return null;
}

/** Find libtorch in tch-rs order; throws LibtorchNotFound listing every attempt and every fix. */
export function findLibtorch(env = process.env) {
  const attempts = [];
  if (env.LIBTORCH) {
    const found = fromFolder(`LIBTORCH=${env.LIBTORCH}`, env.LIBTORCH, attempts);
    if (found) return found;
    throw new LibtorchNotFound(attempts); // an explicit choice that fails is not silently replaced
  }
  attempts.push('LIBTORCH: not set');
  if (env.LIBTORCH_USE_PYTORCH === '1' || env.LIBTORCH_USE_PYTORCH === 'true') {
    const found = fromPython(attempts);
    if (found) return found;
    throw new LibtorchNotFound(attempts);
  }
  attempts.push('LIBTORCH_USE_PYTORCH: not set');
  const found = fromSystem(attempts);
  if (found) return found;
  throw new LibtorchNotFound(attempts);
}

/** For scripts: the libtorch, or the error (every attempt, every fix) on stderr and exit 2. */
export function findLibtorchOrExit() {
  try {
    return findLibtorch();
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
}

function main(argv) {
  const lt = findLibtorchOrExit();
  const [flag, what] = argv;
  if (flag === '--gyp') {
    // Space-separated lists for binding.gyp's <!@(...) expansions.
    if (what === 'include') process.stdout.write(lt.includeDirs.join(' '));
    else if (what === 'libdir') process.stdout.write(lt.libDir);
    else if (what === 'libs') {
      const names = ['c10', 'torch', 'torch_cpu'];
      if (lt.cuda) names.push('torch_cuda', 'c10_cuda');
      const flags = names.filter((n) => existsSync(join(lt.libDir, `lib${n}.so`))).map((n) => `-l${n}`);
      // keep libtorch_cuda even though no symbol of it is referenced: it registers the CUDA backend
      process.stdout.write([lt.cuda ? '-Wl,--no-as-needed' : '', ...flags].filter(Boolean).join(' '));
    } else if (what === 'rpath') process.stdout.write(lt.rpath ? `-Wl,-rpath,${lt.rpath}` : '');
    else if (what === 'defines') process.stdout.write(`_GLIBCXX_USE_CXX11_ABI=${lt.cxx11Abi ? 1 : 0}${lt.cuda ? ' FTPLAN_WITH_CUDA=1' : ''}`);
    else {
      process.stderr.write(`unknown --gyp field '${what}'\n`);
      process.exit(2);
    }
    return;
  }
  process.stdout.write(`${JSON.stringify(lt, null, 2)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
