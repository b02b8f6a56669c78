// ftplan run --method lora / eval --adapter / --merge / estimate --method qlora through the CLI, on a
// random GPT-2 checkpoint (test/fixtures.ts) and a data set whose class is its last word (the token
// GPT-2's head reads): the adapter lowers the eval loss, the base's file is never rewritten, eval of
// base + adapter reproduces the run's metrics, the merged folder evaluates as the adapter does. The exact
// resume: peft-resume.*; the estimate: peft-estimate.*.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAdapter } from '../../src/model/peft-adapter.js';
import { modelConfig } from '../../src/model/presets.js';
import { tinyHfCheckpoint } from '../fixtures.js';
import { ftplan, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-peft-');

/** Rows of a few filler words ending in a word of their class: learnable from the last token alone. */
function lastWordDataset(dir: string, train: number, test: number): string {
  const WORDS = [['awful', 'sad', 'hate', 'worst'], ['today', 'office', 'lunch', 'bus'], ['love', 'great', 'happy', 'best']];
  const FILL = ['i', 'just', 'my', 'so', 'this', 'and', 'it', 'was', 'the', 'a'];
  let s = 11;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const rows = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const words = Array.from({ length: 2 + Math.floor(rnd() * 5) }, () => FILL[Math.floor(rnd() * FILL.length)]!);
      words.push(WORDS[i % 3]![Math.floor(rnd() * 4)]!);
      return JSON.stringify({ text: words.join(' '), label: i % 3 });
    }).join('\n') + '\n';
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.jsonl'), rows(train));
  writeFileSync(join(dir, 'test.jsonl'), rows(test));
  return dir;
}

const DATASET = lastWordDataset(join(tmp(), 'data'), 96, 48);
const SHAPE = { nEmbd: 32, nHead: 2, nLayer: 2 };
const BASE = tinyHfCheckpoint(join(tmp(), 'base'), { seed: 3, config: SHAPE }).dir;
// 12 steps an epoch, evaluated after each
const TRAIN = ['--dataset', DATASET, '--batch-size', '8', '--epochs', '5', '--lr', '1e-2', '--scheduler', 'constant', '--lora-dropout', '0', '--threads', '1', '--json'];

describe('ftplan run --method lora', () => {
  it('trains adapters that lower the eval loss, leaves the base as it was, and eval --adapter and --merge reproduce its metrics', () => {
    const before = readFileSync(join(BASE, 'model.safetensors'));
    const out = tmp();
    const r = ftplan(['run', '--model', BASE, ...TRAIN, '--method', 'lora', '--lora-r', '4', '--lora-alpha', '8', '--base-dtype', 'fp32', '--merge', '--output-dir', out]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.status).toBe('completed');
    expect(run.peft).toMatchObject({ method: 'lora', lora: { r: 4, alpha: 8, targets: ['c_attn', 'c_proj', 'c_fc'] }, adapter: out, merged: join(out, 'merged') });
    expect(run.peft.description).toMatch(/^LoRA r 4 \(alpha 8, dropout 0\) on 4 modules × 2 layers \(c_attn, c_proj, c_fc\), fp32 base: /);
    // fewer parameters train than the model has: the adapters and the head
    expect(run.peft.trainableParameters).toBeLessThan(run.peft.parameterInfo.total / 10);
    // after the first epoch against the last: the adapters (and the head) learned the classes
    const first = run.evals[0].metrics;
    expect(run.finalEval.loss).toBeLessThan(first.loss - 0.1);
    expect(run.finalEval.accuracy).toBeGreaterThan(first.accuracy);
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
});
