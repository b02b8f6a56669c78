/**
 * profile.ts — the shipped token-length profile of the reference data set
 * (mteb/tweet_sentiment_extraction), made by scripts/profile-dataset.mjs from the real files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../native.js';

const SplitSchema = z.object({
  file: z.string(),
  sha256: z.string(),
  rows: z.number().int().positive(),
  emptyTexts: z.number().int().nonnegative(),
  labels: z.record(z.string(), z.number().int().nonnegative()),
  tokens: z.object({
    total: z.number(),
    mean: z.number(),
    p50: z.number(),
    p90: z.number(),
    p99: z.number(),
    max: z.number(),
    histogram: z.record(z.string(), z.number().int().positive()),
  }),
});

export const ProfileSchema = z.object({
  schema: z.literal('ftplan.profile/1'),
  name: z.string(),
  tokenizer: z.string(),
  generatedBy: z.string(),
  splits: z.object({ train: SplitSchema, test: SplitSchema.optional() }),
});

export type DatasetProfile = z.infer<typeof ProfileSchema>;
export type SplitProfile = z.infer<typeof SplitSchema>;

export const DEFAULT_PROFILE_PATH = join(PACKAGE_ROOT, 'src/data/profiles/tweet_sentiment_extraction.json');

export function loadProfile(path = DEFAULT_PROFILE_PATH): DatasetProfile {
  return ProfileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}
