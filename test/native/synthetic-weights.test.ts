// Sessions built for a measurement (syntheticWeights, native/synthetic_init.h): every weight is a
// repeated tile of normally distributed values at the model's initialisation scale, and QLoRA's
// quantisation of such a weight (the tile's codes and scales repeated) is exactly the quantisation
// of the whole weight. Training itself never asks for them.
import { describe, expect, it } from 'vitest';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { loadNative, type TrainOptions } from '../../src/native.js';
import { makeBatch, randomRows } from '../helpers.js';

const addon = loadNative();
const PERIOD = 65536;
// MLP weights of 256 × 640 = 163,840 values: more than two periods, and not a whole number of them
const cfg = { ...decoderPresetConfig('tiny-llama', 'classification'), hiddenSize: 256, intermediateSize: 640, numLabels: 3 };

async function session(o: TrainOptions) {
  const s = new addon.Session({ model: cfg, seed: 5, threads: 1, ...o });
  await s.init();
  return s;
}

describe('synthetic weights', () => {
  it('each weight repeats one tile at the initialisation scale; norms are ones, as in a random model', async () => {
    const s = await session({ syntheticWeights: true });
    const st = await s.state();
    const up = st['model.layers.0.mlp.up_proj.weight']!.data;
    expect(up.length).toBe(256 * 640);
    for (const i of [0, 17, 40_000, PERIOD - 1]) expect(up[i + PERIOD]).toBe(up[i]);
    let sq = 0;
    for (let i = 0; i < PERIOD; i++) sq += up[i]! ** 2;
    // initializer_range 0.02: the tile's standard deviation, within sampling error of 65,536 draws
    expect(Math.sqrt(sq / PERIOD)).toBeGreaterThan(0.02 * 0.98);
    expect(Math.sqrt(sq / PERIOD)).toBeLessThan(0.02 * 1.02);
    expect([...st['model.norm.weight']!.data].every((x) => x === 1)).toBe(true);
    // a step trains: a finite loss, at about ln(3) from a near-zero classification head
    const r = await s.step([makeBatch(randomRows(4, 3, 10, cfg.vocabSize - 1, 2), 10, cfg.padTokenId, [0, 1, 2, 1])]);
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(Math.abs(r.loss - Math.log(3))).toBeLessThan(0.5);
  });

  it('QLoRA on synthetic weights holds exactly the NF4 weights that quantising them whole gives', async () => {
    const plain = await session({ syntheticWeights: true });
    const weights = await plain.state();
    for (const doubleQuant of [false, true]) {
      const synthetic = await session({ syntheticWeights: true, method: 'qlora', loraR: 4, nf4DoubleQuant: doubleQuant });
      const whole = await session({ method: 'qlora', loraR: 4, nf4DoubleQuant: doubleQuant });
      await whole.loadState(Object.fromEntries(Object.entries(weights)));
      const a = await synthetic.mergedState();
      const b = await whole.mergedState();
      for (const name of ['model.layers.0.mlp.up_proj.weight', 'model.layers.1.mlp.down_proj.weight', 'model.layers.0.self_attn.q_proj.weight']) {
        expect(a[name]!.data.length, name).toBe(b[name]!.data.length);
        expect(Buffer.from(a[name]!.data.buffer).equals(Buffer.from(b[name]!.data.buffer)), `${name} (double quantisation ${doubleQuant})`).toBe(true);
      }
    }
  });
});
