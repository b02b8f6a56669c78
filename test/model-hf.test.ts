// Hugging Face GPT-2 checkpoints: the real tiny-gpt2 written by transformers 4.52 loads, its forward
// pass matches an independent reference, and what ftplan saves is what transformers reads.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectedShapes, loadCheckpoint, resolveModel, saveCheckpoint } from '../src/model/hf.js';
import { openModel } from '../src/model/open.js';
import { modelConfig } from '../src/model/presets.js';
import { encodeSafetensors, readSafetensors } from '../src/model/safetensors.js';
import { DATA, REFERENCE_PYTHON } from './data.js';
import { makeBatch, randomRows, tempDir } from './helpers.js';

const TINY = join(DATA, 'tiny-gpt2');
const tmp = () => tempDir('ftplan-hf-');

function reference(dir: string, rows: number[][], seqLen: number, pad: number): number[][] {
  const input_ids = rows.map((r) => [...r, ...Array(seqLen - r.length).fill(pad)]);
  const out = execFileSync(REFERENCE_PYTHON, ['test/reference/gpt2_seqcls_reference.py', dir], {
    input: JSON.stringify({ input_ids, lengths: rows.map((r) => r.length) }),
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

describe('loading tiny-gpt2 (transformers 4.52, GPT2LMHeadModel)', () => {
  it('maps every tensor, transposes Conv1D, and initialises the missing score head (reported)', async () => {
    const ck = loadCheckpoint(TINY, { numLabels: 3 });
    expect(ck.config.model).toMatchObject({ nLayer: 2, nHead: 2, nEmbd: 2, vocabSize: 50257, nPositions: 1024, numLabels: 3, padTokenId: 50256 });
    expect(Object.keys(ck.state)).toHaveLength(28);
    expect(ck.state['transformer.h.0.attn.c_attn.weight']?.shape).toEqual([6, 2]); // file: [2, 6]
    expect(ck.missing).toEqual(['score.weight']);
    const m = await openModel(TINY, { numLabels: 3, seed: 1, threads: 1 });
    expect(m.report).toMatchObject({ init: 'pretrained', loaded: 28, initialised: ['score.weight'] });
  });

  it('GPT2Model key names (no "transformer." prefix) and a tied lm_head load the same weights', async () => {
    const ref = loadCheckpoint(TINY, { numLabels: 3 });
    const dir = tmp();
    cpSync(join(TINY, 'config.json'), join(dir, 'config.json'));
    const st = readSafetensors(join(TINY, 'model.safetensors'));
    const renamed = new Map([...st.tensors].map(([k, t]) => [k.replace(/^transformer\./, ''), t]));
    renamed.set('lm_head.weight', st.tensors.get('transformer.wte.weight')!);
    renamed.set('h.0.attn.bias', { shape: [1, 1, 2, 2], data: new Float32Array([1, 0, 1, 1]), dtype: 'F32' });
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(renamed));
    const ck = loadCheckpoint(dir, { numLabels: 3 });
    expect(ck.ignored.sort()).toEqual(['h.0.attn.bias', 'lm_head.weight']);
    expect(Object.keys(ck.state).sort()).toEqual(Object.keys(ref.state).sort());
    for (const [k, t] of Object.entries(ref.state)) expect(Array.from(ck.state[k]!.data)).toEqual(Array.from(t.data));
  });

  for (const [what, make] of [
    ['tiny-gpt2 (real weights)', async () => openModel(TINY, { numLabels: 3, seed: 7, threads: 1 })],
    ['a random 4-layer, 128-channel model', async () => openModel('mini', { numLabels: 3, seed: 7, threads: 1 })],
  ] as const) {
    it(`${what}: logits match an independent float64 implementation of HF's formulas to 1e-5`, async () => {
      const m = await make();
      const dir = tmp();
      saveCheckpoint(dir, m.config, await m.session.state(), { labels: ['negative', 'neutral', 'positive'] });
      const rows = randomRows(4, 3, 20, 50_000, 5);
      rows.push([50256, 50256]); // '<|endoftext|>' inside a text is a real token
      const ours = await m.session.logits(makeBatch(rows, 24, m.config.padTokenId));
      const ref = reference(dir, rows, 24, m.config.padTokenId);
      let maxDiff = 0;
      ref.flat().forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - (ours[i] as number)))));
      expect(ref.flat()).toHaveLength(ours.length);
      expect(maxDiff).toBeLessThan(1e-5);
      expect(Math.max(...ref.flat().map(Math.abs))).toBeGreaterThan(1e-4); // not trivially zero
    }, 120_000);
  }
});

describe('saving', () => {
  it('round-trips bit-exactly: save -> load gives the same bits for every tensor', async () => {
    const m = await openModel(TINY, { numLabels: 3, seed: 3, threads: 1 });
    const before = await m.session.state();
    const dir = tmp();
    saveCheckpoint(dir, m.config, before, { labels: ['negative', 'neutral', 'positive'], tokenizerFrom: TINY });
    const back = loadCheckpoint(dir, { numLabels: 3 });
    expect(back.missing).toEqual([]);
    expect(Object.keys(back.state).sort()).toEqual(Object.keys(before).sort());
    for (const [name, t] of Object.entries(before)) {
      const u = back.state[name];
      expect(u?.shape).toEqual(t.shape);
      expect(Buffer.from(u!.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
    }
    // and a session loaded from it computes the same logits
    const again = await openModel(dir, { numLabels: 3, seed: 99, threads: 1 });
    const batch = makeBatch(randomRows(3, 2, 9, 50_000, 8), 10, 50256);
    expect(Array.from(await again.session.logits(batch))).toEqual(Array.from(await m.session.logits(batch)));
  });

  it('writes the keys, shapes and config.json that transformers expects for GPT2ForSequenceClassification', async () => {
    const cfg = modelConfig('tiny', { vocabSize: 100, padTokenId: 99, nPositions: 32 });
    const m = await openModel('tiny', { numLabels: 3, seed: 1, threads: 1 });
    const dir = tmp();
    const written = saveCheckpoint(dir, m.config, await m.session.state(), { labels: ['neg', 'neu', 'pos'], tokenizerFrom: TINY });
    expect(written).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json']));
    const st = readSafetensors(join(dir, 'model.safetensors'));
    expect(st.metadata).toEqual({ format: 'pt' });
    const C = m.config.nEmbd;
    const keys = [...st.tensors.keys()];
    expect(keys).toHaveLength(2 + m.config.nLayer * 12 + 2 + 1);
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
    expect(cfg.nEmbd).toBe(C);
  });
});

describe('tokenizer files for a preset', () => {
  it('vocab.json and merges.txt rebuilt from the embedded tokenizer equal the files transformers wrote', async () => {
    const m = await openModel('tiny', { numLabels: 3, seed: 1, threads: 1 });
    const dir = tmp();
    const written = saveCheckpoint(dir, m.config, await m.session.state(), { labels: ['a', 'b', 'c'] });
    expect(written).toEqual(expect.arrayContaining(['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json']));
    expect(readFileSync(join(dir, 'merges.txt')).equals(readFileSync(join(TINY, 'merges.txt')))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(TINY, 'vocab.json'), 'utf8')));
    // and the saved folder's tokenizer reads back with the same ids
    const { folderTokenizer, embeddedTokenizer } = await import('../src/data/tokenizer.js');
    expect(folderTokenizer(dir).encode(' naïve <|endoftext|> 😀')).toEqual(embeddedTokenizer().encode(' naïve <|endoftext|> 😀'));
  });
});

describe('finding models', () => {
  it('a hub id resolves in the local hub cache (refs/main -> snapshot)', () => {
    const hub = tmp();
    const snap = join(hub, 'models--sshleifer--tiny-gpt2', 'snapshots', '5f91d94bd9cd7190a9f3216ff93cd1dd95f2c7be');
    mkdirSync(snap, { recursive: true });
    for (const f of ['config.json', 'model.safetensors']) symlinkSync(join(TINY, f), join(snap, f));
    mkdirSync(join(hub, 'models--sshleifer--tiny-gpt2', 'refs'));
    writeFileSync(join(hub, 'models--sshleifer--tiny-gpt2', 'refs', 'main'), '5f91d94bd9cd7190a9f3216ff93cd1dd95f2c7be\n');
    expect(resolveModel('sshleifer/tiny-gpt2', { HF_HUB_CACHE: hub })).toEqual({ kind: 'folder', dir: snap, name: 'sshleifer/tiny-gpt2' });
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
  const broken = (mutate: (dir: string) => void) => {
    const dir = tmp();
    cpSync(TINY, dir, { recursive: true });
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

  const cases: [string, (dir: string) => void, RegExp][] = [
    ['header length beyond the file', (d) => { const b = readFileSync(st(d)); b.writeBigUInt64LE(BigInt(b.length), 0); writeFileSync(st(d), b); }, /header length \d+ runs past the end of the file/],
    ['header not JSON', (d) => { const b = readFileSync(st(d)); b.write('#', 8); writeFileSync(st(d), b); }, /header is not JSON/],
    ['offsets past the data (truncated file)', (d) => { const b = readFileSync(st(d)); writeFileSync(st(d), b.subarray(0, b.length - 100)); }, /data_offsets \[\d+, \d+\] run past the data/],
    ['overlapping offsets', (d) => { const { json } = header(d); json['transformer.ln_f.bias'].data_offsets = json['transformer.ln_f.weight'].data_offsets; rewrite(d, json); }, /overlap/],
    ['unknown dtype', (d) => { const { json } = header(d); json['transformer.ln_f.bias'].dtype = 'Q7'; rewrite(d, json); }, /unknown dtype "Q7"/],
    ['shape that lies about the bytes', (d) => { const { json } = header(d); json['transformer.ln_f.bias'].shape = [3]; rewrite(d, json); }, /needs 12 bytes, data_offsets give 8/],
    ['config.json that does not match the tensors', (d) => { const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')); c.n_embd = 4; c.n_head = 2; writeFileSync(join(d, 'config.json'), JSON.stringify(c)); }, /config.json implies/],
    ['config.json with fewer layers than the file', (d) => { const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')); c.n_layer = 1; writeFileSync(join(d, 'config.json'), JSON.stringify(c)); }, /not part of GPT-2 \(n_layer 1/],
    ['missing tensors', (d) => { const { json, buf, n } = header(d); delete json['transformer.h.1.mlp.c_fc.bias']; rewrite(d, json, buf.subarray(8 + n)); }, /missing 1 GPT-2 tensor\(s\): transformer.h.1.mlp.c_fc.bias/],
    ['NaN weights', (d) => { const { buf, n, json } = header(d); const off = 8 + n + json['transformer.ln_f.weight'].data_offsets[0]; buf.writeFloatLE(NaN, off); writeFileSync(st(d), buf); }, /contains NaN or infinite values/],
    ['config.json not JSON', (d) => writeFileSync(join(d, 'config.json'), '{"n_layer": 2,'), /config.json: is not valid JSON/],
    ['a model that is not GPT-2', (d) => { const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')); c.model_type = 'llama'; writeFileSync(join(d, 'config.json'), JSON.stringify(c)); }, /model_type is 'llama'/],
    ['n_embd not divisible by n_head', (d) => { const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')); c.n_head = 3; writeFileSync(join(d, 'config.json'), JSON.stringify(c)); }, /nEmbd must be divisible by nHead/],
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
    cpSync(join(TINY, 'config.json'), join(dir, 'config.json'));
    writeFileSync(join(dir, 'pytorch_model.bin'), '');
    expect(() => loadCheckpoint(dir)).toThrow(/has no model.safetensors \(it has pytorch_model.bin\)/);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
  });
});
