// The ftplan command as a user runs it (bin/ftplan.js over the built dist/).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

function ftplan(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['bin/ftplan.js', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('ftplan estimate', () => {
  it('with no flags measures gpt2 at batch 16 on the tweet data\'s length and projects 3 epochs (--json)', () => {
    const r = ftplan(['estimate', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schema).toBe('ftplan.estimate/1');
    expect(j.model).toBe('gpt2');
    expect(j.device).toBe('cpu');
    expect(j.dtype).toBe('fp32');
    expect(j.batchSize).toBe(16);
    // the mean padded length per batch of 16 under batching=longest, from the shipped profile
    expect(j.seqLen).toBeGreaterThan(20);
    expect(j.seqLen).toBeLessThan(60);
    const m = j.measurement;
    expect(m.stepMs).toBeGreaterThan(0);
    // at least 5 timed steps over a sample of the data's padded batch lengths, not one length
    expect(m.stepMsAll.length).toBeGreaterThanOrEqual(5);
    expect(m.stepSeqLens).toHaveLength(m.stepMsAll.length);
    expect(Math.min(...m.stepSeqLens)).toBeLessThan(Math.max(...m.stepSeqLens));
    expect(Math.abs(j.seqLen - m.tokensPerStep / 16)).toBeLessThanOrEqual(0.5); // the mean padded length, unrounded
    expect(m.stepModel.fit).toBe('theil-sen');
    expect(m.stepMs).toBeCloseTo(m.stepModel.interceptMs + (m.stepModel.msPerPosition * m.tokensPerStep) / 16, 6);
    expect(m.tokensPerSec).toBeCloseTo((m.tokensPerStep * 1000) / m.stepMs, 6);
    expect(m.peakMemoryBytes).toBeGreaterThan(124_000_000 * 16); // weights + grads + 2 AdamW moments, fp32
    expect(m.flopsPerToken).toBe(6 * 84_936_960 + 12 * 12 * 768 * j.seqLen);
    expect(m.achievedFlops).toBeCloseTo(m.flopsPerToken * m.tokensPerSec, 0);
    expect(j.libtorch.version).toMatch(/^(1\.13|2\.)/);
    expect(j.libtorch.blas).not.toBe('reference');
    const p = j.projection;
    expect(p.stepsPerEpoch).toBe(1_718);
    expect(p.totalSteps).toBe(5_154);
    expect(p.hours).toBeGreaterThan(0);
    expect(p.hours).toBeCloseTo(p.trainHours + p.evalHours, 10);
    // train hours follow from the measured throughput and the epoch's padded tokens
    expect(p.trainHours).toBeCloseTo((3 * p.trainTokensPerEpoch) / m.tokensPerSec / 3600, 8);
    expect(j.dataset).toMatchObject({ name: 'mteb/tweet_sentiment_extraction', trainRows: 27_481, evalRows: 3_534, source: 'shipped token-length profile' });
  }, 300_000);

  it('prints a table with the arithmetic shown', () => {
    const r = ftplan(['estimate', '--model', 'tiny', '--steps', '2', '--min-time', '0', '--seq-len', '32', '--eval-batch-size', '0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('measured here');
    expect(r.stdout).toContain('projected here');
    expect(r.stdout).not.toContain('\u001b['); // no colour codes when not on a terminal
    expect(r.stdout).toMatch(/16 × 32 tokens/);
    expect(r.stdout).toMatch(/27,481 rows ÷ 16 per step .* = 1,718 steps\/epoch × 3 epochs = 5,154 steps/);
    expect(r.stdout).toMatch(/padded tokens\/epoch \(batching fixed, 32\.0 tokens\/row\)/);
  });

  it('--min-time keeps timing a fast model past 200 steps (the old cap) until its steps add up to it', () => {
    const r = ftplan(['estimate', '--model', 'tiny', '--steps', '2', '--min-time', '4', '--seq-len', '8', '--batch-size', '2', '--eval-batch-size', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout).measurement;
    const timedMs = m.stepMsAll.reduce((a: number, b: number) => a + b, 0);
    expect(m.steps).toBe(m.stepMsAll.length);
    expect(m.steps).toBeGreaterThan(200); // a 2 × 8 tiny step takes a few ms here
    expect(timedMs).toBeGreaterThanOrEqual(4000);
    expect(timedMs - m.stepMsAll[m.stepMsAll.length - 1]).toBeLessThan(4000); // stopped at the first step past it
  });

  it('plans for a data set and a Hugging Face model folder given on the command line', () => {
    const data = process.env.FTPLAN_DATA ?? '../shared/data';
    const r = ftplan(['estimate', '--model', `${data}/tiny-gpt2`, '--dataset', `${data}/tweet_sentiment_extraction`, '--limit', '2000', '--steps', '2', '--min-time', '0', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.dataset.trainRows).toBe(2_000);
    expect(j.dataset.evalRows).toBe(3_534);
    expect(j.dataset.source).toMatch(/^profiled now from /);
    expect(j.measurement.parameters).toBe(102_714 + 2 * 3); // tiny-gpt2's trunk + a 3-class head
    expect(j.projection.stepsPerEpoch).toBe(125);
  });

  const bad: [string[], RegExp][] = [
    [['--batch-size', '0'], /--batch-size must be at least 1/],
    [['--batch-size', '2.5'], /--batch-size must be a whole number/],
    [['--epochs', '-1'], /--epochs must be positive/],
    [['--seq-len', '5000'], /--seq-len 5000 exceeds gpt2's 1024 positions/],
    [['--model', 'gpt5'], /--model gpt5: not a preset \(gpt2, gpt2-medium/],
    [['--dtype', 'fp8'], /Invalid values:[\s\S]*dtype/],
    [['--device', 'tpu'], /--device must be auto, cpu, cuda or cuda:N/],
    [['--threads', '0'], /--threads must be at least 1/],
    [['--steps', 'many'], /--steps must be a number/],
    [['--no-such-flag'], /Unknown argument/],
  ];
  for (const [flags, message] of bad) {
    it(`rejects ${flags.join(' ')} with exit 2 and the fix`, () => {
      const r = ftplan(['estimate', ...flags]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/fix:/);
      expect(r.stdout).toBe('');
    });
  }

  it('an unavailable GPU is a usage error, not a crash', () => {
    const r = ftplan(['estimate', '--device', 'cuda:7', '--model', 'tiny']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--device cuda:7 is not available/);
  });

  it('a missing addon is one clear error listing what was tried', () => {
    const r = ftplan(['estimate', '--model', 'tiny'], { FTPLAN_NATIVE: '/nonexistent/ftplan.node' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/native addon could not be loaded:\n  - \/nonexistent\/ftplan.node: not built/);
    expect(r.stderr).toMatch(/fix: build it: `npm run build:native`/);
    const notAddon = ftplan(['estimate', '--model', 'tiny'], { FTPLAN_NATIVE: 'package.json' });
    expect(notAddon.code).toBe(1);
    expect(notAddon.stderr).toMatch(/package.json: loaded, but it is not an ftplan addon/);
    const garbage = join(tempDir('ftplan-'), 'ftplan.node');
    writeFileSync(garbage, 'not an ELF file');
    const broken = ftplan(['estimate', '--model', 'tiny'], { FTPLAN_NATIVE: garbage });
    expect(broken.code).toBe(1);
    expect(broken.signal).toBeNull();
    expect(broken.stderr).toMatch(/ftplan.node: .*(invalid ELF header|too short)/);
  });

  it('no command: usage error', () => {
    const r = ftplan([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/name a command/);
  });
});
