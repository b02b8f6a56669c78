/**
 * batching.ts — how many (padded) tokens one epoch really costs under a batching policy. Pure.
 *   fixed   every row padded to one length (the data's longest, or --seq-len)
 *   longest random batches, each padded to its longest row (HF DataCollatorWithPadding)
 *   grouped random mega-batches of 50 batches sorted by length (HF group_by_length /
 *           LengthGroupedSampler), so rows of similar length share a batch
 */
export const BATCHING_POLICIES = ['fixed', 'longest', 'grouped'] as const;
export type Batching = (typeof BATCHING_POLICIES)[number];

export interface EpochTokens {
  policy: Batching;
  batchSize: number;
  batches: number;
  /** padded tokens the model processes in one epoch */
  tokens: number;
  /** real (non-padding) tokens in one epoch */
  realTokens: number;
  /** tokens / batches / batchSize: the mean padded row length */
  meanPaddedLength: number;
  /** realTokens / tokens */
  efficiency: number;
}

/** Histogram {length: count} -> lengths, clipped to maxLen (truncation). */
export function lengthsFromHistogram(histogram: Record<string, number>, maxLen = Infinity): number[] {
  const out: number[] = [];
  for (const [len, count] of Object.entries(histogram)) {
    const n = Math.min(Number(len), maxLen);
    for (let i = 0; i < count; i++) out.push(n);
  }
  return out;
}

/** mulberry32: a small, seedable PRNG (deterministic shuffles for the same seed). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(xs: readonly T[], random: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/**
 * The order rows are batched in under a policy: shuffled when `random` is given, then for `grouped`
 * sorted longest-first within mega-batches of 50 batches. The estimate costs and `ftplan run`
 * trains with this one function.
 */
export function policyOrder<T>(items: readonly T[], lengthOf: (t: T) => number, batchSize: number, policy: Batching, random: (() => number) | null): T[] {
  let order = random ? shuffled(items, random) : [...items];
  if (policy === 'grouped') {
    const mega = batchSize * 50;
    const grouped: T[] = [];
    for (let i = 0; i < order.length; i += mega) grouped.push(...order.slice(i, i + mega).sort((a, b) => lengthOf(b) - lengthOf(a)));
    order = grouped;
  }
  return order;
}

function paddedTokens(order: readonly number[], batchSize: number): number {
  let tokens = 0;
  for (let i = 0; i < order.length; i += batchSize) {
    let max = 0;
    const end = Math.min(order.length, i + batchSize);
    for (let j = i; j < end; j++) max = Math.max(max, order[j] as number);
    tokens += max * (end - i);
  }
  return tokens;
}

/**
 * Padded tokens of one epoch, averaged over `shuffles` seeded orders for the random policies.
 * fixedLength: the row length under `fixed` (default: the longest row).
 */
export function epochTokens(
  lengths: readonly number[],
  batchSize: number,
  policy: Batching,
  opts: { fixedLength?: number; seed?: number; shuffles?: number } = {},
): EpochTokens {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  if (lengths.length === 0) throw new RangeError('no rows');
  const rows = lengths.length;
  const batches = Math.ceil(rows / batchSize);
  const realTokens = lengths.reduce((a, b) => a + b, 0);
  let tokens: number;
  if (policy === 'fixed') {
    const L = opts.fixedLength ?? Math.max(...lengths);
    tokens = rows * L;
  } else {
    const shuffles = opts.shuffles ?? 3;
    const random = rng(opts.seed ?? 42);
    let sum = 0;
    for (let s = 0; s < shuffles; s++) sum += paddedTokens(policyOrder(lengths, (n) => n, batchSize, policy, random), batchSize);
    tokens = sum / shuffles;
  }
  return {
    policy,
    batchSize,
    batches,
    tokens,
    realTokens,
    meanPaddedLength: tokens / rows,
    efficiency: realTokens / tokens,
  };
}

/**
 * A sample of k padded batch lengths that stands for one epoch under a policy: the epoch's batches
 * (one seeded order) sorted by padded length, one from the middle of each of k equal strata, then
 * shuffled. Timing these measures the lengths a run really trains on, short and long, instead of
 * one mean length.
 */
export function batchLengthSample(
  lengths: readonly number[],
  batchSize: number,
  policy: Batching,
  k: number,
  opts: { fixedLength?: number; seed?: number } = {},
): number[] {
  if (lengths.length === 0) throw new RangeError('no rows');
  if (!Number.isInteger(k) || k < 1) throw new RangeError('k must be a positive integer');
  if (policy === 'fixed') return Array.from({ length: k }, () => opts.fixedLength ?? Math.max(...lengths));
  const random = rng(opts.seed ?? 42);
  const order = policyOrder(lengths, (n) => n, batchSize, policy, random);
  const padded: number[] = [];
  for (let i = 0; i < order.length; i += batchSize) padded.push(Math.max(...order.slice(i, i + batchSize)));
  padded.sort((a, b) => a - b);
  const sample = Array.from({ length: k }, (_, i) => padded[Math.min(padded.length - 1, Math.floor(((i + 0.5) * padded.length) / k))] as number);
  return shuffled(sample, random);
}
