/** eval.ts — `ftplan eval`'s flags (registry.ts). */
import { z } from 'zod';
import { TASKS } from '../model/decoder-config.js';
import { DATA_FLAGS, DEVICE, DTYPE, JSON_OUTPUT, LM_FORMAT, THREADS } from './common.js';
import { ADAPTER, FORCE_BASE, PEFT_FLAGS } from './peft.js';
import { argsShape, flag, optionTable, restate } from './registry.js';
import { RUN_FLAGS } from './run.js';

export const EVAL_FLAGS = {
  model: flag({ type: 'string', describe: 'a checkpoint folder (or any model --model takes)', demandOption: true }, z.string().min(1)),
  dataset: flag({ type: 'string', describe: 'a file (all of it is evaluated), or a folder / hub id: its test split, else validation (no train file needed)', demandOption: true }, z.string().min(1)),
  ...DATA_FLAGS,
  task: flag({ type: 'string', choices: TASKS, describe: 'classification or causal-lm (default: the checkpoint\'s, from config.json\'s architectures; else classification)' }, z.enum(TASKS).optional()),
  'lm-format': LM_FORMAT,
  adapter: restate(ADAPTER, { describe: 'evaluate this LoRA adapter folder (ftplan\'s or PEFT\'s) on the base model --model, held as the run held it (qlora: NF4)' }),
  'force-base': FORCE_BASE,
  method: restate(PEFT_FLAGS.method, { describe: 'with --adapter: lora or qlora (default: the method the adapter was trained with; qlora holds the base in NF4 as QLoRA training did)' }),
  'base-dtype': restate(PEFT_FLAGS['base-dtype'], { describe: 'with --adapter: how the frozen base is held (default: as in training, from adapter_config.json\'s ftplan block; else bf16)' }),
  'double-quant': restate(PEFT_FLAGS['double-quant'], { describe: 'with --adapter --method qlora: double-quantised NF4 scales (default: as in training)' }),
  'eval-batch-size': RUN_FLAGS['eval-batch-size'],
  device: DEVICE,
  dtype: restate(DTYPE, { describe: 'fp32 or bf16' }),
  threads: THREADS,
  json: JSON_OUTPUT,
};

export const EVAL_OPTIONS = optionTable(EVAL_FLAGS);
export const EvalArgsSchema = z
  .object(argsShape(EVAL_FLAGS))
  .strict()
  .refine((a) => a.adapter !== undefined || (a.method === undefined && a.baseDtype === undefined && a.doubleQuant === undefined && !a.forceBase), { message: '--method, --base-dtype, --double-quant and --force-base say how --adapter is evaluated: give --adapter', path: ['adapter'] })
  .refine((a) => a.method === undefined || a.method === 'lora' || a.method === 'qlora', { message: '--method with --adapter is lora or qlora', path: ['method'] });
export type EvalArgs = z.infer<typeof EvalArgsSchema>;
