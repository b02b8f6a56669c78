/** profile.ts — `ftplan profile`'s flags (registry.ts). */
import { z } from 'zod';
import { BATCH_SIZE, DATA_FLAGS, JSON_OUTPUT, LM_FORMAT, positiveInt, SEED, TASK } from './common.js';
import { argsShape, flag, optionTable, restate } from './registry.js';

export const PROFILE_FLAGS = {
  dataset: flag(
    { type: 'string', describe: 'a jsonl/csv/tsv/parquet file, a folder with train/test files, or a Hugging Face data set id (org/name): from the Hugging Face cache, else its parquet files downloaded into it', demandOption: true },
    z.string({ error: '--dataset is required' }).min(1, '--dataset is required'),
  ),
  ...DATA_FLAGS,
  task: restate(TASK, { describe: 'classification (text and label per row) or causal-lm (the rows as a causal-LM fine-tune tokenizes them: token lengths and the targets the loss counts)' }),
  'lm-format': LM_FORMAT,
  tokenizer: flag(
    { type: 'string', describe: 'whose tokenizer: a model folder (default: the embedded GPT-2 tokenizer); causal-lm: also llama3 or qwen3 (packaged, the default llama3), or a Llama-family preset or hub id' },
    z.string().min(1).optional(),
  ),
  'batch-size': restate(BATCH_SIZE, { describe: 'batch size for the tokens-per-epoch of each batching policy' }),
  'max-length': flag({ type: 'number', describe: 'truncate rows to this many tokens (the model\'s positions)', default: 1024 }, positiveInt('--max-length')),
  seed: restate(SEED, { describe: 'seed of --limit\'s sample and of the batching simulation' }),
  json: restate(JSON_OUTPUT, { describe: 'print JSON (the profile, schema ftplan.profile/1 or ftplan.lm-profile/1, plus the batching costs)' }),
};

export const PROFILE_OPTIONS = optionTable(PROFILE_FLAGS);
export const ProfileArgsSchema = z.object(argsShape(PROFILE_FLAGS)).strict();
export type ProfileArgs = z.infer<typeof ProfileArgsSchema>;
