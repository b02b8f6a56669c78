// The broken-input corpus (test/corpus/cases.ts) through the real command line: every case exits
// with its code (2: bad input or usage, 1: runtime failure), names the input and the fix, is not
// killed by a signal, and prints no stack trace unless --verbose.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CASES, type CorpusCase } from '../corpus/cases.js';
import { type CliResult as Outcome, ftplanAsync, tempDir } from '../helpers.js';

const ftplan = (args: string[], env: Record<string, string> = {}) => ftplanAsync(args, { env });

const STACK = /^\s+at .+:\d+:\d+\)?$/m;
const outcomes = new Map<string, Outcome>();

async function runCase(c: CorpusCase, extra: string[] = []): Promise<Outcome> {
  const dir = tempDir('ftplan-corpus-');
  try {
    c.setup?.(dir);
    return await ftplan([...c.args(dir), ...extra], c.env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  // Two at a time: each case is a process of its own (a third of them load LibTorch).
  const queue = [...CASES];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) outcomes.set(c.name, await runCase(c));
  };
  await Promise.all([worker(), worker()]);
}, 900_000);

describe('the broken-input corpus', () => {
  it('has at least 50 distinct cases, in every category', () => {
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
    expect(CASES.length).toBeGreaterThanOrEqual(50);
    const per = (k: CorpusCase['category']) => CASES.filter((c) => c.category === k).length;
    expect(per('data')).toBeGreaterThanOrEqual(10);
    expect(per('model')).toBeGreaterThanOrEqual(10);
    expect(per('pricing')).toBeGreaterThanOrEqual(8);
    expect(per('flags')).toBeGreaterThanOrEqual(10);
    expect(CASES.every((c) => c.message.length > 0)).toBe(true);
  });

  it.each(CASES.map((c) => [c.category, c.name, c] as const))('%s: %s', (_cat, _name, c) => {
    const r = outcomes.get(c.name) as Outcome;
    const context = `stderr:\n${r.stderr}\nstdout:\n${r.stdout.slice(0, 2000)}`;
    expect(r.signal, context).toBeNull(); // no crash, no abort
    expect(r.code, context).toBe(c.exitCode);
    expect(r.stderr, context).toMatch(/^ftplan: /m);
    for (const m of c.message) {
      if (typeof m === 'string') expect(r.stderr, context).toContain(m);
      else expect(r.stderr, context).toMatch(m);
    }
    expect(r.stderr, context).not.toMatch(STACK);
    expect(r.stderr).not.toContain('internal error');
    // an error message names the problem in a line or a few, not a dump of the input
    expect(r.stderr.length).toBeLessThan(2000);
  });

  it('a price row for a GPU the planner has no data for is listed with a warning (plans leave it out)', async () => {
    const dir = tempDir('ftplan-corpus-');
    const f = join(dir, 'c.csv');
    writeFileSync(f, 'cloud,instanceType,gpu,gpuCount,vCPUs,memoryGiB,region,price,spotPrice,source,asOf,note\naws,g5.xlarge,Z9000,1,4,16,us-east-1,1.006,,test corpus,2026-05-20,\n');
    const r = await ftplan(['pricing', '--catalog', f]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('warning: pricing/gpus.json has no data for Z9000: plans leave those rows out');
  });

  it('prints the stack trace with --verbose, and only then', async () => {
    const c = CASES.find((x) => x.name === 'safetensors: NaN weights') as CorpusCase;
    const r = await runCase(c, ['--verbose']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('contains NaN or infinite values');
    expect(r.stderr).toMatch(STACK);
  });
});
