// Shared by every test project: temp folders, small models and batches, and the `ftplan` command as
// a user runs it (node bin/ftplan.js over the built dist/).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { FtplanError } from '../src/errors.js';
import { modelConfig, type ModelConfig } from '../src/model/presets.js';
import type { NativeBatch, ParameterInfo, SessionMemory } from '../src/native.js';

/** The repository root (the tests' working directory). */
export const ROOT = resolve(import.meta.dirname, '..');

/** Debian's python3 with python3-torch: the independent reference implementation runs on it. */
export const REFERENCE_PYTHON = process.env.FTPLAN_REFERENCE_PYTHON ?? '/usr/bin/python3';

/** A small model for tests: GPT-2's layout, a reduced vocabulary so steps take milliseconds. */
export function tinyModel(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return modelConfig('tiny', { vocabSize: 512, padTokenId: 511, nPositions: 64, ...overrides });
}

/**
 * What a stub addon's Session reports once its steps are timed (memory(), parameterInfo()) and its
 * close(): a stub Session extends this, and overrides `held` for figures of its own.
 */
export class StubSessionReports {
  closed = false;
  held(): Partial<SessionMemory> {
    return {};
  }
  async memory(): Promise<SessionMemory> {
    return { device: 'cpu', deviceName: 'stub', deviceMemoryBytes: 1 << 30, threads: 1, source: 'cpu-counting-allocator', setupMs: 1, currentBytes: 2000, peakBytes: 5000, trainableStateBytes: 300, ...this.held() };
  }
  async parameterInfo(): Promise<ParameterInfo> {
    return { total: 1000, trainable: 42, frozenBytes: 1200, trainableBytes: 300, loraModules: [] };
  }
  async close() {
    this.closed = true;
  }
}

/** Right-padded batch from rows of token ids. */
export function makeBatch(rows: number[][], seqLen: number, pad: number, labels?: number[]): NativeBatch {
  const inputIds = new Int32Array(rows.length * seqLen).fill(pad);
  rows.forEach((r, i) => inputIds.set(r, i * seqLen));
  return {
    batchSize: rows.length,
    seqLen,
    inputIds,
    lengths: Int32Array.from(rows.map((r) => r.length)),
    labels: labels ? Int32Array.from(labels) : undefined,
  };
}

/** Deterministic pseudo-random rows (not from LibTorch, so the test data never depends on it). */
export function randomRows(n: number, minLen: number, maxLen: number, vocab: number, seed = 1): number[][] {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  return Array.from({ length: n }, () => {
    const len = minLen + Math.floor(next() * (maxLen - minLen + 1));
    return Array.from({ length: len }, () => Math.floor(next() * vocab));
  });
}

const tempDirs: string[] = [];

/** A fresh folder under the OS temp dir; test/setup.ts removes every one after its test file. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes the folders tempDir() made (test/setup.ts calls it after each test file). */
export function removeTempDirs(): number {
  const dirs = tempDirs.splice(0);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  return dirs.length;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** added to the environment (vitest.config.ts gives every run a test FTPLAN_HOME) */
  env?: Record<string, string>;
  /** false: `env` is the whole environment (to leave out the machine's own settings) */
  inheritEnv?: boolean;
  /** a hang guard only; a shared machine may pause processes for a while */
  timeoutMs?: number;
  /** shell commands run before ftplan replaces the shell (e.g. `ulimit -f 200`) */
  shell?: string;
}

const BIN = join(ROOT, 'bin/ftplan.js');

/** `ftplan <args>` run to its end. */
const environment = (o: CliOptions) => (o.inheritEnv === false ? { ...o.env } : { ...process.env, ...o.env });

export function ftplan(args: string[], o: CliOptions = {}): CliResult {
  const env = environment(o);
  const timeout = o.timeoutMs ?? 600_000;
  const r = o.shell
    ? spawnSync('bash', ['-c', `${o.shell}; exec "$0" "$@"`, process.execPath, BIN, ...args], { cwd: ROOT, encoding: 'utf8', env, timeout, maxBuffer: 1 << 28 })
    : spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env, timeout, maxBuffer: 1 << 28 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The same without blocking the test's event loop (for several processes at once). */
export function ftplanAsync(args: string[], o: CliOptions = {}): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: environment(o), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 600_000);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr });
    });
  });
}

/** Runs f and expects the user's error: an FtplanError of bad input (exit 2) matching message, with a fix. */
export function expectInputError(f: () => unknown, message: RegExp): FtplanError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected an error matching ${message}`).toBeInstanceOf(FtplanError);
  const e = err as FtplanError;
  expect(e.exitCode).toBe(2);
  expect(e.message).toMatch(message);
  expect(e.fix).toBeTruthy();
  return e;
}

/** The largest |a[i] − b[i]|: for comparisons against a reference. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** The largest |a[i]|: the scale a difference is measured against. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}
