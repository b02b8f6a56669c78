// The Llama-family decoders in the native core against the independent float64 reference of HF's
// formulas (test/reference/decoder_reference.py, Debian's python3-torch): on a tiny random checkpoint
// of each family (llama with llama3 RoPE scaling and GQA, mistral with a window shorter than the
// rows, qwen2 with q/k/v bias, qwen3 with q/k norms, head_dim != hidden / heads and tied embeddings),
// read by ftplan's own loader, both tasks: logits and loss to 1e-5, every parameter's gradient to
// 1e-4 of its tensor's scale — for causal-LM also with the LM head in chunks of 4 rows (the batch's
// targets in several chunks, as a large vocabulary's would be).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDecoderCheckpoint } from '../../src/model/decoder-checkpoint.js';
import type { Task } from '../../src/model/decoder-config.js';
import { loadNative, type NativeBatch } from '../../src/native.js';
import { DECODER_FAMILIES, tinyDecoderCheckpoint } from '../decoder-fixtures.js';
import { maxAbs, maxAbsDiff, randomRows, REFERENCE_PYTHON, ROOT, tempDir } from '../helpers.js';

const addon = loadNative();

interface Reference {
  logits?: number[][] | number[][][];
  loss: number;
  grads: Record<string, number[]>;
}

/** Rows with the pad id inside one (a real token there), right padded; causal-lm labels mask a 2-token prompt and the padding. */
function decoderBatch(seed: number, B: number, T: number, vocab: number, pad: number, task: Task) {
  const rows = randomRows(B, 3, T, vocab - 1, seed);
  rows[0] = [...rows[0]!.slice(0, T - 1), pad];
  const input_ids = rows.map((r) => [...r, ...Array<number>(T - r.length).fill(pad)]);
  const lm_labels = rows.map((r) => [...r.map((t, i) => (i < 2 ? -100 : t)), ...Array<number>(T - r.length).fill(-100)]);
  const labels = rows.map((_, i) => i % 3);
  const native: NativeBatch = {
    batchSize: B,
    seqLen: T,
    inputIds: Int32Array.from(input_ids.flat()),
    lengths: Int32Array.from(rows.map((r) => r.length)),
    ...(task === 'classification' ? { labels: Int32Array.from(labels) } : { lmLabels: Int32Array.from(lm_labels.flat()) }),
  };
  const request = { task, input_ids, lengths: rows.map((r) => r.length), ...(task === 'classification' ? { labels } : { lm_labels }) };
  return { native, request };
}

function reference(dir: string, request: object): Reference {
  const out = execFileSync(REFERENCE_PYTHON, [join(ROOT, 'test/reference/decoder_reference.py'), dir], {
    input: JSON.stringify({ ...request, grads: true, return_lm_logits: true }),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  return JSON.parse(out) as Reference;
}


describe.each(DECODER_FAMILIES)('%s against the float64 reference', (family) => {
  for (const task of ['classification', 'causal-lm'] as Task[]) {
    it(`${task}: logits and loss to 1e-5, every gradient to 1e-4 relative`, async () => {
      const ck = tinyDecoderCheckpoint(tempDir('ftplan-decref-'), { family, task, seed: 31 });
      const loaded = loadDecoderCheckpoint(ck.dir, { task, numLabels: 3 });
      expect(loaded.missing).toEqual([]);
      const cfg = loaded.config.config;
      const s = new addon.Session({ model: cfg, seed: 1, threads: 1 });
      await s.init();
      const report = await s.loadState(loaded.state);
      expect(report.missing).toEqual([]);
      expect(report.unexpected).toEqual([]);

      const T = 12; // longer than mistral's window of 4
      const { native, request } = decoderBatch(9, 3, T, cfg.vocabSize, cfg.padTokenId, task);
      const ref = reference(ck.dir, request);
      const logits = await s.logits(native);
      const refLogits = (ref.logits as number[][] | number[][][]).flat(2) as number[];
      expect(logits.length).toBe(refLogits.length);
      expect(refLogits.length).toBe(task === 'classification' ? 3 * 3 : 3 * T * cfg.vocabSize);
      expect(maxAbs(refLogits)).toBeGreaterThan(1e-3); // not trivially zero
      if (task === 'classification') expect(maxAbsDiff(logits, refLogits)).toBeLessThan(1e-5);
      else {
        // padding positions are HF's business, not a result: compare the real tokens' logits
        const V = cfg.vocabSize;
        for (let b = 0; b < 3; b++) {
          const n = native.lengths[b]! * V;
          expect(maxAbsDiff(logits.subarray(b * T * V, b * T * V + n), refLogits.slice(b * T * V, b * T * V + n)), `row ${b}`).toBeLessThan(1e-5);
        }
      }

      for (const chunkRows of task === 'causal-lm' ? [0, 4] : [0]) {
        expect(addon.lmChunkRows(chunkRows)).toBe(chunkRows);
        let ours;
        try {
          ours = await s.gradients(native);
        } finally {
          addon.lmChunkRows(0);
        }
        expect(Math.abs(ours.loss - ref.loss), `chunk rows ${chunkRows}`).toBeLessThan(1e-5);
        expect(Object.keys(ours.gradients).sort()).toEqual(Object.keys(ref.grads).sort());
        for (const [name, g] of Object.entries(ours.gradients)) {
          const r = ref.grads[name]!;
          expect(g.data.length, name).toBe(r.length);
          const scale = maxAbs(r);
          if (scale === 0) expect(maxAbs(g.data), name).toBe(0);
          else expect(maxAbsDiff(g.data, r) / scale, `${name}, chunk rows ${chunkRows}`).toBeLessThan(1e-4);
        }
      }
    }, 120_000);
  }
});
