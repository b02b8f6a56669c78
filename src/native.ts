/**
 * native.ts — loads the LibTorch addon (lazily: require() of it maps ~290 shared libraries, ~0.5 s)
 * and gives it types (native/types.ts). When loading fails, one error lists every path tried and every fix.
 * The records it returns are native/records.ts's schemas; the argument checks in front of every
 * call are native/checked.ts's (docs/native-boundary.md).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { FtplanError } from './errors.js';
import { PACKAGE_ROOT } from './paths.js';
import { checkedAddon } from './native/checked.js';
import { recordMismatches } from './native/records.js';
import type { NativeAddon } from './native/types.js';

export * from './native/records.js';
export * from './native/types.js';
export { checkedAddon };

/** What build-native.mjs recorded about the libtorch the addon was linked against. */
export interface LibtorchRecord {
  source: string;
  version: string | null;
  cuda: boolean;
  libDir: string;
  rpath: string | null;
  builtWith: 'cmake-js' | 'node-gyp';
}

let cached: NativeAddon | undefined;
let cachedRaw: NativeAddon | undefined;

/** FTPLAN_NATIVE, when set, is the only candidate: an explicit choice is never silently replaced. */
export function addonCandidates(): string[] {
  if (process.env.FTPLAN_NATIVE) return [resolve(process.env.FTPLAN_NATIVE)];
  return [join(PACKAGE_ROOT, 'build/Release/ftplan.node')];
}

/** The addon behind the TS checks (tests of the C++ side's own validation use it). */
export function loadRawNative(): NativeAddon {
  if (cachedRaw) return cachedRaw;
  const require = createRequire(import.meta.url);
  const attempts: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      attempts.push(`${path}: not built`);
      continue;
    }
    try {
      const mod = require(path) as Partial<NativeAddon>;
      if (typeof mod?.runtimeInfo !== 'function' || typeof mod.benchmark !== 'function') {
        attempts.push(`${path}: loaded, but it is not an ftplan addon (no runtimeInfo/benchmark exports)`);
        continue;
      }
      const mismatches = recordMismatches(typeof mod._records === 'function' ? mod._records() : undefined);
      if (mismatches.length) {
        attempts.push(`${path}: built from other sources than this ftplan: ${mismatches.join('; ')}`);
        continue;
      }
      cachedRaw = mod as NativeAddon;
      return cachedRaw;
    } catch (e) {
      attempts.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new FtplanError('ERR_NATIVE_MISSING', ['the ftplan native addon could not be loaded:', ...attempts.map((a) => `  - ${a}`)].join('\n'), {
    fix: [
      'build it: `npm run build:native` (needs libtorch: see `node scripts/find-libtorch.mjs`),',
      'or run the set-up: `bash scripts/setup.sh`, which installs libtorch-dev when no libtorch is found;',
      'FTPLAN_NATIVE=/path/to/ftplan.node picks a specific build.',
    ].join('\n  '),
    exitCode: 1,
  });
}

/** The addon with every argument checked in TS first and every failure a typed NativeCallError. */
export function loadNative(): NativeAddon {
  if (!cached) cached = checkedAddon(loadRawNative());
  return cached;
}

export function libtorchRecord(): LibtorchRecord | null {
  const path = join(PACKAGE_ROOT, 'build/libtorch.json');
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LibtorchRecord;
  } catch {
    return null;
  }
}

export interface BlasInfo {
  /** openblas-openmp, openblas-pthread, reference, mkl, blis, … or unknown */
  kind: string;
  /** the BLAS library file the process has mapped */
  path: string | null;
  /** true when the reference BLAS is in use: ~30x slower training on CPU */
  slow: boolean;
}

/** Which BLAS the running process has mapped (call after the addon is loaded). Linux only. */
export function detectBlas(maps = '/proc/self/maps'): BlasInfo {
  let text = '';
  try {
    text = readFileSync(maps, 'utf8');
  } catch {
    return { kind: 'unknown', path: null, slow: false };
  }
  const libs = new Set<string>();
  for (const line of text.split('\n')) {
    const path = line.slice(line.indexOf('/'));
    if (line.includes('/') && /(blas|mkl_|libblis)/i.test(path)) libs.add(path.trim());
  }
  const paths = [...libs];
  const pick = (re: RegExp) => paths.find((p) => re.test(p));
  const mkl = pick(/mkl_/);
  if (mkl) return { kind: 'mkl', path: mkl, slow: false };
  const openblas = pick(/openblas/);
  if (openblas) {
    const flavour = /openblas-(openmp|pthread|serial)/.exec(openblas)?.[1];
    return { kind: flavour ? `openblas-${flavour}` : 'openblas', path: openblas, slow: false };
  }
  const blis = pick(/blis/);
  if (blis) return { kind: 'blis', path: blis, slow: false };
  const ref = pick(/libblas\.so/);
  if (ref) {
    let real = ref;
    try {
      real = realpathSync(ref);
    } catch {
      /* keep the mapped name */
    }
    return { kind: 'reference', path: real, slow: true };
  }
  return { kind: paths.length ? 'unknown' : 'none mapped', path: paths[0] ?? null, slow: false };
}
