// Parameter-efficient fine-tuning in the native core against the independent reference
// (test/reference/peft_reference.py, Debian's python3-torch): NF4 quantise -> dequantise equals
// bitsandbytes' algorithm bit for bit (codes, scales, values; with and without double quantisation;
// sizes that are not a multiple of 64), and LoRA's logits, loss and the gradients of lora_A, lora_B
// and the head equal PEFT's formula y = xWᵀ + b + (xAᵀ)Bᵀ·alpha/r computed in float64 (llama tiny,
// both tasks, its base held in bf16; GPT-2 tiny, base in fp32) — logits to 1e-5 of their scale, the
// loss to 1e-5, gradients to 1e-4 of each tensor's scale, as the decoders' own reference test.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDecoderCheckpoint } from '../../src/model/decoder-checkpoint.js';
import type { Task } from '../../src/model/decoder-config.js';
import { loadNative, type NamedTensors, type NativeBatch } from '../../src/native.js';
import { tinyDecoderCheckpoint } from '../decoder-fixtures.js';
import { prng } from '../fixtures.js';
import { makeBatch, maxAbs, maxAbsDiff, randomRows, REFERENCE_PYTHON, ROOT, tempDir, tinyModel } from '../helpers.js';

const addon = loadNative();

function python(request: object): Record<string, unknown> {
  const out = execFileSync(REFERENCE_PYTHON, [join(ROOT, 'test/reference/peft_reference.py')], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  return JSON.parse(out) as Record<string, unknown>;
}

/** Normal-ish values (Box-Muller on the fixtures' PRNG), a few outliers as real weights have. */
function weightLike(n: number, seed: number): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: n }, (_, i) => (i % 97 === 5 ? 8 : 1) * 0.02 * r.normal());
}

const json = (st: NamedTensors) => Object.fromEntries(Object.entries(st).map(([k, v]) => [k, { shape: v.shape, data: Array.from(v.data) }]));

describe('NF4 against bitsandbytes\' algorithm', () => {
  // 64·7 + 37 values (a short, odd last block); 64·300 + 13 (301 scales: two blocks of 256 for double quantisation)
  const cases = [[64 * 7 + 37, false], [64 * 7 + 37, true], [64 * 300 + 13, true], [4096, false]] as const;
  const inputs = cases.map(([n, dq]) => weightLike(n, n + (dq ? 1 : 0)));
  let refs: Record<string, number[] & number>[] = [];
  beforeAll(() => {
    refs = python({ nf4: cases.map(([, dq], i) => ({ values: Array.from(inputs[i]!), double_quant: dq })) }) as unknown as typeof refs;
  });
  cases.forEach(([n, doubleQuant], i) =>
    it(`${n} values, double quantisation ${doubleQuant}: codes, scales and dequantised values are identical`, () => {
      const values = inputs[i]!;
      const ours = addon.nf4Check(values, doubleQuant);
      const ref = refs[i]!;
      expect(ours.codes.length).toBe(Math.ceil(n / 2));
      expect(ours.codes).toEqual(ref.codes);
      if (doubleQuant) {
        expect(ours.qabsmax).toEqual(ref.qabsmax);
        expect(ours.absmax2).toEqual(ref.absmax2);
        expect(ours.offset).toBe(ref.offset);
        expect(ours.absmax).toEqual([]);
      } else {
        expect(ours.absmax).toEqual(ref.absmax);
        expect(ours.absmax.length).toBe(Math.ceil(n / 64));
      }
      expect(ours.dequantized).toEqual(ref.dequantized);
      // not the identity: 4 bits lose something, but every value stays within its block's scale
      expect(maxAbsDiff(ours.dequantized, values)).toBeGreaterThan(0);
      expect(maxAbsDiff(ours.dequantized, values)).toBeLessThan(0.2 * maxAbs(values));
      // codes + scales: about half a byte a value
      expect(ours.bytes).toBeLessThan(n * 0.6 + 8);
    }),
  );
});

/** Random adapters for every LoRA module (B nonzero, so A's gradient is too). */
async function randomAdapters(s: InstanceType<typeof addon.Session>, seed: number): Promise<NamedTensors> {
  const r = prng(seed);
  const out: NamedTensors = {};
  for (const [name, t] of Object.entries(await s.trainableState())) {
    if (!name.includes('.lora_')) continue;
    out[name] = { shape: t.shape, data: Float32Array.from(t.data, () => (r.next() - 0.5) * 0.2) };
  }
  return out;
}

async function compare(s: InstanceType<typeof addon.Session>, native: NativeBatch, lora: Record<string, unknown>, classification: boolean, lengths: number[], T: number, V: number) {
  const trainable = Object.keys(await s.trainableState());
  const ref = python({ lora: { ...lora, state: json(await s.state()), grads: trainable } }) as { logits: number[]; loss: number; grads: Record<string, number[]> };
  const logits = await s.logits(native);
  const refLogits = (ref.logits as unknown as number[][]).flat(2) as number[];
  expect(logits.length).toBe(refLogits.length);
  // float32 against float64: 1e-5 of the logits' scale (the adapters make them larger than the base's)
  const tol = 1e-5 * Math.max(1, maxAbs(refLogits));
  if (classification) expect(maxAbsDiff(logits, refLogits)).toBeLessThan(tol);
  else
    lengths.forEach((len, b) => {
      expect(maxAbsDiff(logits.subarray(b * T * V, b * T * V + len * V), refLogits.slice(b * T * V, b * T * V + len * V)), `row ${b}`).toBeLessThan(tol);
    });
  const ours = await s.gradients(native);
  expect(Math.abs(ours.loss - ref.loss)).toBeLessThan(1e-5);
  expect(Object.keys(ours.gradients).sort()).toEqual([...trainable].sort());
  expect(trainable.some((n) => n.endsWith('lora_A.weight'))).toBe(true);
  for (const [name, g] of Object.entries(ours.gradients)) {
    const r = ref.grads[name]!;
    const scale = maxAbs(r);
    expect(scale, name).toBeGreaterThan(0);
    expect(maxAbsDiff(g.data, r) / scale, name).toBeLessThan(1e-4);
  }
}

describe('LoRA against PEFT\'s formula in float64', () => {
  for (const task of ['classification', 'causal-lm'] as Task[]) {
    it(`llama ${task}: logits, loss and every trainable gradient (q_proj, v_proj, down_proj adapted; bf16 base)`, async () => {
      const ck = tinyDecoderCheckpoint(tempDir('ftplan-peftref-'), { family: 'llama', task, seed: 5 });
      const loaded = loadDecoderCheckpoint(ck.dir, { task, numLabels: 3 });
      const cfg = loaded.config.config;
      const s = new addon.Session({ model: cfg, seed: 1, threads: 1, method: 'lora', loraR: 4, loraAlpha: 8, loraTargets: ['q_proj', 'v_proj', 'down_proj'], baseDtype: 'bf16' });
      await s.init();
      expect((await s.loadState(loaded.state)).unexpected).toEqual([]);
      expect((await s.loadState(await randomAdapters(s, 3))).unexpected).toEqual([]);
      const info = await s.parameterInfo();
      expect(info.loraModules).toEqual(['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.0.mlp.down_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj', 'model.layers.1.mlp.down_proj'].filter((m) => Number(m.split('.')[2]) < cfg.numHiddenLayers));
      const T = 10;
      const rows = randomRows(3, 3, T, cfg.vocabSize - 1, 9);
      const input_ids = rows.map((r) => [...r, ...Array<number>(T - r.length).fill(cfg.padTokenId)]);
      const lengths = rows.map((r) => r.length);
      const labels = [0, 1, 2];
      const lm_labels = rows.map((r) => [...r.map((t, i) => (i < 2 ? -100 : t)), ...Array<number>(T - r.length).fill(-100)]);
      const native: NativeBatch = {
        batchSize: 3,
        seqLen: T,
        inputIds: Int32Array.from(input_ids.flat()),
        lengths: Int32Array.from(lengths),
        ...(task === 'classification' ? { labels: Int32Array.from(labels) } : { lmLabels: Int32Array.from(lm_labels.flat()) }),
      };
      const request = { family: 'decoder', model_dir: ck.dir, alpha: 8, r: 4, task, input_ids, lengths, ...(task === 'classification' ? { labels } : { lm_labels }) };
      await compare(s, native, request, task === 'classification', lengths, T, cfg.vocabSize);
    }, 60_000);
  }

  it('gpt2 classification: logits, loss and every trainable gradient (all-linear, fp32 base)', async () => {
    const cfg = tinyModel({ nEmbd: 32, nHead: 4, nLayer: 2, vocabSize: 64, padTokenId: 63, numLabels: 3 });
    const s = new addon.Session({ model: cfg, seed: 2, threads: 1, method: 'lora', loraR: 2, loraAlpha: 5, baseDtype: 'fp32' });
    await s.init();
    await s.loadState(await randomAdapters(s, 4));
    expect((await s.parameterInfo()).loraModules.length).toBe(2 * 4);
    const rows = randomRows(3, 2, 8, 63, 11);
    const native = makeBatch(rows, 8, 63, [2, 0, 1]);
    const request = {
      family: 'gpt2',
      gpt2: { n_embd: 32, n_head: 4, n_layer: 2, layer_norm_epsilon: cfg.layerNormEpsilon },
      alpha: 5,
      r: 2,
      input_ids: rows.map((r) => [...r, ...Array<number>(8 - r.length).fill(63)]),
      lengths: rows.map((r) => r.length),
      labels: [2, 0, 1],
    };
    await compare(s, native, request, true, [], 8, 64);
  }, 60_000);
});
