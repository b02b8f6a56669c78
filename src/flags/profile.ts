/** profile.ts — `ftplan profile`'s flags (registry.ts). */
import { z } from 'zod';
import { BATCH_SIZE, DATA_FLAGS, JSON_OUTPUT, positiveInt, SEED } from './common.js';
import { argsShape, flag, optionTable, restate } from './registry.js';

export const PROFILE_FLAGS = {
  dataset: flag(
    { type: 'string', describe: 'a jsonl/csv/tsv/parquet file, a folder with train/test files, or a Hugging Face data set id (org/name): from the Hugging Face cache, else its parquet files downloaded into it', demandOption: true },
    z.string({ error: '--dataset is required' }).min(1, '--dataset is required'),
  ),
  ...DATA_FLAGS,
  tokenizer: flag({ type: 'string', describe: 'a model folder whose tokenizer to use (default: the embedded GPT-2 tokenizer)' }, z.string().min(1).optional()),
  'batch-size': restate(BATCH_SIZE, { describe: 'batch size for the tokens-per-epoch of each batching policy' }),
  'max-length': flag({ type: 'number', describe: 'truncate rows to this many tokens (the model\'s positions)', default: 1024 }, positiveInt('--max-length')),
  seed: restate(SEED, { describe: 'seed of --limit\'s sample and of the batching simulation' }),
  json: restate(JSON_OUTPUT, { describe: 'print JSON (the profile, schema ftplan.profile/1, plus the batching costs)' }),
};

export const PROFILE_OPTIONS = optionTable(PROFILE_FLAGS);
export const ProfileArgsSchema = z.object(argsShape(PROFILE_FLAGS)).strict();
export type ProfileArgs = z.infer<typeof ProfileArgsSchema>;
