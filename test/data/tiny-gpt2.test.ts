// The real sshleifer/tiny-gpt2 (FTPLAN_DATA), as transformers 4.52 wrote it: it loads, its forward
// pass matches an independent reference (python3-torch), what ftplan saves from it round-trips, the
// tokenizer files ftplan rebuilds equal the ones transformers wrote, and it resolves from a hub cache.
// The same checks on checkpoints the tests make: test/unit/checkpoints.test.ts, test/native/hf-reference.test.ts.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, resolveModel, saveCheckpoint } from '../../src/model/hf.js';
import { openModel } from '../../src/model/open.js';
import { encodeSafetensors, readSafetensors } from '../../src/model/safetensors.js';
import { makeBatch, randomRows, REFERENCE_PYTHON, ROOT, tempDir } from '../helpers.js';
import { TINY_GPT2 as TINY } from '../real-data.js';

const tmp = () => tempDir('ftplan-hf-');

function reference(dir: string, rows: number[][], seqLen: number, pad: number): number[][] {
  const input_ids = rows.map((r) => [...r, ...Array(seqLen - r.length).fill(pad)]);
  const out = execFileSync(REFERENCE_PYTHON, [join(ROOT, 'test/reference/gpt2_seqcls_reference.py'), dir], {
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
    const { folderTokenizer, embeddedTokenizer } = await import('../../src/data/tokenizer.js');
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
});
