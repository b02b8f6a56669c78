// The independent python reference of the Llama-family decoders (test/reference/decoder_reference.py,
// Debian's python3-torch, float64) and the tiny checkpoints it is fed (test/decoder-fixtures.ts): its
// self-test passes, and for every family it answers both tasks' requests on a fixture written here,
// with the shapes, finite values and gradients the native comparison relies on. Comparing it with
// the native core is the native suite's business.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/model/safetensors.js';
import { DECODER_FAMILIES, decoderTensorShapes, TINY_DECODERS, tinyDecoderCheckpoint, type DecoderTask } from '../decoder-fixtures.js';
import { randomRows, REFERENCE_PYTHON, ROOT, tempDir } from '../helpers.js';

const SCRIPT = join(ROOT, 'test/reference/decoder_reference.py');

interface Result {
  logits?: number[][] | number[][][];
  loss?: number;
  grads?: Record<string, number[]>;
}

function reference(dir: string, request: object): Result {
  return JSON.parse(execFileSync(REFERENCE_PYTHON, [SCRIPT, dir], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 28 }));
}

/** B rows right-padded to T with the pad id, their lengths, and HF causal-LM labels (the row's own ids, -100 on padding and on the first `prompt` tokens). */
function batch(seed: number, T: number, vocab: number, pad: number, prompt = 2) {
  const rows = randomRows(3, 3, T, vocab - 1, seed);
  rows[0] = [...(rows[0] ?? []).slice(0, T - 1), pad].slice(0, T); // the pad id inside a text is a real token
  const input_ids = rows.map((r) => [...r, ...Array<number>(T - r.length).fill(pad)]);
  const lm_labels = rows.map((r) => [...r.map((t, i) => (i < prompt ? -100 : t)), ...Array<number>(T - r.length).fill(-100)]);
  return { input_ids, lengths: rows.map((r) => r.length), lm_labels, labels: rows.map((_, i) => i % 3) };
}

const finite = (xs: number[]) => xs.every(Number.isFinite);

describe('the reference self-test', () => {
  it('passes every check (per-position loops, Meta llama3 formula, finite differences, padding, GQA, windows, family defaults)', () => {
    const r = spawnSync(REFERENCE_PYTHON, [SCRIPT, '--self-test'], { encoding: 'utf8' });
    const report = JSON.parse(r.stdout) as { ok: boolean; count: number; checks: { name: string; ok: boolean }[] };
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(r.status).toBe(0);
    expect(report.count).toBeGreaterThanOrEqual(25);
    for (const want of [/per-position loops/, /llama3 inv_freq/, /finite differences/, /padded/, /GQA/, /sliding_window >= T/, /q_norm|RMSNorm/])
      expect(report.checks.some((c) => want.test(c.name)), String(want)).toBe(true);
  }, 120_000);
});

describe.each(DECODER_FAMILIES)('%s: the reference on a tiny random checkpoint', (family) => {
  const T = 12; // longer than mistral's window of 4
  for (const task of ['classification', 'causal-lm'] as DecoderTask[]) {
    it(`${task}: logits, loss and a gradient for every tensor in the file, finite and of the file's shapes`, () => {
      const ck = tinyDecoderCheckpoint(tempDir('ftplan-dec-'), { family, task, seed: 5 });
      const file = readSafetensors(ck.files[0]!);
      expect([...file.tensors.keys()].sort()).toEqual(decoderTensorShapes(ck.config, task).map(([n]) => n).sort());
      const cfg = ck.config;
      const b = batch(7, T, cfg.vocab_size, cfg.pad_token_id!);
      const res = reference(ck.dir, { task, ...b, grads: true, return_lm_logits: true });
      if (task === 'classification') {
        expect((res.logits as number[][]).map((r) => r.length)).toEqual([3, 3, 3]);
      } else {
        const l = res.logits as number[][][];
        expect([l.length, l[0]!.length, l[0]![0]!.length]).toEqual([3, T, cfg.vocab_size]);
        expect(res.grads!['lm_head.weight'] !== undefined).toBe(!cfg.tie_word_embeddings);
      }
      expect(finite((res.logits as number[][]).flat(2) as number[])).toBe(true);
      expect(Number.isFinite(res.loss)).toBe(true);
      expect(res.loss!).toBeGreaterThan(0);
      expect(Object.keys(res.grads!).sort()).toEqual([...ck.state.keys()].sort());
      for (const [name, t] of ck.state) {
        const g = res.grads![name]!;
        expect(g, name).toHaveLength(t.data.length);
        expect(finite(g), name).toBe(true);
        expect(Math.max(...g.map(Math.abs)), name).toBeGreaterThan(0);
      }
    }, 60_000);
  }
});

describe('the fixtures and the reference together', () => {
  it('a seed gives the same bytes; another seed, others', () => {
    const write = (seed: number) => readFileSync(tinyDecoderCheckpoint(tempDir('ftplan-dec-'), { family: 'qwen3', task: 'causal-lm', seed }).files[0]!);
    expect(write(3).equals(write(3))).toBe(true);
    expect(write(3).equals(write(4))).toBe(false);
  });

  it('config.json: HF snake_case, the architecture of the task, labels for classification; tied qwen3 writes no lm_head', () => {
    const ck = tinyDecoderCheckpoint(tempDir('ftplan-dec-'), { family: 'qwen3', task: 'classification' });
    const json = JSON.parse(readFileSync(join(ck.dir, 'config.json'), 'utf8'));
    expect(json).toMatchObject({ model_type: 'qwen3', architectures: ['Qwen3ForSequenceClassification'], head_dim: 16, hidden_size: 32, tie_word_embeddings: true, id2label: { 0: 'negative', 2: 'positive' } });
    const lm = tinyDecoderCheckpoint(tempDir('ftplan-dec-'), { family: 'qwen3', task: 'causal-lm' });
    expect(JSON.parse(readFileSync(join(lm.dir, 'config.json'), 'utf8')).architectures).toEqual(['Qwen3ForCausalLM']);
    expect(lm.state.has('lm_head.weight')).toBe(false);
    expect(lm.state.get('model.layers.0.self_attn.q_proj.weight')!.shape).toEqual([64, 32]); // 4 heads × head_dim 16
  });

  it('a sharded checkpoint (index + 3 files) gives the reference the same answer as one file; padding a row changes nothing', () => {
    const one = tinyDecoderCheckpoint(tempDir('ftplan-dec-'), { family: 'llama', task: 'classification', seed: 9 });
    const three = tinyDecoderCheckpoint(tempDir('ftplan-dec-'), { family: 'llama', task: 'classification', seed: 9, shards: 3 });
    expect(three.files).toHaveLength(3);
    const req = { task: 'classification', input_ids: [[5, 6, 7, 8, 95, 95], [9, 10, 11, 12, 13, 14]], lengths: [4, 6] };
    const single = reference(one.dir, req);
    expect(reference(three.dir, req)).toEqual(single);
    const alone = reference(one.dir, { task: 'classification', input_ids: [[5, 6, 7, 8]], lengths: [4] });
    const padded = single.logits as number[][];
    (alone.logits as number[][])[0]!.forEach((v, k) => expect(Math.abs(v - padded[0]![k]!)).toBeLessThan(1e-12));
  });

  it('bad input: an unknown model_type and an out-of-range label exit 2 with a message naming them', () => {
    const ck = tinyDecoderCheckpoint(tempDir('ftplan-dec-'), { family: 'mistral', task: 'classification' });
    const run = (req: object) => spawnSync(REFERENCE_PYTHON, [SCRIPT, ck.dir], { input: JSON.stringify(req), encoding: 'utf8' });
    const r1 = run({ task: 'classification', input_ids: [[1, 2]], lengths: [2], labels: [3] });
    expect(r1.status).toBe(2);
    expect(r1.stderr).toMatch(/labels must be 1 classes in \[0, 3\)/);
    writeFileSync(join(ck.dir, 'config.json'), JSON.stringify({ ...TINY_DECODERS.mistral, model_type: 'gemma' }));
    const r2 = run({ task: 'classification', input_ids: [[1, 2]], lengths: [2] });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/model_type 'gemma' is not one of/);
  });
});
