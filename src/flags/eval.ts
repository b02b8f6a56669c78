/** eval.ts — `ftplan eval`'s flags (registry.ts). */
import { z } from 'zod';
import { TASKS } from '../model/decoder-config.js';
import { DATA_FLAGS, DEVICE, DTYPE, JSON_OUTPUT, LM_FORMAT, THREADS } from './common.js';
import { argsShape, flag, optionTable, restate } from './registry.js';
import { RUN_FLAGS } from './run.js';

export const EVAL_FLAGS = {
  model: flag({ type: 'string', describe: 'a checkpoint folder (or any model --model takes)', demandOption: true }, z.string().min(1)),
  dataset: flag({ type: 'string', describe: 'a file (all of it is evaluated), or a folder / hub id: its test split, else validation (no train file needed)', demandOption: true }, z.string().min(1)),
  ...DATA_FLAGS,
  task: flag({ type: 'string', choices: TASKS, describe: 'classification or causal-lm (default: the checkpoint\'s, from config.json\'s architectures; else classification)' }, z.enum(TASKS).optional()),
  'lm-format': LM_FORMAT,
  'eval-batch-size': RUN_FLAGS['eval-batch-size'],
  device: DEVICE,
  dtype: restate(DTYPE, { describe: 'fp32 or bf16' }),
  threads: THREADS,
  json: JSON_OUTPUT,
};

export const EVAL_OPTIONS = optionTable(EVAL_FLAGS);
export const EvalArgsSchema = z.object(argsShape(EVAL_FLAGS)).strict();
export type EvalArgs = z.infer<typeof EvalArgsSchema>;
