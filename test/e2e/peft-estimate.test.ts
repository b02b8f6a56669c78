// ftplan estimate --method qlora through the CLI: the steps measured with the method, and the JSON,
// the plan rows, the table and a re-plan from the saved JSON carrying it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labelledDataset, tinyHfCheckpoint } from '../fixtures.js';
import { ftplan, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-peft-est-');
const DATASET = labelledDataset({ dir: join(tmp(), 'reviews'), train: 64, test: 48, seed: 7 }).dir;
const BASE = tinyHfCheckpoint(join(tmp(), 'base'), { seed: 3, config: { nEmbd: 32, nHead: 2, nLayer: 2 } }).dir;

describe('ftplan estimate --method qlora', () => {
  it('measures QLoRA steps and carries the method, LoRA settings, trainable count and memory parts in the JSON and the plan', () => {
    const r = ftplan(['estimate', '--model', BASE, '--dataset', DATASET, '--method', 'qlora', '--lora-r', '4', '--gradient-checkpointing', '--steps', '2', '--min-time', '0', '--threads', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e).toMatchObject({ method: 'qlora', lora: { r: 4, alpha: 32, dropout: 0.05, targets: ['c_attn', 'c_proj', 'c_fc'] }, gradientCheckpointing: true });
    expect(e.trainableParameters).toBeGreaterThan(0);
    expect(e.trainableParameters).toBeLessThan(e.parameters);
    expect(e.memoryBreakdown).toMatchObject({ method: 'qlora', gradientCheckpointing: true });
    expect(e.memoryBreakdown.weightBytes).toBeGreaterThan(0);
    expect(e.training.description).toMatch(/^QLoRA r 4 .* NF4 base/);
    for (const row of e.plan.rows) expect(row).toMatchObject({ method: 'qlora', lora: { r: 4 } });
    // the table says it too, and a re-plan from the saved JSON plans the method that was measured
    const saved = join(tmp(), 'est.json');
    writeFileSync(saved, r.stdout);
    const table = ftplan(['estimate', '--measurement', saved, '--top', '2']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/training\s+│ QLoRA r 4/);
    expect(table.stdout).toMatch(/memory parts\s+│ weights as held [\d.]+ \w+/);
  }, 60_000);
});
