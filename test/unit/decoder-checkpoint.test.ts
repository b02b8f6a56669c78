// Llama-family checkpoints on disk, without the addon: the HF layout mapped one to one
// (decoder-layout.ts), what a file may hold beside the parameters, what it must hold, and
// saveDecoderCheckpoint → loadDecoderCheckpoint giving back the same record and the same bytes,
// as one file or as shards with their index.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtplanError } from '../../src/errors.js';
import { loadDecoderCheckpoint, saveDecoderCheckpoint, type DecoderState } from '../../src/model/decoder-checkpoint.js';
import type { Task } from '../../src/model/decoder-config.js';
import { decoderShapes, matchDecoderTensors } from '../../src/model/decoder-layout.js';
import { parseDecoderConfig } from '../../src/model/families.js';
import { encodeSafetensors } from '../../src/model/safetensors.js';
import { DECODER_FAMILIES, decoderTensorShapes, TINY_DECODERS, tinyDecoderCheckpoint, type DecoderFamily } from '../decoder-fixtures.js';
import { tempDir } from '../helpers.js';

// numLabels only for a classification head (a causal-lm config.json has none)
const tiny = (family: DecoderFamily, task: Task) => parseDecoderConfig({ ...TINY_DECODERS[family] }, { task, numLabels: task === 'classification' ? 3 : undefined, file: 'tiny' });
const files = (shapes: Map<string, number[]>, file = 'm.safetensors') => [...shapes].map(([key, shape]) => ({ key, shape, file }));

describe('the layout', () => {
  it('is the one the fixtures (written from each family\'s modeling file) use, for every family and task', () => {
    for (const family of DECODER_FAMILIES)
      for (const task of ['classification', 'causal-lm'] as Task[]) {
        const ours = [...decoderShapes(tiny(family, task))];
        expect(ours, `${family} ${task}`).toEqual(decoderTensorShapes(TINY_DECODERS[family], task, 3));
      }
  });

  it('takes a base-model save (no "model."), ignores rotary buffers and a tied or unused head, initialises a missing score', () => {
    const cfg = tiny('qwen3', 'classification');
    const shapes = decoderShapes(cfg);
    const base = files(shapes).filter((t) => t.key !== 'score.weight').map((t) => ({ ...t, key: t.key.replace(/^model\./, '') }));
    const m = matchDecoderTensors(cfg, [...base, { key: 'layers.0.self_attn.rotary_emb.inv_freq', shape: [8], file: 'm' }, { key: 'lm_head.weight', shape: [96, 32], file: 'm' }], 'm');
    expect(m.missing).toEqual(['score.weight']);
    expect(m.ignored.sort()).toEqual(['layers.0.self_attn.rotary_emb.inv_freq', 'lm_head.weight']);
    expect(m.params.get('model.embed_tokens.weight')).toMatchObject({ key: 'embed_tokens.weight', conv1d: false });
  });

  it('refuses what does not fit, naming the tensor and the file', () => {
    const cfg = tiny('llama', 'causal-lm');
    const all = files(decoderShapes(cfg));
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(FtplanError);
        return (e as Error).message;
      }
      throw new Error('expected an error');
    };
    expect(err(() => matchDecoderTensors(cfg, all.filter((t) => t.key !== 'lm_head.weight'), 'idx'))).toMatch(/idx: has no lm_head\.weight/);
    expect(err(() => matchDecoderTensors(cfg, all.filter((t) => t.key !== 'model.layers.1.mlp.up_proj.weight'), 'idx'))).toMatch(/missing 1 llama tensor\(s\): model\.layers\.1\.mlp\.up_proj\.weight/);
    expect(err(() => matchDecoderTensors(cfg, [...all, { key: 'model.layers.2.mlp.up_proj.weight', shape: [96, 64], file: 'x' }], 'idx'))).toMatch(/x: tensor 'model\.layers\.2\.mlp\.up_proj\.weight' is not part of llama/);
    expect(err(() => matchDecoderTensors(cfg, all.map((t) => (t.key.endsWith('k_proj.weight') ? { ...t, shape: [64, 64] } : t)), 'idx'))).toMatch(/k_proj\.weight' has shape \[64,64\], config\.json implies \[32,64\]/);
    const cls = tiny('llama', 'classification');
    expect(err(() => matchDecoderTensors(cls, files(decoderShapes({ ...cls, numLabels: 5 })), 'idx'))).toMatch(/score\.weight has 5 classes, the data set has 3/);
  });
});

describe('save and load', () => {
  const state = (cfg: ReturnType<typeof tiny>): DecoderState => {
    const out: DecoderState = {};
    let k = 0;
    for (const [name, shape] of decoderShapes(cfg)) out[name] = { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.sin(++k)) };
    return out;
  };

  it('one file or shards: the same record, the same bytes; the other layout\'s files go; a tied head is not written', () => {
    for (const [family, task] of [['qwen3', 'causal-lm'], ['mistral', 'classification']] as [DecoderFamily, Task][]) {
      const cfg = tiny(family, task);
      const st = state(cfg);
      const dir = tempDir('ftplan-decck-');
      const sharded = saveDecoderCheckpoint(dir, cfg, st, { labels: task === 'classification' ? ['neg', 'neu', 'pos'] : undefined, maxShardBytes: 10_000 });
      expect(sharded).toContain('model.safetensors.index.json');
      const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
      expect(Object.keys(index.weight_map).sort()).toEqual(Object.keys(st).sort());
      for (const maxShardBytes of [10_000, undefined]) {
        if (maxShardBytes === undefined) {
          saveDecoderCheckpoint(dir, cfg, st, { labels: task === 'classification' ? ['neg', 'neu', 'pos'] : undefined });
          expect(existsSync(join(dir, 'model.safetensors.index.json'))).toBe(false);
          expect(sharded.filter((f) => f.startsWith('model-')).some((f) => existsSync(join(dir, f)))).toBe(false);
        }
        const back = loadDecoderCheckpoint(dir, { task });
        expect(back.config.config).toEqual(cfg);
        if (task === 'classification') expect(back.config.labels).toEqual(['neg', 'neu', 'pos']);
        expect(back.missing).toEqual([]);
        expect(Object.keys(back.state).sort()).toEqual(Object.keys(st).sort());
        for (const [name, t] of Object.entries(st)) expect(Buffer.from(back.state[name]!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
      }
      if (cfg.tieWordEmbeddings) {
        const withHead = { ...st, 'lm_head.weight': st['model.embed_tokens.weight']! };
        saveDecoderCheckpoint(dir, cfg, withHead, {});
        expect(loadDecoderCheckpoint(dir, { task }).ignored).toEqual([]);
      }
    }
  });

  it('a sharded checkpoint written elsewhere (the fixtures\' own writer) loads; one shard missing, or a NaN, is an FtplanError naming the file', () => {
    const ck = tinyDecoderCheckpoint(tempDir('ftplan-decck-'), { family: 'qwen2', task: 'causal-lm', shards: 3 });
    const back = loadDecoderCheckpoint(ck.dir, { task: 'causal-lm' });
    expect(back.files).toHaveLength(3);
    expect(back.file).toMatch(/model\.safetensors\.index\.json$/);
    rmSync(ck.files[1]!);
    expect(() => loadDecoderCheckpoint(ck.dir, { task: 'causal-lm' })).toThrow(/names 1 of its 3 shards that are not in .*model-00002-of-00003\.safetensors/);
    const one = tinyDecoderCheckpoint(tempDir('ftplan-decck-'), { family: 'llama', task: 'causal-lm' });
    const bad = new Map(one.state);
    const w = bad.get('model.norm.weight')!;
    bad.set('model.norm.weight', { shape: w.shape, data: Float32Array.from(w.data, (x, i) => (i === 3 ? Number.NaN : x)) });
    writeFileSync(one.files[0]!, encodeSafetensors(bad));
    expect(() => loadDecoderCheckpoint(one.dir, { task: 'causal-lm' })).toThrow(/model\.norm\.weight' contains NaN or infinite values \(index 3\)/);
  });
});
