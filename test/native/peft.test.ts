// Parameter-efficient fine-tuning's behaviour in the native core (docs/peft.md): what trains and
// what stays put, QLoRA against LoRA, checkpointing against none, the merged state, the optimizer
// state, what the benchmark reports, and the errors. The formulas themselves are
// peft-reference.test.ts's.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDecoderCheckpoint } from '../../src/model/decoder-checkpoint.js';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { loadNative, type NamedTensors, type NativeBatch, type TrainOptions } from '../../src/native.js';
import { tinyDecoderCheckpoint } from '../decoder-fixtures.js';
import { prng } from '../fixtures.js';
import { makeBatch, randomRows, tempDir, tinyModel } from '../helpers.js';

const addon = loadNative();
type Session = InstanceType<typeof addon.Session>;

// Dropout everywhere (GPT-2's three and LoRA's), so masks matter.
const gpt2 = tinyModel({ nEmbd: 32, nHead: 4, nLayer: 3, vocabSize: 64, padTokenId: 63, numLabels: 3 });
const batch = (seed: number): NativeBatch => makeBatch(randomRows(4, 3, 12, 63, seed), 12, 63, [0, 1, 2, 1]);

async function session(o: TrainOptions, model: object = gpt2): Promise<Session> {
  const s = new addon.Session({ model: model as typeof gpt2, seed: 7, threads: 1, ...o });
  await s.init();
  return s;
}

const maxRel = (a: Float32Array, b: Float32Array) => {
  let m = 0,
    scale = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return scale === 0 ? m : m / scale;
};

/** Random adapters for every LoRA module: B nonzero, so the adapters change the output. */
async function randomAdapters(s: Session, seed: number): Promise<NamedTensors> {
  const r = prng(seed);
  const out: NamedTensors = {};
  for (const [name, t] of Object.entries(await s.trainableState()))
    if (name.includes('.lora_')) out[name] = { shape: t.shape, data: Float32Array.from(t.data, () => (r.next() - 0.5) * 0.2) };
  return out;
}

describe('what trains', () => {
  it('lora: after steps the base weights are bit-identical; adapters and the head moved; B started at zero', async () => {
    const s = await session({ method: 'lora', loraR: 4, loraAlpha: 8, loraDropout: 0.1, baseDtype: 'fp32', lr: 1e-2 });
    const before = await s.state();
    const info = await s.parameterInfo();
    expect(info.loraModules).toHaveLength(3 * 4); // c_attn, attn.c_proj, c_fc, mlp.c_proj per block
    for (const [name, t] of Object.entries(before)) if (name.endsWith('lora_B.weight')) expect(t.data.every((x) => x === 0), name).toBe(true);
    const trainable = Object.keys(await s.trainableState());
    expect(trainable.every((n) => n.includes('.lora_') || n === 'score.weight')).toBe(true);
    expect(info.trainable).toBe(Object.values(await s.trainableState()).reduce((n, t) => n + t.data.length, 0));
    for (let i = 0; i < 3; i++) await s.step([batch(i)], { seeds: [i] });
    const after = await s.state();
    expect(Object.keys(after)).toEqual(Object.keys(before));
    for (const [name, t] of Object.entries(after)) {
      const same = Buffer.from(t.data.buffer).equals(Buffer.from(before[name]!.data.buffer));
      if (trainable.includes(name)) expect(same, `${name} trains`).toBe(false);
      else expect(same, `${name} is frozen`).toBe(true);
    }
  });

  it('head: only score and the last unfrozen blocks train; unfreezeLast beyond the layers is refused', async () => {
    const s = await session({ method: 'head', unfreezeLast: 1 });
    const names = Object.keys(await s.trainableState());
    expect(names).toContain('score.weight');
    expect(names.some((n) => n.startsWith('transformer.h.2.'))).toBe(true);
    expect(names.some((n) => n.startsWith('transformer.h.1.') || n.startsWith('transformer.wte'))).toBe(false);
    const g = await s.gradients(batch(1));
    expect(Object.keys(g.gradients).sort()).toEqual([...names].sort());
    expect(() => new addon.Session({ model: gpt2, method: 'head', unfreezeLast: 4 })).toThrow(/--unfreeze-last.*\[0, 3\]/);
  });

  it('bf16 base: the frozen weights are held in half the bytes, and the trainable ones are fp32', async () => {
    const full = await (await session({})).parameterInfo();
    const lora = await (await session({ method: 'lora', loraR: 4 })).parameterInfo();
    const qlora = await (await session({ method: 'qlora', loraR: 4 })).parameterInfo();
    expect(full.trainable).toBe(full.total);
    expect(lora.trainable).toBeLessThan(full.total / 4);
    expect(lora.trainableBytes).toBe(4 * lora.trainable);
    expect(qlora.trainable).toBe(lora.trainable);
    expect(qlora.total).toBe(lora.total);
    expect(qlora.frozenBytes).toBeLessThan(lora.frozenBytes);
    // block linears and embeddings in bf16; only norms and biases stay fp32
    expect(lora.frozenBytes).toBeLessThan(0.6 * full.trainableBytes);
  });
});

describe('QLoRA', () => {
  it('one step\'s loss is within 2% of the bf16-base LoRA step\'s, not equal to it; the trained state resumes', async () => {
    // The same model and adapters; only the targeted weights differ: NF4's 16 levels per block of 64
    // (a weight's error up to half a level gap, ~3-9% of the block's absmax) against bf16's 8 bits
    // of mantissa. A tiny random model's loss is close to ln(3) either way; 2% bounds what the
    // quantisation error reaches through a 3-block network (it measured below 1% here).
    const lora = await session({ method: 'lora', loraR: 4, baseDtype: 'bf16' });
    const qlora = await session({ method: 'qlora', loraR: 4, baseDtype: 'bf16', nf4DoubleQuant: true });
    const base = await lora.state();
    const adapters = await randomAdapters(lora, 5);
    await lora.loadState(adapters);
    await qlora.loadState(Object.fromEntries(Object.entries(base).filter(([n]) => !n.includes('.lora_'))));
    await qlora.loadState(adapters);
    const a = await lora.step([batch(3)], { seeds: [1] });
    const b = await qlora.step([batch(3)], { seeds: [1] });
    expect(a.loss).not.toBe(b.loss);
    expect(Math.abs(a.loss - b.loss) / a.loss).toBeLessThan(0.02);
    // the NF4 weight reads back dequantised: near the loaded value, not equal
    const w = 'transformer.h.0.attn.c_attn.weight';
    const rel = maxRel((await qlora.state())[w]!.data, base[w]!.data);
    expect(rel).toBeGreaterThan(0);
    expect(rel).toBeLessThan(0.2);
  });
});

describe('gradient checkpointing', () => {
  // Training mode, dropout on (GPT-2's and LoRA's), generators seeded: the recomputed blocks draw
  // the masks forward drew. Tolerance 1e-6 of each tensor's scale: the arithmetic is the same op
  // for op, but a parameter's gradient may be summed in another order; measured bitwise here.
  for (const o of [{ method: 'full' }, { method: 'lora', loraDropout: 0.1 }, { method: 'qlora', loraDropout: 0.1 }, { method: 'head', unfreezeLast: 2 }] as TrainOptions[]) {
    it(`${o.method}: every trainable gradient equals the one without`, async () => {
      const plain = await session(o);
      const ckpt = await session({ ...o, gradientCheckpointing: true });
      const a = await plain.gradients(batch(4), { training: true, seed: 9 });
      const b = await ckpt.gradients(batch(4), { training: true, seed: 9 });
      const eval_ = await plain.gradients(batch(4));
      expect(a.loss).toBe(b.loss);
      expect(a.loss).not.toBe(eval_.loss); // dropout was on
      expect(Object.keys(b.gradients)).toEqual(Object.keys(a.gradients));
      let nonzero = 0;
      for (const [name, g] of Object.entries(a.gradients)) {
        expect(maxRel(b.gradients[name]!.data, g.data), name).toBeLessThanOrEqual(1e-6);
        if (g.data.some((x) => x !== 0)) nonzero++;
      }
      expect(nonzero).toBeGreaterThan(0);
    });
  }

  it('the decoder too (qwen3: tied embeddings, q/k norms), causal-lm, lora', async () => {
    const ck = tinyDecoderCheckpoint(tempDir('ftplan-peft-'), { family: 'qwen3', task: 'causal-lm', seed: 3 });
    const loaded = loadDecoderCheckpoint(ck.dir, { task: 'causal-lm', numLabels: 3 });
    const cfg = { ...loaded.config.config, attentionDropout: 0.1 };
    const rows = randomRows(2, 4, 8, cfg.vocabSize - 1, 2);
    const b: NativeBatch = {
      ...makeBatch(rows, 8, cfg.padTokenId),
      lmLabels: Int32Array.from(rows.flatMap((r) => [...r, ...Array<number>(8 - r.length).fill(-100)])),
    };
    const grads = [];
    for (const gradientCheckpointing of [false, true]) {
      const s = await session({ method: 'lora', loraDropout: 0.2, gradientCheckpointing }, cfg);
      await s.loadState(loaded.state);
      grads.push(await s.gradients(b, { training: true, seed: 4 }));
    }
    expect(grads[1]!.loss).toBe(grads[0]!.loss);
    for (const [name, g] of Object.entries(grads[0]!.gradients)) expect(maxRel(grads[1]!.gradients[name]!.data, g.data), name).toBeLessThanOrEqual(1e-6);
  });

  it('the decoder classifier too (its last layer pruned to the last token), head with the last layer unfrozen', async () => {
    const ck = tinyDecoderCheckpoint(tempDir('ftplan-peft-'), { family: 'llama', task: 'classification', seed: 4 });
    const loaded = loadDecoderCheckpoint(ck.dir, { task: 'classification', numLabels: 3 });
    const cfg = { ...loaded.config.config, attentionDropout: 0.1 };
    const b = makeBatch(randomRows(3, 3, 9, cfg.vocabSize - 1, 8), 9, cfg.padTokenId, [2, 0, 1]);
    for (const o of [{ method: 'head', unfreezeLast: 1 }, { method: 'qlora', loraDropout: 0.1 }] as TrainOptions[]) {
      const grads = [];
      for (const gradientCheckpointing of [false, true]) {
        const s = await session({ ...o, gradientCheckpointing }, cfg);
        await s.loadState(loaded.state);
        grads.push(await s.gradients(b, { training: true, seed: 2 }));
      }
      const names = Object.keys(grads[0]!.gradients);
      if (o.method === 'head') expect(names.every((n) => n === 'score.weight' || n.startsWith('model.layers.1.'))).toBe(true);
      expect(grads[1]!.loss).toBe(grads[0]!.loss);
      for (const [name, g] of Object.entries(grads[0]!.gradients)) expect(maxRel(grads[1]!.gradients[name]!.data, g.data), name).toBeLessThanOrEqual(1e-6);
    }
  });

  it('keeps less memory per row: the probe\'s per-layer activations shrink', async () => {
    const big = tinyModel({ nEmbd: 64, nHead: 4, nLayer: 2, vocabSize: 128, padTokenId: 127, nPositions: 128 });
    const plain = await addon.probeActivations({ model: big, seqLen: 128, threads: 1, method: 'lora' });
    const ckpt = await addon.probeActivations({ model: big, seqLen: 128, threads: 1, method: 'lora', gradientCheckpointing: true });
    expect(plain.perSamplePerLayer).toBeGreaterThan(0);
    expect(ckpt.perSamplePerLayer).toBeLessThan(plain.perSamplePerLayer / 2);
  });
});

describe('the activation probe honours the method', () => {
  // The planner's extrapolation: B · (L · perSamplePerLayer + perSampleBase) from 2- and 3-block
  // twins, against the benchmark's activations (peak minus weights and trainable state) of the
  // 6-layer model. Measured within 2% on a causal-lm decoder; 10% is the bound the full-model
  // memory tests use.
  const dec = { ...decoderPresetConfig('tiny-qwen2', 'causal-lm'), numHiddenLayers: 6 };
  for (const o of [{ method: 'lora' }, { method: 'qlora', gradientCheckpointing: true }] as TrainOptions[])
    it(`${o.method}${o.gradientCheckpointing ? ' with checkpointing' : ''}: the predicted activations are within 10% of a step's`, async () => {
      const p = await addon.probeActivations({ model: dec, seqLen: 128, threads: 1, ...o });
      const r = await addon.benchmark({ model: dec, batchSize: 8, seqLen: 128, steps: 1, warmupSteps: 1, threads: 1, ...o });
      const predicted = 8 * (6 * p.perSamplePerLayer + p.perSampleBase);
      expect(Math.abs(predicted / r.activationBytes - 1)).toBeLessThan(0.1);
    });
});

describe('merged state', () => {
  it('a full session loaded with mergedState() computes the LoRA session\'s logits', async () => {
    const ck = tinyDecoderCheckpoint(tempDir('ftplan-peft-'), { family: 'llama', task: 'classification', seed: 8 });
    const loaded = loadDecoderCheckpoint(ck.dir, { task: 'classification', numLabels: 3 });
    const cfg = loaded.config.config;
    const lora = await session({ method: 'lora', loraR: 4, loraAlpha: 16 }, cfg);
    await lora.loadState(loaded.state);
    await lora.loadState(await randomAdapters(lora, 2));
    const merged = await lora.mergedState();
    expect(Object.keys(merged).some((n) => n.includes('lora_'))).toBe(false);
    const full = await session({}, cfg);
    const report = await full.loadState(merged);
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    const b = makeBatch(randomRows(3, 3, 9, cfg.vocabSize - 1, 6), 9, cfg.padTokenId);
    const want = await lora.logits(b);
    const base = await session({}, cfg);
    await base.loadState(loaded.state);
    expect(maxRel(await base.logits(b), want)).toBeGreaterThan(1e-3); // the adapters matter
    expect(maxRel(await full.logits(b), want)).toBeLessThan(1e-5);
  });
});

describe('optimizer state', () => {
  it('covers the trainable parameters only, and a LoRA run resumes exactly', async () => {
    const dir = tempDir('ftplan-peft-');
    const o: TrainOptions = { method: 'lora', loraR: 2, loraDropout: 0.1, lr: 1e-2 };
    const a = await session(o);
    for (let i = 0; i < 2; i++) await a.step([batch(i)], { seeds: [i] });
    const info = await a.parameterInfo();
    await a.saveTrainingState(join(dir, 'lora.pt'));
    const full = await session({});
    await full.step([batch(0)]);
    await full.saveTrainingState(join(dir, 'full.pt'));
    const fullTotal = (await full.parameterInfo()).total;
    // AdamW's two fp32 moments per trainable parameter, plus the archive's framing and RNG state
    const size = statSync(join(dir, 'lora.pt')).size;
    expect(size).toBeGreaterThan(8 * info.trainable);
    expect(size).toBeLessThan(8 * info.trainable + 64 * 1024);
    expect(statSync(join(dir, 'full.pt')).size).toBeGreaterThan(8 * fullTotal);

    const b = await session(o);
    await b.loadState(await a.state());
    await b.loadTrainingState(join(dir, 'lora.pt'));
    // seeded: other sessions in this process have moved the shared generator since
    await a.step([batch(5)], { seeds: [5] });
    await b.step([batch(5)], { seeds: [5] });
    const [sa, sb] = [await a.trainableState(), await b.trainableState()];
    for (const [name, t] of Object.entries(sa)) expect(Buffer.from(sb[name]!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
  });
});

describe('benchmark', () => {
  it('reports the method, trainable parameters and the peak split in three', async () => {
    const r = await addon.benchmark({ model: gpt2, batchSize: 2, seqLen: 12, steps: 1, warmupSteps: 1, threads: 1, method: 'qlora', loraR: 4, gradientCheckpointing: true });
    const info = await (await session({ method: 'qlora', loraR: 4 })).parameterInfo();
    expect(r.method).toBe('qlora');
    expect(r.gradientCheckpointing).toBe(true);
    expect(r.trainableParameters).toBe(info.trainable);
    expect(r.weightBytes).toBe(info.frozenBytes + info.trainableBytes);
    expect(r.trainableStateBytes).toBe(3 * 4 * info.trainable); // grads + two moments, fp32
    expect(r.activationBytes).toBeGreaterThan(0);
    expect(r.activationBytes).toBe(r.peakMemoryBytes - r.weightBytes - r.trainableStateBytes);
    const plain = await addon.benchmark({ model: gpt2, batchSize: 2, seqLen: 12, steps: 1, warmupSteps: 1, threads: 1 });
    expect(plain.method).toBe('full');
    expect(plain.trainableParameters).toBe(plain.parameters);
  });
});

describe('bad options', () => {
  const cases: [TrainOptions, RegExp][] = [
    [{ method: 'lora', loraTargets: ['q_proj'] }, /--lora-target.*'q_proj'.*c_attn, c_proj, c_fc/],
    [{ method: 'lora', loraR: 0 }, /--lora-r/],
    [{ method: 'lora', loraAlpha: 0 }, /--lora-alpha/],
    [{ method: 'lora', loraDropout: 1 }, /--lora-dropout.*\[0, 1\)/],
    [{ method: 'bogus' as 'lora' }, /--method/],
  ];
  for (const [o, msg] of cases)
    it(`${JSON.stringify(o)} is refused, naming the flag`, () => {
      expect(() => new addon.Session({ model: gpt2, ...o })).toThrow(msg);
    });

  it('the native side holds the same bounds (the raw addon, without the TS checks)', async () => {
    const { loadRawNative } = await import('../../src/native.js');
    const raw = loadRawNative();
    expect(() => new raw.Session({ model: gpt2, method: 'lora', loraR: 0 })).toThrow(/--lora-r/);
    expect(() => new raw.Session({ model: gpt2, method: 'nope' as 'lora' })).toThrow(/full, lora, qlora or head/);
    const s = new raw.Session({ model: gpt2, method: 'lora', loraTargets: ['gate_proj'] });
    await expect(s.init()).rejects.toThrow(/lora target 'gate_proj'.*its linear modules: c_attn, c_fc, c_proj/);
    const tied = tinyDecoderCheckpoint(tempDir('ftplan-peft-'), { family: 'qwen3', task: 'causal-lm' });
    const cfg = loadDecoderCheckpoint(tied.dir, { task: 'causal-lm', numLabels: 3 }).config.config;
    await expect(new raw.Session({ model: cfg, method: 'head' }).init()).rejects.toThrow(/tied/);
    expect(() => new addon.Session({ model: cfg, method: 'head' })).toThrow(/tied/);
  });
});
