// The Llama-family decoders through the addon as the CLI uses them: parameter counts (arithmetic =
// the built module = the published figures), FLOPs, padding never changing a row's result, the
// chunked causal-LM loss equal to the plain one at a fraction of its peak memory, a training step for
// every family and task, checkpoints saved and loaded back (single file and sharded), and bad
// configs and batches refused with a message, never a crash.
import { describe, expect, it } from 'vitest';
import { loadDecoderCheckpoint, saveDecoderCheckpoint } from '../../src/model/decoder-checkpoint.js';
import type { DecoderConfig, Task } from '../../src/model/decoder-config.js';
import { decoderPresetConfig, decoderPresetNames } from '../../src/model/decoder-presets.js';
import { decoderFlopsPerToken, decoderParameterCount } from '../../src/model/decoder-size.js';
import { parseDecoderConfig } from '../../src/model/families.js';
import { openDecoder } from '../../src/model/open-decoder.js';
import { FtplanError } from '../../src/errors.js';
import { timeRunSteps } from '../../src/measure/steps.js';
import { loadNative, loadRawNative, type NativeBatch } from '../../src/native.js';
import { DECODER_FAMILIES, TINY_DECODERS, tinyDecoderCheckpoint, type DecoderFamily } from '../decoder-fixtures.js';
import { randomRows, tempDir } from '../helpers.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const addon = loadNative();

/** A tiny decoder of the family's test shape (decoder-fixtures.ts), read by families.ts like any config.json. */
function tiny(family: DecoderFamily, task: Task, over: Record<string, unknown> = {}): DecoderConfig {
  return parseDecoderConfig({ ...TINY_DECODERS[family], ...over }, { task, numLabels: task === 'classification' ? 3 : undefined, file: `tiny ${family}` });
}

/** Rows right padded to T with `padWith` (the pad id, or any id: padding must not matter); lm labels mask the first token and the padding. */
function batch(rows: number[][], T: number, padWith: number, task: Task): NativeBatch {
  const inputIds = new Int32Array(rows.length * T).fill(padWith);
  const lmLabels = new Int32Array(rows.length * T).fill(-100);
  rows.forEach((r, i) => {
    inputIds.set(r, i * T);
    lmLabels.set(r.map((t, j) => (j === 0 ? -100 : t)), i * T);
  });
  const lengths = Int32Array.from(rows.map((r) => r.length));
  return task === 'classification' ? { batchSize: rows.length, seqLen: T, inputIds, lengths, labels: Int32Array.from(rows.map((_, i) => i % 3)) } : { batchSize: rows.length, seqLen: T, inputIds, lengths, lmLabels };
}

async function session(cfg: DecoderConfig, seed = 1, extra: Record<string, unknown> = {}) {
  const s = new addon.Session({ model: cfg, seed, threads: 1, ...extra });
  const n = await s.init();
  return { s, n };
}

describe('shapes', () => {
  it('parameter counts: the arithmetic equals the built module for every family and task, and the published figures', async () => {
    for (const family of DECODER_FAMILIES)
      for (const task of ['classification', 'causal-lm'] as Task[]) {
        const cfg = tiny(family, task);
        const counts = await addon.parameterCounts(cfg);
        const { s, n } = await session(cfg);
        expect(counts.total, `${family} ${task}`).toBe(n);
        const state = await s.state();
        expect(Object.values(state).reduce((a, t) => a + t.data.length, 0)).toBe(n);
        expect(counts.head).toBe(task === 'classification' ? 3 * cfg.hiddenSize : cfg.tieWordEmbeddings ? 0 : cfg.vocabSize * cfg.hiddenSize);
        expect(counts.transformer + counts.head).toBe(counts.total);
      }
    // the published counts (the models' cards), from their config.json shapes, without building them
    expect((await addon.parameterCounts(decoderPresetConfig('qwen2.5-0.5b', 'causal-lm'))).total).toBe(494_032_768);
    expect((await addon.parameterCounts(decoderPresetConfig('llama-3.1-8b', 'causal-lm'))).total).toBe(8_030_261_248);
  });

  it('the native counts and FLOPs are the TypeScript ones (decoder-size.ts) for every preset and task', async () => {
    for (const name of decoderPresetNames())
      for (const task of ['classification', 'causal-lm'] as Task[]) {
        const cfg = decoderPresetConfig(name, task, { numLabels: 3 });
        expect((await addon.parameterCounts(cfg)).total, `${name} ${task}`).toBe(decoderParameterCount(cfg));
        const T = Math.min(512, cfg.maxPositionEmbeddings);
        const ts = decoderFlopsPerToken(cfg, T);
        expect(addon.flopsPerToken(cfg, T), `${name} ${task}`).toEqual({ flopsPerToken: ts.flopsPerToken, matmulParameters: ts.matmulParameters });
      }
  });

  it('FLOPs per token: 6N + 12·L·H·D·T, the LM head in N for causal-lm, the window bounding T (hand-computed)', () => {
    const lm = tiny('llama', 'causal-lm'); // C 64, H 4 × D 16, KV 2, F 96, L 2, V 96
    const perLayer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 96;
    const f = addon.flopsPerToken(lm, 32);
    expect(f.matmulParameters).toBe(2 * perLayer + 96 * 64);
    expect(f.flopsPerToken).toBe(6 * (2 * perLayer + 96 * 64) + 12 * 2 * 64 * 32);
    expect(addon.flopsPerToken(tiny('llama', 'classification'), 32).matmulParameters).toBe(2 * perLayer + 3 * 64);
    const mistral = tiny('mistral', 'causal-lm'); // window 4
    expect(addon.flopsPerToken(mistral, 32).flopsPerToken - addon.flopsPerToken(mistral, 4).flopsPerToken).toBe(0);
  });
});

describe('padding never changes a row\'s result', () => {
  for (const family of DECODER_FAMILIES) {
    it(`${family}: logits (classification), per-row loss and argmax hits (causal-lm) and gradients, padded to 12 or 24 with any ids`, async () => {
      const rows = randomRows(3, 3, 11, 90, 17);
      for (const task of ['classification', 'causal-lm'] as Task[]) {
        const cfg = tiny(family, task);
        const { s } = await session(cfg, 4);
        const a = batch(rows, 12, cfg.padTokenId, task);
        const b = batch(rows, 24, 7, task);
        if (task === 'classification') {
          const la = await s.logits(a);
          const lb = await s.logits(b);
          for (let i = 0; i < la.length; i++) expect(lb[i]).toBeCloseTo(la[i]!, 5);
        } else {
          const ea = await s.lmEval(a);
          const eb = await s.lmEval(b);
          expect(eb.targets).toEqual(ea.targets);
          expect(eb.correct).toEqual(ea.correct);
          ea.lossSum.forEach((x, i) => expect(eb.lossSum[i]).toBeCloseTo(x, 4));
        }
        const ga = await s.gradients(a);
        const gb = await s.gradients(b);
        expect(gb.loss).toBeCloseTo(ga.loss, 5);
        for (const [name, g] of Object.entries(ga.gradients)) {
          const h = gb.gradients[name]!.data;
          let m = 0;
          for (let i = 0; i < g.data.length; i++) m = Math.max(m, Math.abs(g.data[i]! - h[i]!));
          expect(m, `${task} ${name}`).toBeLessThan(1e-5);
        }
      }
    });
  }

  it('the last layer run for the head\'s token only gives the logits of the full layer (classification)', async () => {
    const cfg = tiny('mistral', 'classification');
    const { s } = await session(cfg, 5);
    const b = batch(randomRows(4, 2, 9, 90, 3), 10, cfg.padTokenId, 'classification');
    const pruned = await s.logits(b);
    expect(addon.lastBlockPruned(false)).toBe(false);
    try {
      const full = await s.logits(b);
      for (let i = 0; i < full.length; i++) expect(pruned[i]).toBeCloseTo(full[i]!, 5);
    } finally {
      addon.lastBlockPruned(true);
    }
  });
});

describe('the fused RMSNorm (CPU, fp32)', () => {
  it('gives the composed ops\' loss and gradients, and the same bits on every call', async () => {
    const cfg = tiny('qwen3', 'causal-lm'); // input, post-attention, final and q/k norms
    const { s } = await session(cfg, 12);
    const b = batch(randomRows(3, 4, 12, 90, 14), 12, cfg.padTokenId, 'causal-lm');
    expect(addon.fusedRmsNorm()).toBe(true);
    const fused = await s.gradients(b);
    const again = await s.gradients(b);
    for (const [name, g] of Object.entries(fused.gradients)) expect(Buffer.from(again.gradients[name]!.data.buffer).equals(Buffer.from(g.data.buffer)), name).toBe(true);
    expect(addon.fusedRmsNorm(false)).toBe(false);
    let plain;
    try {
      plain = await s.gradients(b);
    } finally {
      addon.fusedRmsNorm(true);
    }
    expect(Math.abs(plain.loss - fused.loss)).toBeLessThan(1e-6);
    for (const [name, g] of Object.entries(fused.gradients)) {
      const h = plain.gradients[name]!.data;
      let m = 0;
      let scale = 0;
      for (let i = 0; i < g.data.length; i++) {
        m = Math.max(m, Math.abs(g.data[i]! - h[i]!));
        scale = Math.max(scale, Math.abs(h[i]!));
      }
      expect(m, name).toBeLessThanOrEqual(1e-5 * Math.max(scale, 1e-3));
    }
  });
});

describe('the causal-LM loss in chunks', () => {
  it('equals the plain loss and gradients (fp32), chunk by chunk, at a fraction of the peak memory', () => {
    const r = addon.lmLossCheck(256, 32, 4000, 16, false);
    expect(r.chunks).toBe(16);
    expect(r.lossError).toBeLessThan(1e-5);
    expect(r.maxHiddenGradError).toBeLessThan(1e-5);
    expect(r.maxWeightGradError).toBeLessThan(1e-5);
    // the plain one holds [256, 4000] fp32 logits (4 MB) and their gradient; the chunked [16, 4000]
    expect(r.plainPeakBytes - r.chunkedPeakBytes).toBeGreaterThan(4 * 256 * 4000);
    const bf16 = addon.lmLossCheck(64, 32, 1000, 10, true);
    expect(bf16.chunks).toBe(7);
    expect(bf16.lossError).toBeLessThan(1e-3);
    expect(bf16.maxHiddenGradError).toBeLessThan(2e-2);
  });

  it('lmEval\'s per-row sums over the targets are the loss gradients() reports', async () => {
    const cfg = tiny('qwen3', 'causal-lm');
    const { s } = await session(cfg, 6);
    const b = batch(randomRows(3, 4, 10, 90, 8), 10, cfg.padTokenId, 'causal-lm');
    const e = await s.lmEval(b);
    expect(e.targets).toEqual(Array.from(b.lengths).map((n) => n - 1));
    const g = await s.gradients(b);
    expect(e.lossSum.reduce((a, x) => a + x, 0) / e.targets.reduce((a, x) => a + x, 0)).toBeCloseTo(g.loss, 5);
  });
});

describe('training', () => {
  for (const family of DECODER_FAMILIES)
    for (const task of ['classification', 'causal-lm'] as Task[]) {
      it(`${family} ${task}: steps on one batch lower its loss; the step counts its targets`, async () => {
        const cfg = tiny(family, task);
        const { s } = await session(cfg, 2, { lr: 3e-3 });
        const b = batch(randomRows(4, 3, 12, 90, 21), 12, cfg.padTokenId, task);
        const first = await s.step([b, b]);
        expect(first.targets).toBe(task === 'classification' ? 8 : 2 * Array.from(b.lengths).reduce((a, n) => a + n - 1, 0));
        let last = first.loss;
        for (let i = 0; i < 8; i++) last = (await s.step([b])).loss;
        expect(Number.isFinite(first.loss)).toBe(true);
        expect(last).toBeLessThan(first.loss * 0.9);
      });
    }

  it('bf16 autocast: a causal-lm step and its loss near fp32\'s', async () => {
    const cfg = tiny('llama', 'causal-lm');
    const b = batch(randomRows(2, 4, 12, 90, 5), 12, cfg.padTokenId, 'causal-lm');
    const fp32 = await (await session(cfg, 3)).s.step([b]);
    const bf16 = await (await session(cfg, 3, { dtype: 'bf16' })).s.step([b]);
    expect(Math.abs(bf16.loss - fp32.loss)).toBeLessThan(0.05 * fp32.loss);
  });

  it('benchmark and activation probe run both tasks', async () => {
    for (const task of ['classification', 'causal-lm'] as Task[]) {
      const cfg = tiny('qwen2', task);
      const r = await addon.benchmark({ model: cfg, batchSize: 2, seqLen: 16, steps: 1, warmupSteps: 1, evalBatchSize: 2, evalSteps: 1, probeBatchSizes: [2], threads: 1 });
      expect(r.parameters).toBe((await addon.parameterCounts(cfg)).total);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      expect(r.probe[0]!.peakBytes).toBeGreaterThan(0);
      const p = await addon.probeActivations({ model: cfg, seqLen: 16, threads: 1 });
      expect(p.perSamplePerLayer).toBeGreaterThan(0);
      // the run's own path (estimate times it): synthetic batches with the task's targets
      const t = await timeRunSteps(addon, { model: cfg, batchSize: 2, gradAccum: 2, dtype: 'fp32', device: 'cpu', threads: 1, seed: 1, warmupSteps: 1, steps: 2, minMs: 0, lens: [8, 16] });
      expect(t.stepSeqLens).toEqual([8, 16]);
      expect(t.losses.every(Number.isFinite)).toBe(true);
    }
  });
});

describe('checkpoints', () => {
  it('saved in HF layout and loaded back: identical logits, single file and sharded; a missing shard is an FtplanError', async () => {
    for (const [family, task] of [['qwen3', 'causal-lm'], ['llama', 'causal-lm'], ['mistral', 'classification']] as [DecoderFamily, Task][]) {
      const cfg = tiny(family, task);
      const { s } = await session(cfg, 8);
      const b = batch(randomRows(2, 3, 8, 90, 2), 8, cfg.padTokenId, task);
      await s.step([b]); // weights away from the initialisation
      const state = await s.state();
      const before = await s.logits(b);
      for (const maxShardBytes of [undefined, 20_000]) {
        const dir = tempDir('ftplan-decsave-');
        const files = saveDecoderCheckpoint(dir, cfg, state, { labels: task === 'classification' ? ['a', 'b', 'c'] : undefined, maxShardBytes });
        expect(files.includes('model.safetensors.index.json')).toBe(maxShardBytes !== undefined);
        if (cfg.tieWordEmbeddings) expect(Object.keys(state)).not.toContain('lm_head.weight');
        const back = loadDecoderCheckpoint(dir, { task });
        expect(back.config.config).toEqual(cfg);
        expect(back.missing).toEqual([]);
        const again = (await session(back.config.config, 99)).s;
        await again.loadState(back.state);
        expect(Array.from(await again.logits(b))).toEqual(Array.from(before));
        if (maxShardBytes) {
          rmSync(join(dir, files.find((f) => f.startsWith('model-00002'))!));
          expect(() => loadDecoderCheckpoint(dir, { task })).toThrow(FtplanError);
          expect(() => loadDecoderCheckpoint(dir, { task })).toThrow(/model-00002-of-\d+\.safetensors/);
        }
      }
    }
  });
});

describe('opening a folder', () => {
  it('a causal-LM checkpoint fine-tuned for classification: the trunk loaded, the LM head ignored, score initialised and reported', async () => {
    const ck = tinyDecoderCheckpoint(tempDir('ftplan-decopen-'), { family: 'llama', task: 'causal-lm', seed: 4 });
    const opened = await openDecoder({ kind: 'folder', dir: ck.dir }, { task: 'classification', numLabels: 3, seed: 1, threads: 1 });
    expect(opened.config.task).toBe('classification');
    expect(opened.report).toMatchObject({ init: 'pretrained', initialised: ['score.weight'], ignored: ['lm_head.weight'], loaded: ck.state.size - 1 });
    const state = await opened.session.state();
    const w = ck.state.get('model.layers.1.mlp.down_proj.weight')!;
    expect(Buffer.from(state['model.layers.1.mlp.down_proj.weight']!.data.buffer).equals(Buffer.from(w.data.buffer))).toBe(true);
    // and the other way: a classification checkpoint has no lm_head to fine-tune a language model from
    const cls = tinyDecoderCheckpoint(tempDir('ftplan-decopen-'), { family: 'llama', task: 'classification', seed: 4 });
    await expect(openDecoder({ kind: 'folder', dir: cls.dir }, { task: 'causal-lm', threads: 1 })).rejects.toThrow(/has no lm_head\.weight/);
  });
});

describe('bad configs and batches: errors with a message, never a crash', () => {
  const raw = loadRawNative();
  it('kv heads not dividing heads, an odd head_dim, an unknown family: refused by TS and by the C++ side', async () => {
    const good = tiny('llama', 'classification');
    for (const [bad, msg] of [
      [{ numKeyValueHeads: 3 }, /numKeyValueHeads|num_key_value_heads/],
      [{ headDim: 15 }, /head_dim|headDim/],
      [{ modelType: 'falcon' }, /modelType|model_type/],
    ] as const) {
      const model = { ...good, ...bad } as DecoderConfig;
      let err: unknown;
      try {
        new addon.Session({ model });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(msg) });
      err = undefined;
      try {
        const s = new raw.Session({ model, threads: 1 });
        await s.init();
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(msg) });
    }
  });

  it('causal-lm batches: no lmLabels, a target in the padding, nothing counted', async () => {
    const cfg = tiny('qwen2', 'causal-lm');
    const { s } = await session(cfg);
    const raws = new raw.Session({ model: cfg, threads: 1 });
    await raws.init();
    const good = batch([[5, 6, 7], [8, 9]], 4, cfg.padTokenId, 'causal-lm');
    const cases: [NativeBatch, RegExp][] = [
      [{ ...good, lmLabels: undefined }, /lmLabels/],
      [{ ...good, lmLabels: Int32Array.from([-100, 6, 7, -100, -100, 9, 3, -100]) }, /padding/],
      [{ ...good, lmLabels: Int32Array.from([5, -100, -100, -100, 8, -100, -100, -100]) }, /counted target/],
    ];
    // the TS checks throw at the call, the C++ side rejects the promise: both are awaited here
    for (const [b, msg] of cases) {
      await expect((async () => s.step([b]))()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(msg) });
      await expect(raws.step([b])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(msg) });
    }
    await expect((async () => s.lmEval(batch([[1, 2]], 2, 0, 'classification')))()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect((await s.step([good])).targets).toBe(3);
  });
});
