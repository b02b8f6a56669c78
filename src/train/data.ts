/**
 * data.ts — examples to native batches: token ids (truncated to the model's positions; an empty text
 * is one end-of-text token), a seeded order per epoch, batches padded on the right with the pad id
 * under the batching policy (fixed, longest, grouped: the same policies the estimate costs).
 */
import { policyOrder, rng, type Batching } from '../data/batching.js';
import type { Example } from '../data/loaders.js';
import type { TextTokenizer } from '../data/tokenizer.js';
import type { NativeBatch } from '../native.js';

export interface Encoded {
  ids: number[];
  label: number;
}

export function encodeExamples(examples: readonly Example[], tokenizer: TextTokenizer, maxLen: number): Encoded[] {
  return examples.map((e) => {
    const ids = tokenizer.encode(e.text);
    return { ids: ids.length ? ids.slice(0, maxLen) : [tokenizer.eosTokenId], label: e.label };
  });
}

/** Indices of one epoch's batches, in training order. Eval: pass shuffle=false. */
export function epochBatches(rows: readonly Encoded[], batchSize: number, policy: Batching, seed: number, epoch: number, shuffle = true): number[][] {
  const indices = rows.map((_, i) => i);
  const order = policyOrder(indices, (i) => (rows[i] as Encoded).ids.length, batchSize, policy, shuffle ? rng(seed * 1_000_003 + epoch) : null);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}

export function toNativeBatch(rows: readonly Encoded[], indices: readonly number[], padId: number, fixedLength?: number): NativeBatch {
  const T = fixedLength ?? Math.max(...indices.map((i) => (rows[i] as Encoded).ids.length));
  const inputIds = new Int32Array(indices.length * T).fill(padId);
  const lengths = new Int32Array(indices.length);
  const labels = new Int32Array(indices.length);
  indices.forEach((idx, b) => {
    const r = rows[idx] as Encoded;
    const ids = r.ids.slice(0, T);
    inputIds.set(ids, b * T);
    lengths[b] = ids.length;
    labels[b] = r.label;
  });
  return { batchSize: indices.length, seqLen: T, inputIds, lengths, labels };
}
