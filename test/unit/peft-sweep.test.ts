// The sweep's --lora-r dimension: a rank trains LoRA adapters, each rank's step is measured apart,
// and a rank with a method that has none is refused before anything runs.
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { FtplanError } from '../../src/errors.js';
import { toYargs } from '../../src/flags/registry.js';
import { SWEEP_OPTIONS } from '../../src/flags/sweep.js';
import { costKey } from '../../src/sweep/measure.js';
import { sweepSetup } from '../../src/sweep/setup.js';
import { describeSettings } from '../../src/sweep/space.js';

const setup = (argv: string[]) => sweepSetup(yargs(['--dataset', 'd.jsonl', ...argv]).options(toYargs(SWEEP_OPTIONS)).strict().parseSync() as Record<string, unknown>);

describe('ftplan sweep --lora-r', () => {
  it('is a dimension whose trials train --method lora with that rank', () => {
    const s = setup(['--model', 'tiny', '--lora-r', '8,16', '--lr', '1e-4,1e-3']);
    expect(s.axes.map((a) => a.flag)).toEqual(['lr', 'lora-r']);
    expect(s.trials).toHaveLength(4);
    for (const t of s.trials) expect(t.run).toMatchObject({ method: 'lora', loraR: t.settings['lora-r'] });
    expect(describeSettings(s.trials[1]!.settings)).toBe('lr 1e-4 · lora-r 16');
    // each rank is its own measured step; the learning rate is not
    const keys = new Set(s.trials.map((t) => costKey(t.run)));
    expect([...keys].sort()).toEqual(['b16x1-lora-r16', 'b16x1-lora-r8']);
  });

  it('keeps --method qlora, and a single rank is a setting every trial shares', () => {
    const q = setup(['--model', 'tiny', '--method', 'qlora', '--lora-r', '8,16']);
    expect(q.trials.map((t) => t.run.method)).toEqual(['qlora', 'qlora']);
    const one = setup(['--model', 'tiny', '--lora-r', '8', '--lr', '1e-4,1e-3', '--gradient-checkpointing']);
    expect(one.axes.map((a) => a.flag)).toEqual(['lr']);
    expect(one.trials.every((t) => t.run.method === 'lora' && t.run.loraR === 8)).toBe(true);
    expect(costKey(one.trials[0]!.run)).toBe('b16x1-lora-r8-ckpt');
    // full fine-tuning's key is the batch shape alone, as before
    expect(costKey(setup(['--model', 'tiny', '--lr', '1e-4,1e-3']).trials[0]!.run)).toBe('b16x1');
  });

  it('refuses a rank with --method full or head, and a rank below 1, before anything runs', () => {
    for (const [argv, message] of [
      [['--lora-r', '8,16', '--method', 'head'], /--lora-r is a LoRA adapter's rank, and --method is head/],
      [['--lora-r', '0,8'], /--lora-r 0: must be ≥ 1/],
      [['--lora-r', '4.5,8'], /--lora-r 4\.5: not a whole number/],
    ] as const) {
      let err: unknown;
      try {
        setup(['--model', 'tiny', ...argv]);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FtplanError);
      expect((err as FtplanError).exitCode).toBe(2);
      expect((err as FtplanError).message).toMatch(message);
    }
  });
});
