/**
 * data.ts — examples to native batches: token ids (truncated to the model's positions; an empty text
 * is one end-of-text token), a seeded order per epoch, batches padded on the right with the pad id
 * under the batching policy (fixed, longest, grouped: the same policies the estimate costs).
 * Classification rows carry a class; causal-LM rows (lm-examples.ts) carry HF labels per position
 * (-100 where a token does not count), padded with -100.
 */
import { policyOrder, rng, type Batching } from '../data/batching.js';
import { IGNORE_INDEX, type LmExample } from '../data/lm-examples.js';
import type { Example } from '../data/loaders.js';
import type { TextTokenizer } from '../data/tokenizer.js';
import type { NativeBatch } from '../native.js';

export interface Encoded {
  ids: number[];
  /** the class (classification); -1 for a causal-LM row */
  label: number;
  /** causal-lm: HF labels at the same positions as ids, and what evaluation reads of the row */
  lm?: { labels: number[]; targets: number; truncated: boolean; exactMatch: boolean };
}

/**
 * Completions of at most this many counted tokens (the label word and EOS of "text → label" pairs,
 * a short answer) are scored by exact match: greedy decoding from the prompt reproduces them
 * exactly when the argmax at every counted position is the target (lm-metrics.ts).
 */
export const EXACT_MATCH_MAX_TARGETS = 16;

/** Causal-LM examples as rows; exact match applies to prompt/completion rows with a short, uncut completion. */
export function encodeLmExamples(examples: readonly LmExample[], format: string): Encoded[] {
  return examples.map((e) => ({
    ids: e.inputIds,
    label: -1,
    lm: { labels: e.lmLabels, targets: e.targets, truncated: e.truncated, exactMatch: format === 'prompt-completion' && !e.truncated && e.targets <= EXACT_MATCH_MAX_TARGETS },
  }));
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
  const lm = (rows[indices[0] as number] as Encoded).lm !== undefined;
  const labels = new Int32Array(lm ? 0 : indices.length);
  const lmLabels = lm ? new Int32Array(indices.length * T).fill(IGNORE_INDEX) : null;
  indices.forEach((idx, b) => {
    const r = rows[idx] as Encoded;
    const ids = r.ids.slice(0, T);
    inputIds.set(ids, b * T);
    lengths[b] = ids.length;
    if (lmLabels) lmLabels.set((r.lm as NonNullable<Encoded['lm']>).labels.slice(0, T), b * T);
    else labels[b] = r.label;
  });
  if (lmLabels) return { batchSize: indices.length, seqLen: T, inputIds, lengths, lmLabels };
  return { batchSize: indices.length, seqLen: T, inputIds, lengths, labels };
}
