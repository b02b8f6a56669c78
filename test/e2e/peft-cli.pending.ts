// ftplan run --method lora / eval --adapter / --merge / estimate --method qlora through the CLI, on a
// random GPT-2 checkpoint (test/fixtures.ts) and a synthetic labelled data set: the adapter lowers
// the eval loss, the base's file is never rewritten, a resumed run takes the same steps as an
// uninterrupted one, eval of base + adapter reproduces the run's metrics, and the merged folder
// evaluates as the adapter does.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAdapter } from '../../src/model/peft-adapter.js';
import { modelConfig } from '../../src/model/presets.js';
import { labelledDataset, tinyHfCheckpoint } from '../fixtures.js';
import { ftplan, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-peft-');
const DATASET = labelledDataset({ dir: join(tmp(), 'reviews'), train: 64, test: 48, seed: 7 }).dir;
const SHAPE = { nEmbd: 32, nHead: 2, nLayer: 2 };
const BASE = tinyHfCheckpoint(join(tmp(), 'base'), { seed: 3, config: SHAPE }).dir;
// 8 steps an epoch; constant learning rate, so a run cut by --max-steps keeps the whole run's schedule
const TRAIN = ['--dataset', DATASET, '--batch-size', '8', '--epochs', '2', '--lr', '1e-2', '--scheduler', 'constant', '--threads', '1', '--eval-steps', '2', '--json'];

const trainLosses = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; step: number; loss: number })
    .filter((m) => m.type === 'train')
    .map((m) => [m.step, m.loss]);

describe('ftplan run --method lora', () => {
  it('trains adapters that lower the eval loss, leaves the base as it was, and eval --adapter and --merge reproduce its metrics', () => {
    const before = readFileSync(join(BASE, 'model.safetensors'));
    const out = tmp();
    const r = ftplan(['run', '--model', BASE, ...TRAIN, '--method', 'lora', '--lora-r', '4', '--lora-alpha', '8', '--base-dtype', 'fp32', '--merge', '--output-dir', out]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.status).toBe('completed');
    expect(run.peft).toMatchObject({ method: 'lora', lora: { r: 4, alpha: 8, targets: ['c_attn', 'c_proj', 'c_fc'] }, adapter: out, merged: join(out, 'merged') });
    expect(run.peft.description).toMatch(/^LoRA r 4 \(alpha 8, dropout 0\.05\) on 4 modules × 2 layers \(c_attn, c_proj, c_fc\), fp32 base: /);
    // fewer parameters train than the model has: the adapters and the head
    expect(run.peft.trainableParameters).toBeLessThan(run.peft.parameterInfo.total / 10);
    const first = run.evals[0].metrics.loss;
    expect(run.finalEval.loss).toBeLessThan(first);
    // the output folder holds the adapter in PEFT's layout, not a model; the base file is untouched
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
    expect(readFileSync(join(BASE, 'model.safetensors')).equals(before)).toBe(true);
    const adapter = readAdapter(out, modelConfig('tiny', { ...SHAPE, vocabSize: 50257, nPositions: 1024, numLabels: 3 }), { model: BASE });
    expect(adapter.head).toBe(true);
    expect(Object.keys(adapter.state)).toContain('transformer.h.1.mlp.c_proj.lora_B.weight');

    const ev = ftplan(['eval', '--model', BASE, '--adapter', out, '--dataset', DATASET, '--threads', '1', '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const evj = JSON.parse(ev.stdout);
    expect(evj.adapter).toMatchObject({ method: 'lora', r: 4, head: true });
    expect(evj.metrics).toEqual(run.finalEval);

    // the merged folder is a plain model: W + alpha/r · B·A, evaluated without any adapter
    const merged = JSON.parse(ftplan(['eval', '--model', join(out, 'merged'), '--dataset', DATASET, '--threads', '1', '--json']).stdout);
    expect(Math.abs(merged.metrics.loss - run.finalEval.loss)).toBeLessThan(1e-4 * Math.max(1, run.finalEval.loss));
    expect(merged.metrics.accuracy).toBeCloseTo(run.finalEval.accuracy, 6);

    // the adapter belongs to its base: another --model is refused unless --force-base
    const other = tinyHfCheckpoint(join(tmp(), 'other'), { seed: 4, config: SHAPE }).dir;
    const refused = ftplan(['eval', '--model', other, '--adapter', out, '--dataset', DATASET, '--threads', '1']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/the adapter was trained on .*base \(base_model_name_or_path\), and --model is .*other/);
  }, 120_000);

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
    for (const row of e.plan.rows) expect(row).toMatchObject({ method: 'qlora', gradientCheckpointing: true });
    // the table says it too, and a re-plan from the saved JSON plans the method that was measured
    const saved = join(tmp(), 'est.json');
    writeFileSync(saved, r.stdout);
    const table = ftplan(['estimate', '--measurement', saved, '--top', '2']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/training\s+│ QLoRA r 4/);
    expect(table.stdout).toMatch(/memory parts\s+│ weights as held [\d.]+ \w+/);
  }, 60_000);
});
