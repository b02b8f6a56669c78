// scripts/device/gpu-check.sh — issue 7's GPU check — in its CPU dry run: every phase (node,
// build reusing the built addon, the CUDA test file in CPU mode, both benchmarks, the table) end to
// end on this machine, so the script is known to work before device time is spent on it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REFERENCE_PYTHON, ROOT, tempDir } from '../helpers.js';

const ADDON = process.env.FTPLAN_NATIVE ?? join(ROOT, 'build/Release/ftplan.node');

interface Row {
  impl: string;
  batch: number;
  seq: number;
  status: string;
  medianStepMs: number;
  tokensPerSec: number;
  achievedTflops: number;
  mfu: number;
  ratioToPython?: number;
  peakMemoryBytes: number | null;
}

describe('gpu-check.sh dry run (FTPLAN_DEVICE_DRY_RUN=1)', () => {
  const out = tempDir('ftplan-gpu-check-');
  let run: ReturnType<typeof spawnSync>;
  let results: { mode: string; rows: Row[]; phases: { name: string; status: string; detail: string }[]; tests: { name: string; ok: boolean; skip: string | null }[]; pythonImpl: string; peak: { tflops: number } };

  it('runs every phase on CPU and writes the results files under $OUT', () => {
    expect(existsSync(ADDON), `the addon must be built (${ADDON})`).toBe(true);
    run = spawnSync('bash', ['scripts/device/gpu-check.sh'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
      env: {
        ...process.env,
        OUT: out,
        FTPLAN_DEVICE_DRY_RUN: '1',
        FTPLAN_DEVICE_SKIP_BUILD: '1', // CI builds the addon once; the dry run reuses it
        FTPLAN_NATIVE: ADDON,
        PYTHON: REFERENCE_PYTHON,
        PATH: `${resolve(process.execPath, '..')}:${process.env.PATH}`,
      },
    });
    expect(run.status, `${run.stderr}\n${existsSync(join(out, 'run.log')) ? readFileSync(join(out, 'run.log'), 'utf8') : ''}`).toBe(0);
    for (const f of ['results.md', 'results.json', 'run.log', 'build.log', 'tests.log', 'bench.log', 'env.txt']) expect(existsSync(join(out, f)), f).toBe(true);
    results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.mode).toBe('dry-run');
  }, 300_000);

  it('every phase succeeded: node, build (reused), load, tests, both benchmarks at both batches, cli', () => {
    const status = Object.fromEntries(results.phases.map((p) => [p.name, p.status]));
    expect(status).toMatchObject({
      env: 'ok',
      node: 'ok',
      build: 'skipped',
      load: 'ok',
      tests: 'ok',
      'bench-ftplan-b2': 'ok',
      'bench-python-b2': 'ok',
      'bench-ftplan-b4': 'ok',
      'bench-python-b4': 'ok',
    });
    expect(['ok', 'not run']).toContain(status.cli); // the CLI phase needs dist/ (npm run build:ts)
  });

  it('the CUDA test file ran in CPU mode: its device-agnostic tests passed, only the OOM point was skipped', () => {
    const tap = readFileSync(join(out, 'tests.log'), 'utf8');
    expect(tap).toMatch(/^# fail 0$/m);
    expect(results.tests.filter((t) => t.ok && !t.skip).map((t) => t.name)).toEqual(
      expect.arrayContaining([expect.stringMatching(/bf16 autocast step/), expect.stringMatching(/peak memory/), expect.stringMatching(/runtime reports/)]),
    );
    const skipped = results.tests.filter((t) => t.skip);
    expect(skipped.map((t) => t.name)).toEqual([expect.stringMatching(/out-of-memory/)]);
  });

  it('the table has ftplan and Python rows at batch 2 and 4 with positive tokens/s, MFU and a ratio', () => {
    expect(results.rows.map((r) => `${r.impl.split(' ')[0]} ${r.batch}`)).toEqual(['ftplan 2', 'python 2', 'ftplan 4', 'python 4']);
    for (const r of results.rows) {
      expect(r.status).toBe('ok');
      expect(r.seq).toBe(32);
      expect(r.medianStepMs).toBeGreaterThan(0);
      expect(r.tokensPerSec).toBeGreaterThan(0);
      expect(r.achievedTflops).toBeGreaterThan(0);
      expect(r.mfu).toBeGreaterThan(0);
      expect(r.mfu).toBeLessThan(1);
    }
    for (const r of results.rows.filter((x) => x.impl === 'ftplan')) {
      expect(r.ratioToPython).toBeGreaterThan(0);
      expect(r.peakMemoryBytes).toBeGreaterThan(0);
    }
    expect(results.pythonImpl).toMatch(/^(eager|transformers)$/);
    expect(results.peak.tflops).toBe(989); // H200 dense bf16 from pricing/gpus.json
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('DRY RUN on CPU');
    expect(md).toContain('| impl | batch | seq | median step ms | tokens/s | TFLOP/s | MFU | ratio to Python | peak mem GiB | targets |');
    expect(md.match(/^\| (ftplan|python \((eager|transformers)\)) \| [24] \| 32 \| [\d.,]+ \|/gm)).toHaveLength(4);
  });
});
