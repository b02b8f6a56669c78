/**
 * run.ts — `ftplan run`'s flags (registry.ts): the fine-tune, its checkpoints and budget, and the
 * data-parallel launch. The launcher hands its workers these same flags (train/distributed.ts).
 */
import { z } from 'zod';
import { BATCH_SIZE, BATCHING, DATA_FLAGS, DEVICE, DTYPE, GRAD_ACCUM, JSON_OUTPUT, LM_FORMAT, positiveInt, SEED, TASK, THREADS } from './common.js';
import { ADAPTER, FORCE_BASE, MERGE, PEFT_FLAGS } from './peft.js';
import { argsShape, choice, flag, optionTable, restate } from './registry.js';

export const RUN_FLAGS = {
  model: flag({ type: 'string', describe: 'a preset (GPT-2 or Llama family), a Hugging Face model folder, or a hub id (org/name): from the Hugging Face cache, else downloaded into it with its weights', default: 'gpt2' }, z.string().min(1)),
  task: TASK,
  dataset: flag(
    { type: 'string', describe: 'a jsonl/csv/tsv/parquet file, a folder with train/test files, or a hub data set id (org/name), cached or downloaded', demandOption: true },
    z.string({ error: '--dataset is required' }).min(1, '--dataset is required'),
  ),
  ...DATA_FLAGS,
  'lm-format': LM_FORMAT,
  ...PEFT_FLAGS,
  adapter: restate(ADAPTER, { describe: 'lora/qlora: start from this adapter folder (ftplan\'s or PEFT\'s) on --model instead of fresh adapters; its r, alpha and targets are the run\'s' }),
  'force-base': FORCE_BASE,
  merge: MERGE,
  'eval-limit': flag({ type: 'number', describe: 'evaluate on at most this many rows of the eval split (default: all)' }, positiveInt('--eval-limit').optional()),
  init: choice(['pretrained', 'random'], { describe: 'pretrained (a folder\'s weights) or random (the shape only)', default: 'pretrained' }),
  epochs: flag({ type: 'number', describe: 'epochs', default: 3 }, positiveInt('--epochs').max(1000, '--epochs must be at most 1000')),
  'batch-size': BATCH_SIZE,
  'eval-batch-size': flag({ type: 'number', describe: 'eval batch size', default: 64 }, positiveInt('--eval-batch-size')),
  'grad-accum': GRAD_ACCUM,
  lr: flag({ type: 'number', describe: 'peak learning rate (AdamW)', default: 5e-5 }, z.number({ error: '--lr must be a number' }).positive('--lr must be positive').finite('--lr must be finite')),
  'warmup-ratio': flag({ type: 'number', describe: 'fraction of the steps spent warming the learning rate up', default: 0 }, z.number().min(0, '--warmup-ratio must be in [0, 1)').lt(1, '--warmup-ratio must be in [0, 1)')),
  'weight-decay': flag({ type: 'number', describe: 'AdamW weight decay', default: 0 }, z.number().min(0, '--weight-decay must be >= 0').finite()),
  'max-grad-norm': flag({ type: 'number', describe: 'gradient clipping (0: off)', default: 1 }, z.number().min(0, '--max-grad-norm must be >= 0').finite()),
  scheduler: choice(['linear', 'cosine', 'constant'], { describe: 'learning-rate schedule', default: 'linear' }),
  seed: restate(SEED, { describe: 'seed of initialisation, dropout and data order' }),
  dtype: DTYPE,
  device: DEVICE,
  threads: THREADS,
  'max-steps': flag({ type: 'number', describe: 'stop after this many optimizer steps (0: no limit)', default: 0 }, z.number().int('--max-steps must be a whole number').nonnegative('--max-steps must be >= 0')),
  'eval-steps': flag({ type: 'number', describe: 'also evaluate every N steps (0: each epoch only)', default: 0 }, z.number().int('--eval-steps must be a whole number').nonnegative('--eval-steps must be >= 0')),
  batching: BATCHING,
  'output-dir': flag({ type: 'string', describe: 'where checkpoints, metrics.jsonl, curves and the final model go', default: 'ftplan-output' }, z.string().min(1)),
  'save-steps': flag({ type: 'number', describe: 'also write a checkpoint every N steps (0: each epoch only)', default: 0 }, z.number().int('--save-steps must be a whole number').nonnegative('--save-steps must be >= 0')),
  resume: flag({ type: 'string', describe: 'continue from the latest checkpoint in --output-dir (or the checkpoint folder named): the same final weights as an uninterrupted run' }, z.string().optional()),
  'price-per-hour': flag({ type: 'number', describe: 'USD per hour of the machine, to show and guard the spend' }, z.number().positive('--price-per-hour must be positive').finite().optional()),
  instance: flag({ type: 'string', describe: 'take --price-per-hour from the price tables (cheapest row of this instance type)' }, z.string().min(1).optional()),
  estimate: flag({ type: 'string', describe: 'an `ftplan estimate --json` file to compare the run with (default: measure a short one first)' }, z.string().min(1).optional()),
  'early-stopping-patience': flag(
    { type: 'number', describe: 'stop after this many evaluations without a better eval accuracy (causal-lm: exact match, else token accuracy) (0: off)', default: 0 },
    z.number().int('--early-stopping-patience must be a whole number').nonnegative('--early-stopping-patience must be >= 0'),
  ),
  report: flag({ type: 'string', describe: 'also write the final report as Markdown to this file (.md)' }, z.string().regex(/\.md$/i, '--report must name a .md file').optional()),
  budget: flag({ type: 'number', describe: 'USD: stop before the spend would pass it (needs --price-per-hour), keeping a checkpoint' }, z.number({ error: '--budget must be a number' }).positive('--budget must be positive').finite().optional()),
  json: restate(JSON_OUTPUT, { describe: 'print the final report as JSON' }),
  nproc: flag({ type: 'number', describe: 'data-parallel worker processes on this machine (one per GPU; on a CPU, each gets cores/nproc threads)', default: 1 }, positiveInt('--nproc').max(64, '--nproc must be at most 64')),
  nnodes: flag({ type: 'number', describe: 'machines in the run (each runs `ftplan run` with the same flags and its own --node-rank)', default: 1 }, positiveInt('--nnodes').max(1024, '--nnodes must be at most 1024')),
  'node-rank': flag({ type: 'number', describe: 'this machine\'s index in [0, --nnodes)', default: 0 }, z.number().int('--node-rank must be a whole number').nonnegative('--node-rank must be >= 0')),
  'master-addr': flag({ type: 'string', describe: 'address of node 0 (it hosts the c10d TCPStore)', default: '127.0.0.1' }, z.string().min(1, '--master-addr must not be empty')),
  'master-port': flag(
    { type: 'number', describe: 'port of the TCPStore on node 0', default: 29500 },
    z.number().int('--master-port must be a whole number').min(1, '--master-port must be in [1, 65535]').max(65535, '--master-port must be in [1, 65535]'),
  ),
  'dist-timeout': flag(
    { type: 'number', describe: 'seconds a rank waits for the others (rendezvous and each collective) before failing', default: 300 },
    z.number({ error: '--dist-timeout must be a number' }).positive('--dist-timeout must be positive').max(86400, '--dist-timeout must be at most 86400 s'),
  ),
  'bucket-mb': flag(
    { type: 'number', describe: 'gradient all-reduce bucket size in MB (DDP\'s default: 25)', default: 25 },
    z.number({ error: '--bucket-mb must be a number' }).positive('--bucket-mb must be positive').max(4096, '--bucket-mb must be at most 4096'),
  ),
};

export const RUN_OPTIONS = optionTable(RUN_FLAGS);
export const RunArgsSchema = z
  .object(argsShape(RUN_FLAGS))
  .strict()
  .refine((a) => a.lmFormat === 'auto' || a.task === 'causal-lm', { message: '--lm-format is for --task causal-lm', path: ['lmFormat'] })
  .refine((a) => a.nodeRank < a.nnodes, { message: '--node-rank must be in [0, --nnodes)', path: ['nodeRank'] })
  .refine((a) => a.budget === undefined || a.pricePerHour !== undefined || a.instance !== undefined, { message: '--budget needs --price-per-hour or --instance (the spend is hours × price)', path: ['budget'] })
  .refine((a) => !a.merge || a.adapter !== undefined || a.method === 'lora' || a.method === 'qlora', { message: '--merge merges LoRA adapters into the base: it is for --method lora or qlora', path: ['merge'] })
  .refine((a) => a.adapter === undefined || a.method === undefined || a.method === 'lora' || a.method === 'qlora', { message: '--adapter continues a LoRA adapter: it is for --method lora or qlora (or leave --method out: the adapter\'s)', path: ['adapter'] })
  .refine((a) => !a.forceBase || a.adapter !== undefined, { message: '--force-base is for --adapter (loading an adapter onto another base model)', path: ['forceBase'] });
export type RunArgs = z.infer<typeof RunArgsSchema>;
