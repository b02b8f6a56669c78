/** estimate.ts — `ftplan estimate`'s flags (registry.ts): what to measure, how, and which plan rows to price. */
import { z } from 'zod';
import { presetNames } from '../model/presets.js';
import { decoderPresetNames } from '../model/decoder-presets.js';
import { BATCH_SIZE, BATCHING, CATALOG, CLOUD_FILTER, DATA_FLAGS, DEVICE, DTYPE, GPU_FILTER, GPUS_FILTER, GRAD_ACCUM, JSON_OUTPUT, LM_FORMAT, MAX_AGE_DAYS, positiveInt, REGION_FILTER, repeated, SEED, SPOT, TASK, THREADS } from './common.js';
import { ESTIMATE_PEFT_FLAGS } from './peft.js';
import { argsShape, choice, flag, optionTable, restate } from './registry.js';

export const ESTIMATE_FLAGS = {
  model: flag({ type: 'string', describe: `a preset (GPT-2: ${presetNames().join(', ')}; Llama family: ${decoderPresetNames().join(', ')}), a Hugging Face model folder, or a hub id (org/name): from the Hugging Face cache, else its published shape (the presets' models) or downloaded into the cache (config and tokenizer only)`, default: 'gpt2' }, z.string()),
  task: TASK,
  'batch-size': BATCH_SIZE,
  'grad-accum': restate(GRAD_ACCUM, { describe: 'gradient accumulation steps (effective batch = batch-size × grad-accum)' }),
  dataset: flag({ type: 'string', describe: 'the data set to plan for (default: the shipped profile of mteb/tweet_sentiment_extraction; causal-lm: its tweets as "tweet → sentiment word" pairs); file, folder or hub id (org/name, cached or downloaded)' }, z.string().min(1).optional()),
  ...DATA_FLAGS,
  'lm-format': LM_FORMAT,
  'seq-len': flag({ type: 'number', describe: 'pad every row to this length (default: measured at the data set\'s mean padded length per batch)' }, positiveInt('--seq-len').optional()),
  batching: restate(BATCHING, { describe: 'how batches are padded (ignored with --seq-len: fixed)' }),
  epochs: flag(
    { type: 'number', describe: 'epochs (default: a rule from the data set\'s size: 3 from 20k rows; capped by --budget)' },
    z.number({ error: '--epochs must be a number' }).int('--epochs must be a whole number').positive('--epochs must be positive').optional(),
  ),
  'eval-batch-size': flag({ type: 'number', describe: 'eval batch size (0: leave eval out)', default: 64 }, z.number().int('--eval-batch-size must be a whole number').nonnegative('--eval-batch-size must be >= 0')),
  ...ESTIMATE_PEFT_FLAGS,
  device: DEVICE,
  dtype: DTYPE,
  threads: THREADS,
  steps: flag({ type: 'number', describe: 'timed training steps (at least)', default: 5 }, positiveInt('--steps').max(1000, '--steps must be at most 1000')),
  'min-time': flag(
    { type: 'number', describe: 'seconds: keep timing steps (up to 5,000) until they add up to this; fast models on a noisy machine need it (0: exactly --steps)', default: 20 },
    z.number({ error: '--min-time must be a number' }).nonnegative('--min-time must be >= 0').max(3600, '--min-time must be at most 3600 seconds'),
  ),
  'warmup-steps': flag({ type: 'number', describe: 'untimed warm-up steps', default: 1 }, z.number().int('--warmup-steps must be a whole number').nonnegative('--warmup-steps must be >= 0')),
  seed: SEED,
  json: restate(JSON_OUTPUT, { describe: 'print JSON instead of a table' }),
  objective: choice(['cost', 'time'], { describe: 'sort and pick by total cost or by wall time', default: 'cost' }),
  budget: flag({ type: 'number', describe: 'USD: instances whose projected cost is above it are infeasible' }, z.number({ error: '--budget must be a number' }).positive('--budget must be positive').finite().optional()),
  deadline: flag({ type: 'number', describe: 'hours: instances slower than this are infeasible' }, z.number({ error: '--deadline must be a number' }).positive('--deadline must be positive').finite().optional()),
  spot: SPOT,
  cloud: CLOUD_FILTER,
  region: REGION_FILTER,
  gpu: GPU_FILTER,
  gpus: GPUS_FILTER,
  catalog: CATALOG,
  'max-age-days': MAX_AGE_DAYS,
  top: flag({ type: 'number', describe: 'plan rows in the table (JSON has all)', default: 12 }, z.number().int('--top must be a whole number').nonnegative('--top must be >= 0')),
  report: flag(
    { type: 'string', array: true, describe: 'write a report for budgeting reviews: plan.md and/or plan.html' },
    repeated(z.string().regex(/\.(md|html)$/i, '--report must name a .md or .html file')),
  ),
  exact: flag(
    { type: 'boolean', describe: 'price this configuration as given instead of choosing one per instance: --batch-size (the micro-batch), --grad-accum, --gpus (default 1) and --gradient-checkpointing are kept; --gpu NAME limits the rows to that GPU', default: false },
    z.boolean(),
  ),
  proxy: flag(
    { type: 'boolean', describe: 'measure the model with 1, 2 and 4 blocks and extrapolate to its depth (default: when the whole model would not fit this machine or one step is more than 3 TFLOP); --no-proxy measures it whole' },
    z.boolean().optional(),
  ),
  measurement: flag({ type: 'string', describe: 're-plan from a saved `estimate --json` (or its measurement) without measuring: no LibTorch needed' }, z.string().min(1).optional()),
};

export const ESTIMATE_OPTIONS = optionTable(ESTIMATE_FLAGS);
export const EstimateArgsSchema = z.object(argsShape(ESTIMATE_FLAGS)).strict();
export type EstimateArgs = z.infer<typeof EstimateArgsSchema>;
