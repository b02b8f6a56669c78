// Hugging Face GPT-2 checkpoints in and out, without the native core: a random checkpoint written by
// ftplan's saveCheckpoint loads back bit for bit in the native layout, the layouts transformers
// writes (GPT2Model keys, a tied lm_head, attention-mask buffers) load the same weights, and a broken
// file or config is an error naming it. The forward pass against the python reference is in
// test/native/, the real tiny-gpt2 in the data suite.
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectedShapes, loadCheckpoint, resolveModel, saveCheckpoint, transpose2d } from '../../src/model/hf.js';
import { modelConfig } from '../../src/model/presets.js';
import { encodeSafetensors, readSafetensors } from '../../src/model/safetensors.js';
import { tinyHfCheckpoint } from '../fixtures.js';
import { tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-hf-');
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('loading a GPT-2 checkpoint (tiny-gpt2\'s shape, no classification head)', () => {
  const ck = tinyHfCheckpoint(tmp(), { seed: 4 });

  it('maps every tensor, transposes Conv1D back, and reports the missing score head', () => {
    const loaded = loadCheckpoint(ck.dir, { numLabels: 3 });
    expect(loaded.config.model).toMatchObject({ nLayer: 2, nHead: 2, nEmbd: 2, vocabSize: 50257, nPositions: 1024, numLabels: 3, padTokenId: 50256 });
    expect(Object.keys(loaded.state)).toHaveLength(28);
    expect(loaded.missing).toEqual(['score.weight']);
    expect(loaded.ignored).toEqual([]);
    expect(loaded.fileDtypes).toEqual(['F32']);
    for (const [name, t] of Object.entries(ck.state)) {
      expect(loaded.state[name]?.shape, name).toEqual(t.shape);
      expect(sameBits(loaded.state[name]!.data, t.data), name).toBe(true);
    }
    // in the file, Conv1D weights are [in, out]: the transpose of the native [out, in]
    const file = readSafetensors(join(ck.dir, 'model.safetensors'));
    const fileQkv = file.tensors.get('transformer.h.0.attn.c_attn.weight')!;
    expect(fileQkv.shape).toEqual([2, 6]);
    expect(Array.from(transpose2d({ shape: fileQkv.shape, data: fileQkv.data }).data)).toEqual(Array.from(ck.state['transformer.h.0.attn.c_attn.weight']!.data));
    expect(file.tensors.has('score.weight')).toBe(false);
  });

  it('GPT2Model key names (no "transformer." prefix), a tied lm_head and attention-mask buffers load the same weights', () => {
    const ref = loadCheckpoint(ck.dir, { numLabels: 3 });
    const dir = tmp();
    cpSync(join(ck.dir, 'config.json'), join(dir, 'config.json'));
    const st = readSafetensors(join(ck.dir, 'model.safetensors'));
    const renamed = new Map([...st.tensors].map(([k, t]) => [k.replace(/^transformer\./, ''), t]));
    renamed.set('lm_head.weight', st.tensors.get('transformer.wte.weight')!);
    renamed.set('h.0.attn.bias', { shape: [1, 1, 2, 2], data: new Float32Array([1, 0, 1, 1]), dtype: 'F32' });
    renamed.set('h.1.attn.masked_bias', { shape: [1], data: new Float32Array([-1e4]), dtype: 'F32' });
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(renamed));
    const loaded = loadCheckpoint(dir, { numLabels: 3 });
    expect(loaded.ignored.sort()).toEqual(['h.0.attn.bias', 'h.1.attn.masked_bias', 'lm_head.weight']);
    expect(Object.keys(loaded.state).sort()).toEqual(Object.keys(ref.state).sort());
    for (const [k, t] of Object.entries(ref.state)) expect(sameBits(loaded.state[k]!.data, t.data), k).toBe(true);
  });

  it('a checkpoint with a head for other classes: an error; without numLabels its own head and label names', () => {
    const dir = tmp();
    const withHead = tinyHfCheckpoint(dir, { seed: 5, head: true, labels: ['no', 'yes'] });
    const own = loadCheckpoint(dir);
    expect(own.missing).toEqual([]);
    expect(own.config.labels).toEqual(['no', 'yes']);
    expect(sameBits(own.state['score.weight']!.data, withHead.state['score.weight']!.data)).toBe(true);
    expect(() => loadCheckpoint(dir, { numLabels: 3 })).toThrow(/score.weight has 2 classes, the data set has 3/);
  });
});

describe('saving', () => {
  it('round-trips bit-exactly: save -> load -> save gives the same bytes', () => {
    const ck = tinyHfCheckpoint(tmp(), { seed: 6, head: true, config: { nEmbd: 8, nHead: 4, nLayer: 3, vocabSize: 300, padTokenId: 299, nPositions: 40 } });
    const back = loadCheckpoint(ck.dir, { numLabels: 3 });
    expect(back.missing).toEqual([]);
    expect(Object.keys(back.state).sort()).toEqual(Object.keys(ck.state).sort());
    for (const [name, t] of Object.entries(ck.state)) {
      expect(back.state[name]?.shape, name).toEqual(t.shape);
      expect(sameBits(back.state[name]!.data, t.data), name).toBe(true);
    }
    const again = tmp();
    saveCheckpoint(again, back.config.model, back.state, { labels: ['negative', 'neutral', 'positive'], tokenizerFrom: ck.dir });
    expect(readFileSync(join(again, 'model.safetensors')).equals(readFileSync(join(ck.dir, 'model.safetensors')))).toBe(true);
    expect(readFileSync(join(again, 'config.json'), 'utf8')).toBe(readFileSync(join(ck.dir, 'config.json'), 'utf8'));
  });

  it('writes the keys, shapes and config.json that transformers expects for GPT2ForSequenceClassification', () => {
    const cfg = modelConfig('tiny', { numLabels: 3 });
    const state = Object.fromEntries([...expectedShapes(cfg)].map(([k, s]) => [k, { shape: s, data: new Float32Array(s.reduce((a, b) => a * b, 1)).fill(0.5) }]));
    const dir = tmp();
    const written = saveCheckpoint(dir, cfg, state, { labels: ['neg', 'neu', 'pos'] });
    expect(written).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json']));
    const st = readSafetensors(join(dir, 'model.safetensors'));
    expect(st.metadata).toEqual({ format: 'pt' });
    const C = cfg.nEmbd;
    const keys = [...st.tensors.keys()];
    expect(keys).toHaveLength(2 + cfg.nLayer * 12 + 2 + 1);
    expect(keys.every((k) => k.startsWith('transformer.') || k === 'score.weight')).toBe(true);
    expect(st.tensors.get('transformer.h.0.attn.c_attn.weight')?.shape).toEqual([C, 3 * C]); // Conv1D [in, out]
    expect(st.tensors.get('transformer.h.1.mlp.c_proj.weight')?.shape).toEqual([4 * C, C]);
    expect(st.tensors.get('score.weight')?.shape).toEqual([3, C]);
    expect([...st.tensors.values()].every((t) => t.dtype === 'F32')).toBe(true);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      architectures: ['GPT2ForSequenceClassification'],
      model_type: 'gpt2',
      n_layer: 2,
      n_embd: 64,
      num_labels: 3,
      id2label: { 0: 'neg', 1: 'neu', 2: 'pos' },
      label2id: { neg: 0, neu: 1, pos: 2 },
      pad_token_id: 50256,
    });
    expect(() => saveCheckpoint(tmp(), cfg, state, { labels: ['a', 'b'] })).toThrow(/2 labels for a 3-class head/);
  });
});

describe('finding models', () => {
  it('a hub id resolves in the local hub cache (refs/main -> snapshot)', () => {
    const hub = tmp();
    const snap = join(hub, 'models--acme--tiny-gpt2', 'snapshots', '5f91d94bd9cd7190a9f3216ff93cd1dd95f2c7be');
    mkdirSync(snap, { recursive: true });
    tinyHfCheckpoint(snap);
    mkdirSync(join(hub, 'models--acme--tiny-gpt2', 'refs'));
    writeFileSync(join(hub, 'models--acme--tiny-gpt2', 'refs', 'main'), '5f91d94bd9cd7190a9f3216ff93cd1dd95f2c7be\n');
    expect(resolveModel('acme/tiny-gpt2', { HF_HUB_CACHE: hub })).toEqual({ kind: 'folder', dir: snap, name: 'acme/tiny-gpt2' });
    expect(resolveModel('gpt2')).toEqual({ kind: 'preset', name: 'gpt2' });
    let err: { message: string; fix?: string } | undefined;
    try {
      resolveModel('nobody/nothing', { HF_HUB_CACHE: hub, HOME: hub });
    } catch (e) {
      err = e as { message: string; fix?: string };
    }
    expect(err?.message).toMatch(/not in the local hub cache \(looked in .*models--nobody--nothing/);
    expect(err?.fix).toMatch(/huggingface-cli download nobody\/nothing/);
  });

  it('expected shapes cover the whole GPT-2 parameter set (gpt2: 124,439,808 + head)', () => {
    const n = [...expectedShapes(modelConfig('gpt2')).values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
    expect(n).toBe(124_439_808 + 768 * 3);
  });
});

describe('broken checkpoints: a clear error naming the file and the fix', () => {
  const good = tinyHfCheckpoint(tmp(), { seed: 8 }).dir;
  const broken = (mutate: (dir: string) => void) => {
    const dir = tmp();
    cpSync(good, dir, { recursive: true });
    mutate(dir);
    return dir;
  };
  const st = (dir: string) => join(dir, 'model.safetensors');
  const header = (dir: string) => {
    const buf = readFileSync(st(dir));
    const n = Number(buf.readBigUInt64LE(0));
    return { buf, n, json: JSON.parse(buf.subarray(8, 8 + n).toString()) };
  };
  const rewrite = (dir: string, json: unknown, tail?: Buffer) => {
    const { buf, n } = header(dir);
    const h = Buffer.from(JSON.stringify(json));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    writeFileSync(st(dir), Buffer.concat([len, h, tail ?? buf.subarray(8 + n)]));
  };
  const editConfig = (d: string, edit: (c: Record<string, unknown>) => void) => {
    const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
    edit(c);
    writeFileSync(join(d, 'config.json'), JSON.stringify(c));
  };

  it('the unbroken checkpoint loads (each case below breaks one thing of it)', () => {
    expect(loadCheckpoint(broken(() => {}), { numLabels: 3 }).missing).toEqual(['score.weight']);
  });

  const cases: [string, (dir: string) => void, RegExp][] = [
    ['header length beyond the file', (d) => { const b = readFileSync(st(d)); b.writeBigUInt64LE(BigInt(b.length), 0); writeFileSync(st(d), b); }, /header length \d+ runs past the end of the file/],
    ['header not JSON', (d) => { const b = readFileSync(st(d)); b.write('#', 8); writeFileSync(st(d), b); }, /header is not JSON/],
    ['offsets past the data (truncated file)', (d) => { const b = readFileSync(st(d)); writeFileSync(st(d), b.subarray(0, b.length - 100)); }, /data_offsets \[\d+, \d+\] run past the data/],
    ['overlapping offsets', (d) => { const { json } = header(d); json['transformer.ln_f.bias'].data_offsets = json['transformer.ln_f.weight'].data_offsets; rewrite(d, json); }, /overlap/],
    ['unknown dtype', (d) => { const { json } = header(d); json['transformer.ln_f.bias'].dtype = 'Q7'; rewrite(d, json); }, /unknown dtype "Q7"/],
    ['shape that lies about the bytes', (d) => { const { json } = header(d); json['transformer.ln_f.bias'].shape = [3]; rewrite(d, json); }, /needs 12 bytes, data_offsets give 8/],
    ['config.json that does not match the tensors', (d) => editConfig(d, (c) => { c.n_embd = 4; c.n_head = 2; }), /config.json implies/],
    ['config.json with fewer layers than the file', (d) => editConfig(d, (c) => { c.n_layer = 1; }), /not part of GPT-2 \(n_layer 1/],
    ['missing tensors', (d) => { const { json, buf, n } = header(d); delete json['transformer.h.1.mlp.c_fc.bias']; rewrite(d, json, buf.subarray(8 + n)); }, /missing 1 GPT-2 tensor\(s\): transformer.h.1.mlp.c_fc.bias/],
    ['NaN weights', (d) => { const { buf, n, json } = header(d); const off = 8 + n + json['transformer.ln_f.weight'].data_offsets[0]; buf.writeFloatLE(NaN, off); writeFileSync(st(d), buf); }, /contains NaN or infinite values/],
    ['config.json not JSON', (d) => writeFileSync(join(d, 'config.json'), '{"n_layer": 2,'), /config.json: is not valid JSON/],
    ['a model that is not GPT-2', (d) => editConfig(d, (c) => { c.model_type = 'llama'; }), /model_type is 'llama'/],
    ['n_embd not divisible by n_head', (d) => editConfig(d, (c) => { c.n_head = 3; }), /nEmbd must be divisible by nHead/],
  ];
  for (const [what, mutate, message] of cases) {
    it(what, () => {
      const dir = broken(mutate);
      let err: unknown;
      try {
        loadCheckpoint(dir, { numLabels: 3 });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_INPUT', exitCode: 2 });
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain(dir);
      expect((err as { fix?: string }).fix).toBeTruthy();
    });
  }

  it('no model.safetensors (only pytorch_model.bin)', () => {
    const dir = tmp();
    cpSync(join(good, 'config.json'), join(dir, 'config.json'));
    writeFileSync(join(dir, 'pytorch_model.bin'), '');
    expect(() => loadCheckpoint(dir)).toThrow(/has no model.safetensors \(it has pytorch_model.bin\)/);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
  });
});
