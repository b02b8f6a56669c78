// ftplan run --method lora resumed from an adapter checkpoint through the CLI: the checkpoint holds
// the adapter (PEFT's layout) and the training state, never the base; the resumed run takes the same
// steps, to the same losses bit for bit, as the uninterrupted run (LoRA dropout on: the generators'
// states come back too); a run with another rank is refused by name.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labelledDataset, tinyHfCheckpoint } from '../fixtures.js';
import { ftplan, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-peft-resume-');
const DATASET = labelledDataset({ dir: join(tmp(), 'reviews'), train: 64, test: 16, seed: 7 }).dir;
const BASE = tinyHfCheckpoint(join(tmp(), 'base'), { seed: 3, config: { nEmbd: 32, nHead: 2, nLayer: 2 } }).dir;
// 8 steps an epoch; a constant learning rate, so a run cut by --max-steps keeps the whole run's schedule
const TRAIN = ['--dataset', DATASET, '--batch-size', '8', '--epochs', '2', '--lr', '1e-2', '--scheduler', 'constant', '--threads', '1', '--eval-steps', '4', '--json'];

const trainLosses = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; step: number; loss: number })
    .filter((m) => m.type === 'train')
    .map((m) => [m.step, m.loss]);

describe('ftplan run --method lora --resume', () => {
  it('resumes exactly from an adapter checkpoint: the same losses as the uninterrupted run', () => {
    const whole = tmp();
    expect(ftplan(['run', '--model', BASE, ...TRAIN, '--method', 'lora', '--lora-r', '2', '--output-dir', whole]).code).toBe(0);
    const cut = tmp();
    const first = ftplan(['run', '--model', BASE, ...TRAIN, '--method', 'lora', '--lora-r', '2', '--max-steps', '5', '--save-steps', '3', '--output-dir', cut]);
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(join(cut, 'checkpoint-3', 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(cut, 'checkpoint-3', 'model.safetensors'))).toBe(false);
    const resumed = ftplan(['run', '--model', BASE, ...TRAIN, '--method', 'lora', '--lora-r', '2', '--resume', join(cut, 'checkpoint-3'), '--output-dir', cut]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const want = trainLosses(whole);
    const got = new Map(trainLosses(cut).filter(([s]) => s! > 3).map(([s, l]) => [s, l]));
    for (const [s, l] of want.filter(([s]) => s! > 3)) expect(got.get(s), `step ${s}`).toBe(l);
    // another rank is another adapter: refused by name
    const wrong = ftplan(['run', '--model', BASE, ...TRAIN, '--method', 'lora', '--lora-r', '8', '--resume', join(cut, 'checkpoint-3'), '--output-dir', tmp()]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/holds an adapter of a run with other settings \(r 2\)/);
  }, 120_000);
});
