// The ftplan command as a user runs it (bin/ftplan.js over the built dist/).
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encode as gpt2Encode } from 'gpt-3-encoder';
import { labelledDataset, labelledRows, tinyHfCheckpoint, writeLabelled } from '../fixtures.js';
import { ftplan as cli, ROOT, tempDir } from '../helpers.js';

// Its own FTPLAN_HOME: a calibration stored by another test file's runs would scale these projections.
const HOME = tempDir('ftplan-cli-home-');
const ftplan = (args: string[], env: Record<string, string> = {}) => cli(args, { env: { FTPLAN_HOME: HOME, ...env } });

describe('ftplan estimate', () => {
  // The README's `ftplan estimate` measures gpt2 (minutes of CPU here: test/slow/ runs it as it is);
  // this is the same path on the tiny preset, the data's defaults (the shipped tweet profile) kept.
  it('measures the model at batch 16 on the tweet data\'s lengths and projects 3 epochs (--json)', () => {
    const r = ftplan(['estimate', '--model', 'tiny', '--min-time', '0', '--threads', '1', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schema).toBe('ftplan.estimate/1');
    expect(j.model).toBe('tiny');
    expect(j.device).toBe('cpu');
    expect(j.dtype).toBe('fp32');
    expect(j.batchSize).toBe(16);
    // the mean padded length per batch of 16 under batching=longest, from the shipped profile
    expect(j.seqLen).toBeGreaterThan(20);
    expect(j.seqLen).toBeLessThan(60);
    const m = j.measurement;
    expect(m.stepMs).toBeGreaterThan(0);
    // --min-time 0: exactly the default 5 timed steps, over a sample of the data's padded batch lengths
    expect(m.stepMsAll).toHaveLength(5);
    expect(m.stepSeqLens).toHaveLength(5);
    expect(Math.min(...m.stepSeqLens)).toBeLessThan(Math.max(...m.stepSeqLens));
    expect(Math.abs(j.seqLen - m.tokensPerStep / 16)).toBeLessThanOrEqual(0.5); // the mean padded length, unrounded
    expect(m.stepModel.fit).toBe('theil-sen');
    expect(m.stepMs).toBeCloseTo(m.stepModel.interceptMs + (m.stepModel.msPerPosition * m.tokensPerStep) / 16, 6);
    expect(m.tokensPerSec).toBeCloseTo((m.tokensPerStep * 1000) / m.stepMs, 6);
    // tiny: 2 layers, 64 channels, GPT-2's vocabulary and a 3-class head
    expect(m.parameters).toBe(50_257 * 64 + 256 * 64 + 2 * (12 * 64 * 64 + 13 * 64) + 2 * 64 + 3 * 64);
    expect(m.peakMemoryBytes).toBeGreaterThan(m.parameters * 16); // weights + grads + 2 AdamW moments, fp32
    // 6N + 12·L·C·T with N the matmul weights: 2 layers × 12·64² + the 64 × 3 head
    expect(m.flopsPerToken).toBe(6 * (2 * 12 * 64 * 64 + 64 * 3) + 12 * 2 * 64 * j.seqLen);
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
  });

  it('prints a table with the arithmetic shown', () => {
    const r = ftplan(['estimate', '--model', 'tiny', '--steps', '2', '--min-time', '0', '--seq-len', '32', '--eval-batch-size', '0', '--threads', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('measured here');
    expect(r.stdout).toContain('projected here');
    expect(r.stdout).not.toContain('\u001b['); // no colour codes when not on a terminal
    expect(r.stdout).toMatch(/16 × 32 tokens/);
    expect(r.stdout).toMatch(/27,481 rows ÷ 16 per step .* = 1,718 steps\/epoch × 3 epochs = 5,154 steps/);
    expect(r.stdout).toMatch(/padded tokens\/epoch \(batching fixed, 32\.0 tokens\/row\)/);
  });

  it('plans for a data set and a Hugging Face model folder given on the command line', () => {
    const model = tinyHfCheckpoint(join(tempDir('ftplan-cli-'), 'tiny-gpt2'));
    const data = labelledDataset({ train: 2_500, test: 300, seed: 41 });
    const r = ftplan(['estimate', '--model', model.dir, '--dataset', data.dir, '--limit', '2000', '--steps', '2', '--min-time', '0', '--threads', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.dataset.trainRows).toBe(2_000);
    expect(j.dataset.evalRows).toBe(300);
    expect(j.dataset.source).toMatch(/^profiled now from /);
    expect(j.measurement.parameters).toBe(102_714 + 2 * 3); // tiny-gpt2's shape: its trunk + a 3-class head
    expect(j.projection.stepsPerEpoch).toBe(125); // 2,000 rows ÷ 16
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

describe('ftplan profile', () => {
  it('reports a data set: rows per split, label counts, token lengths, epoch tokens per batching policy (--json)', () => {
    const ds = labelledDataset({ train: 300, test: 90, seed: 71 });
    const r = ftplan(['profile', '--dataset', ds.dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.splits.train.rows).toBe(300);
    expect(p.splits.test.rows).toBe(90);
    expect(p.splits.train.labelCounts).toEqual({ negative: 100, neutral: 100, positive: 100 });
    expect(p.splits.test.labelCounts).toEqual({ negative: 30, neutral: 30, positive: 30 });
    const t = p.splits.train.tokens;
    // the longest text in GPT-2 tokens, counted by another tokenizer (gpt-3-encoder's port of openai/gpt-2)
    expect(t.max).toBe(Math.max(...ds.train.map((x) => gpt2Encode(x.text).length)));
    expect(t.p50).toBeLessThanOrEqual(t.p90);
    expect(t.p90).toBeLessThanOrEqual(t.p99);
    expect(t.p99).toBeLessThanOrEqual(t.max);
    expect(Object.values(t.histogram as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(300);
    const b = p.batching.train;
    expect(b.fixed.tokens).toBe(300 * t.max);
    expect(b.grouped.tokens).toBeLessThan(b.longest.tokens);
    expect(b.longest.tokens).toBeLessThan(b.fixed.tokens);
  });

  it('prints a table', () => {
    const file = writeLabelled(join(tempDir('ftplan-cli-'), 'test.parquet'), labelledRows(1_234, 72));
    const r = ftplan(['profile', '--dataset', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rows \(read\)\s+│ 1,234 \(1,234\)/);
    expect(r.stdout).toMatch(/epoch tokens, batch 16, grouped/);
  });
});

describe('the built command', () => {
  it('npm run build leaves the bundle bin/ftplan.js runs: dist/ftplan.mjs, no older than dist/cli.js', () => {
    const bundle = join(ROOT, 'dist/ftplan.mjs');
    expect(existsSync(bundle), 'run `npm run build` (tsc, then scripts/bundle.mjs)').toBe(true);
    expect(statSync(bundle).mtimeMs).toBeGreaterThanOrEqual(statSync(join(ROOT, 'dist/cli.js')).mtimeMs);
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ftplan <command>/);
  });
});
