/**
 * lm-profile.ts — what a causal-LM data set costs: rows, token lengths (what the model processes)
 * and counted targets (what the loss sees) per split, with the skips and cuts of tokenization. The
 * causal-LM counterpart of profile.ts; profiles of the reference tweets written as prompt/completion
 * pairs ship with the package (scripts/profile-lm-dataset.mjs), one per packaged tokenizer, so a
 * causal-LM estimate of a preset needs nothing downloaded.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { FtplanError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { BATCHING_POLICIES, epochTokens, lengthsFromHistogram, type EpochTokens } from './batching.js';
import type { Dataset, SplitName } from './dataset.js';
import { tokenizeLmRows, type LmDataset, type LmSplit } from './lm-dataset.js';
import { LM_FORMATS } from './lm-examples.js';
import { toPromptCompletion, TWEET_SENTIMENT_TEMPLATE, type PromptTemplate } from './lm-from-labels.js';
import type { LmTokenizer, PackagedTokenizer } from './lm-tokenizer.js';
import { tokenStats } from './profile.js';

const StatsSchema = z.object({
  total: z.number().int().nonnegative(),
  mean: z.number(),
  p50: z.number().int(),
  p90: z.number().int(),
  p99: z.number().int(),
  max: z.number().int(),
  histogram: z.record(z.string().regex(/^\d+$/), z.number().int().positive()),
});

const LmSplitProfileSchema = z.object({
  files: z.array(z.object({ name: z.string(), sha256: z.string() })),
  rowsRead: z.number().int().nonnegative(),
  rows: z.number().int().positive(),
  skipped: z.object({ noTarget: z.number().int(), empty: z.number().int(), limit: z.number().int() }),
  truncated: z.number().int().nonnegative(),
  boundaryMismatch: z.number().int().nonnegative(),
  /** tokens per row (input ids, what a step processes) */
  tokens: StatsSchema,
  /** counted targets per row (what the loss averages over) */
  targets: StatsSchema,
});

export const LmProfileSchema = z.object({
  schema: z.literal('ftplan.lm-profile/1'),
  name: z.string(),
  source: z.string(),
  format: z.enum(LM_FORMATS),
  tokenizer: z.string(),
  chatTemplate: z.string().nullable(),
  /** the sequence length rows were cut to when profiled */
  seqLen: z.number().int().positive(),
  splits: z.object({ train: LmSplitProfileSchema, test: LmSplitProfileSchema.optional(), validation: LmSplitProfileSchema.optional() }),
});

export type LmProfile = z.infer<typeof LmProfileSchema>;
export type LmSplitProfile = z.infer<typeof LmSplitProfileSchema>;

export function profileLmDataset(ds: LmDataset): LmProfile {
  const splits: Partial<Record<SplitName, LmSplitProfile>> = {};
  for (const [name, split] of Object.entries(ds.splits) as [SplitName, NonNullable<LmDataset['splits'][SplitName]>][]) {
    if (split.examples.length === 0) continue;
    splits[name] = {
      files: split.files.map((f) => ({ name: basename(f), sha256: createHash('sha256').update(readFileSync(f)).digest('hex') })),
      rowsRead: split.rowsRead,
      rows: split.examples.length,
      skipped: split.skipped,
      truncated: split.truncated,
      boundaryMismatch: split.boundaryMismatch,
      tokens: tokenStats(split.examples.map((e) => e.length)),
      targets: tokenStats(split.examples.map((e) => e.targets)),
    };
  }
  if (!splits.train) {
    const t = ds.splits.train;
    throw new FtplanError('ERR_INPUT', `${ds.name}: no training rows left to learn from${t ? ` (${t.skipped.noTarget} with nothing to learn within ${ds.seqLen} tokens, ${t.skipped.empty} empty)` : ''}`, {
      fix: 'raise --seq-len (prompts that fill the sequence leave no completion token), or check the columns',
    });
  }
  return LmProfileSchema.parse({
    schema: 'ftplan.lm-profile/1',
    name: ds.name,
    source: ds.source.startsWith('hub cache') ? 'hub cache' : ds.source,
    format: ds.format,
    tokenizer: ds.tokenizer,
    chatTemplate: ds.chatTemplate ? basename(ds.chatTemplate) : null,
    seqLen: ds.seqLen,
    splits,
  });
}

/**
 * The profile of a labelled data set written as prompt/completion pairs (lm-from-labels.ts),
 * without writing them: the files named are the labelled set's own. seqLen: long enough by
 * default that no row is cut (an estimate cuts to its --seq-len).
 */
export function profileLabelledAsLm(ds: Dataset, tokenizer: LmTokenizer, opts: { template?: PromptTemplate; seqLen?: number } = {}): LmProfile {
  const seqLen = opts.seqLen ?? 4096;
  const splits: Partial<Record<SplitName, LmSplit>> = {};
  for (const [name, split] of Object.entries(ds.splits) as [SplitName, NonNullable<Dataset['splits'][SplitName]>][]) {
    const rows = toPromptCompletion(split.examples, ds.labels, opts.template ?? TWEET_SENTIMENT_TEMPLATE);
    splits[name] = tokenizeLmRows(rows as unknown as Record<string, unknown>[], split.files, name, 'prompt-completion', { tokenizer, seqLen, chat: null });
  }
  return profileLmDataset({ name: ds.name, source: `${ds.source}, as prompt/completion pairs (src/data/lm-from-labels.ts)`, format: 'prompt-completion', formatSource: 'written from the labels', seqLen, tokenizer: tokenizer.name, chatTemplate: null, splits });
}

/** The shipped profile of the reference tweets as "tweet → sentiment word" pairs, tokenized by a packaged tokenizer. */
export function defaultLmProfilePath(tokenizer: PackagedTokenizer): string {
  return join(PACKAGE_ROOT, `src/data/profiles/tweet_sentiment_extraction.${tokenizer}.lm.json`);
}

export function loadLmProfile(path: string): LmProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${path}: not a readable JSON profile (${(e as Error).message})`, { fix: existsSync(path) ? 'regenerate it with scripts/profile-lm-dataset.mjs' : 'check the path' });
  }
  const parsed = LmProfileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FtplanError('ERR_INPUT', `${path}: not an ftplan causal-LM profile (${issue?.path.join('.')}: ${issue?.message})`, { fix: 'regenerate it with scripts/profile-lm-dataset.mjs' });
  }
  return parsed.data;
}

/** Tokens one epoch costs under each batching policy (rows cut to maxLen). */
export function lmBatchingCosts(split: LmSplitProfile, batchSize: number, opts: { maxLen?: number; seed?: number } = {}): Record<string, EpochTokens> {
  const lengths = lengthsFromHistogram(split.tokens.histogram, opts.maxLen);
  return Object.fromEntries(BATCHING_POLICIES.map((p) => [p, epochTokens(lengths, batchSize, p, { seed: opts.seed })]));
}
