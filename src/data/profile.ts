/**
 * profile.ts — the first cost driver: how many rows, which labels, and how many tokens a data set
 * really has. A profile is computed from a loaded data set and a tokenizer (`ftplan profile`), and
 * one of the reference data set (mteb/tweet_sentiment_extraction) ships with the package, made by
 * scripts/profile-dataset.mjs with the same code, so `ftplan estimate` works with nothing downloaded.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { FtplanError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { BATCHING_POLICIES, epochTokens, lengthsFromHistogram, type EpochTokens } from './batching.js';
import type { Dataset, SplitName } from './loaders.js';
import type { TextTokenizer } from './tokenizer.js';

const TokenStatsSchema = z.object({
  total: z.number().int().nonnegative(),
  mean: z.number(),
  p50: z.number().int(),
  p90: z.number().int(),
  p99: z.number().int(),
  max: z.number().int(),
  /** row length in tokens -> number of rows */
  histogram: z.record(z.string().regex(/^\d+$/), z.number().int().positive()),
});

const SplitProfileSchema = z.object({
  files: z.array(z.object({ name: z.string(), sha256: z.string() })),
  rowsRead: z.number().int().nonnegative(),
  rows: z.number().int().positive(),
  dropped: z.object({ emptyText: z.number().int(), missingLabel: z.number().int(), unknownLabel: z.number().int(), limit: z.number().int() }),
  emptyTexts: z.number().int().nonnegative(),
  labelCounts: z.record(z.string(), z.number().int().nonnegative()),
  tokens: TokenStatsSchema,
});

export const ProfileSchema = z.object({
  schema: z.literal('ftplan.profile/1'),
  name: z.string(),
  source: z.string(),
  tokenizer: z.string(),
  textColumn: z.string(),
  labelColumn: z.string(),
  labels: z.array(z.string()).min(2),
  labelSource: z.string(),
  splits: z.object({ train: SplitProfileSchema, test: SplitProfileSchema.optional(), validation: SplitProfileSchema.optional() }),
});

export type DatasetProfile = z.infer<typeof ProfileSchema>;
export type SplitProfile = z.infer<typeof SplitProfileSchema>;

export const DEFAULT_PROFILE_PATH = join(PACKAGE_ROOT, 'src/data/profiles/tweet_sentiment_extraction.json');

export function loadProfile(path = DEFAULT_PROFILE_PATH): DatasetProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${path}: not a readable JSON profile (${(e as Error).message})`, { fix: 'regenerate it with `ftplan profile --dataset … --json`' });
  }
  const parsed = ProfileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FtplanError('ERR_INPUT', `${path}: not an ftplan profile (${issue?.path.join('.')}: ${issue?.message})`, { fix: 'regenerate it with `ftplan profile --dataset … --json`' });
  }
  return parsed.data;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Token length of every example; an empty text costs one token (it is fed as the end-of-text id). */
export function tokenLengths(texts: readonly string[], tokenizer: TextTokenizer): number[] {
  return texts.map((t) => Math.max(1, tokenizer.encode(t).length));
}

export function tokenStats(lengths: number[]): z.infer<typeof TokenStatsSchema> {
  const sorted = [...lengths].sort((a, b) => a - b);
  const histogram: Record<string, number> = {};
  for (const n of lengths) histogram[n] = (histogram[n] ?? 0) + 1;
  const total = lengths.reduce((a, b) => a + b, 0);
  return { total, mean: total / lengths.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] as number, histogram };
}

export function profileDataset(ds: Dataset, tokenizer: TextTokenizer): DatasetProfile {
  const splits: Partial<Record<SplitName, SplitProfile>> = {};
  for (const [name, split] of Object.entries(ds.splits) as [SplitName, NonNullable<Dataset['splits'][SplitName]>][]) {
    if (split.examples.length === 0) continue;
    const labelCounts: Record<string, number> = Object.fromEntries(ds.labels.map((l) => [l, 0]));
    for (const ex of split.examples) labelCounts[ds.labels[ex.label] as string] = (labelCounts[ds.labels[ex.label] as string] ?? 0) + 1;
    splits[name] = {
      files: split.files.map((f) => ({ name: basename(f), sha256: createHash('sha256').update(readFileSync(f)).digest('hex') })),
      rowsRead: split.rowsRead,
      rows: split.examples.length,
      dropped: split.dropped,
      emptyTexts: split.examples.filter((e) => e.text.trim() === '').length,
      labelCounts,
      tokens: tokenStats(tokenLengths(split.examples.map((e) => e.text), tokenizer)),
    };
  }
  if (!splits.train) throw new FtplanError('ERR_INPUT', `${ds.name}: no training rows left after the label and text policies`, { fix: 'check --text-column / --label-column' });
  return ProfileSchema.parse({
    schema: 'ftplan.profile/1',
    name: ds.name,
    source: ds.source.startsWith('hub cache') ? 'hub cache' : ds.source,
    tokenizer: tokenizer.name,
    textColumn: ds.textColumn,
    labelColumn: ds.labelColumn,
    labels: ds.labels,
    labelSource: ds.labelSource,
    splits,
  });
}

/** Tokens one epoch costs under each batching policy, for a batch size (and truncation length). */
export function batchingCosts(split: SplitProfile, batchSize: number, opts: { maxLen?: number; seed?: number } = {}): Record<string, EpochTokens> {
  const lengths = lengthsFromHistogram(split.tokens.histogram, opts.maxLen);
  return Object.fromEntries(BATCHING_POLICIES.map((p) => [p, epochTokens(lengths, batchSize, p, { seed: opts.seed })]));
}
