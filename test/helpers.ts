import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelConfig, type ModelConfig } from '../src/model/presets.js';
import type { NativeBatch } from '../src/native.js';

/** A small model for tests: GPT-2's layout, a reduced vocabulary so steps take milliseconds. */
export function tinyModel(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return modelConfig('tiny', { vocabSize: 512, padTokenId: 511, nPositions: 64, ...overrides });
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
