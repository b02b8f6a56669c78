// Hugging Face checkpoints through the native core: the forward pass of a checkpoint matches an
// independent float64 implementation of HF's GPT-2 formulas (test/reference/, Debian's python3-torch),
// and a saved checkpoint, loaded again, computes the same logits. The real tiny-gpt2: the data suite.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from '../../src/model/hf.js';
import { openModel } from '../../src/model/open.js';
import { tinyHfCheckpoint } from '../fixtures.js';
import { makeBatch, randomRows, REFERENCE_PYTHON, ROOT, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-hf-');

function reference(dir: string, rows: number[][], seqLen: number, pad: number): number[][] {
  const input_ids = rows.map((r) => [...r, ...Array(seqLen - r.length).fill(pad)]);
  const out = execFileSync(REFERENCE_PYTHON, [join(ROOT, 'test/reference/gpt2_seqcls_reference.py'), dir], {
    input: JSON.stringify({ input_ids, lengths: rows.map((r) => r.length) }),
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

describe('the forward pass against the python reference', () => {
  for (const [what, make] of [
    ['a random checkpoint of 3 layers, 16 channels, GPT-2\'s vocabulary (written by saveCheckpoint, its score head loaded)', async () => {
      const ck = tinyHfCheckpoint(tmp(), { seed: 21, head: true, config: { nEmbd: 16, nHead: 4, nLayer: 3, nPositions: 64 } });
      return openModel(ck.dir, { numLabels: 3, seed: 7, threads: 1 });
    }],
    ['a random 4-layer, 128-channel model (the mini preset)', async () => openModel('mini', { numLabels: 3, seed: 7, threads: 1 })],
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

describe('saving from a session', () => {
  it('round-trips bit-exactly: session state -> save -> load gives the same bits, and a session loaded from it the same logits', async () => {
    const src = tinyHfCheckpoint(tmp(), { seed: 22 });
    const m = await openModel(src.dir, { numLabels: 3, seed: 3, threads: 1 });
    expect(m.report).toMatchObject({ init: 'pretrained', loaded: 28, initialised: ['score.weight'] });
    const before = await m.session.state();
    // the weights the file gave, as they were; the head initialised
    for (const [name, t] of Object.entries(src.state)) expect(Buffer.from(before[name]!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
    const dir = tmp();
    saveCheckpoint(dir, m.config, before, { labels: ['negative', 'neutral', 'positive'], tokenizerFrom: src.dir });
    const back = loadCheckpoint(dir, { numLabels: 3 });
    expect(back.missing).toEqual([]);
    expect(Object.keys(back.state).sort()).toEqual(Object.keys(before).sort());
    for (const [name, t] of Object.entries(before)) {
      const u = back.state[name];
      expect(u?.shape).toEqual(t.shape);
      expect(Buffer.from(u!.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
    }
    const again = await openModel(dir, { numLabels: 3, seed: 99, threads: 1 });
    const batch = makeBatch(randomRows(3, 2, 9, 50_000, 8), 10, 50256);
    expect(Array.from(await again.session.logits(batch))).toEqual(Array.from(await m.session.logits(batch)));
  });
});
