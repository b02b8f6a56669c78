/**
 * options.ts — the flags of each command, from one typed table: yargs reads it to parse and print
 * help, zod validates the parsed values (so parsing is testable without running anything).
 */
import { z } from 'zod';
import { BATCHING_POLICIES } from '../data/batching.js';
import { usageError } from '../errors.js';
import { presetNames } from '../model/presets.js';

export interface OptionSpec {
  type: 'string' | 'number' | 'boolean';
  describe: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  alias?: string;
  demandOption?: boolean;
  array?: boolean;
}

const positiveInt = (what: string) =>
  z.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).positive(`${what} must be at least 1`);

const DATA_OPTIONS = {
  'text-column': { type: 'string', describe: 'the text column (default: detected: text, sentence, content, …)' },
  'label-column': { type: 'string', describe: 'the label column (default: detected: label, labels, label_text, sentiment, …)' },
  limit: { type: 'number', describe: 'use at most this many training rows (a seeded sample, in file order): start small' },
  'empty-text': { type: 'string', describe: 'rows with an empty text: keep (as one end-of-text token) or drop', default: 'keep', choices: ['keep', 'drop'] },
  'unknown-labels': { type: 'string', describe: 'eval rows whose label the training split lacks: drop, or error', default: 'drop', choices: ['drop', 'error'] },
} as const satisfies Record<string, OptionSpec>;

export const ESTIMATE_OPTIONS = {
  model: { type: 'string', describe: `a preset (${presetNames().join(', ')}), a Hugging Face model folder, or a hub id (org/name): from the Hugging Face cache, else downloaded into it (config and tokenizer only)`, default: 'gpt2' },
  'batch-size': { type: 'number', describe: 'training micro-batch size', default: 16, alias: 'b' },
  'grad-accum': { type: 'number', describe: 'gradient accumulation steps (effective batch = batch-size × grad-accum)', default: 1 },
  dataset: { type: 'string', describe: 'the data set to plan for (default: the shipped profile of mteb/tweet_sentiment_extraction); file, folder or hub id (org/name, cached or downloaded)' },
  ...DATA_OPTIONS,
  'seq-len': { type: 'number', describe: 'pad every row to this length (default: measured at the data set\'s mean padded length per batch)' },
  batching: { type: 'string', describe: 'how batches are padded (ignored with --seq-len: fixed)', default: 'longest', choices: BATCHING_POLICIES },
  epochs: { type: 'number', describe: 'epochs (default: a rule from the data set\'s size: 3 from 20k rows; capped by --budget)' },
  'eval-batch-size': { type: 'number', describe: 'eval batch size (0: leave eval out)', default: 64 },
  device: { type: 'string', describe: 'auto | cpu | cuda | cuda:N', default: 'auto' },
  dtype: { type: 'string', describe: 'fp32, or bf16 autocast with fp32 master weights', default: 'fp32', choices: ['fp32', 'bf16'] },
  threads: { type: 'number', describe: 'CPU threads for LibTorch (default: all cores)' },
  steps: { type: 'number', describe: 'timed training steps (at least)', default: 5 },
  'min-time': { type: 'number', describe: 'seconds: keep timing steps (up to 5,000) until they add up to this; fast models on a noisy machine need it (0: exactly --steps)', default: 20 },
  'warmup-steps': { type: 'number', describe: 'untimed warm-up steps', default: 1 },
  seed: { type: 'number', describe: 'random seed', default: 42 },
  json: { type: 'boolean', describe: 'print JSON instead of a table', default: false },
  objective: { type: 'string', describe: 'sort and pick by total cost or by wall time', default: 'cost', choices: ['cost', 'time'] },
  budget: { type: 'number', describe: 'USD: instances whose projected cost is above it are infeasible' },
  deadline: { type: 'number', describe: 'hours: instances slower than this are infeasible' },
  spot: { type: 'boolean', describe: 'price at spot/preemptible rates (rows without spot are left out)', default: false },
  cloud: { type: 'string', describe: 'only this cloud (aws, gcp, azure, lambda, runpod, vast)' },
  region: { type: 'string', describe: 'only regions matching this' },
  gpu: { type: 'string', describe: 'only this GPU (A100 also matches A100-80GB)' },
  gpus: { type: 'number', describe: 'only instances with this many GPUs' },
  catalog: { type: 'string', array: true, describe: 'price table(s) instead of the shipped and imported ones: ftplan\'s CSV, or a SkyPilot vms.csv as it is ([cloud=]path)' },
  'max-age-days': { type: 'number', describe: 'flag prices older than this', default: 90 },
  top: { type: 'number', describe: 'plan rows in the table (JSON has all)', default: 12 },
  report: { type: 'string', array: true, describe: 'write a report for budgeting reviews: plan.md and/or plan.html' },
  measurement: { type: 'string', describe: 're-plan from a saved `estimate --json` (or its measurement) without measuring: no LibTorch needed' },
} as const satisfies Record<string, OptionSpec>;

const dataArgs = {
  textColumn: z.string().min(1).optional(),
  labelColumn: z.string().min(1).optional(),
  limit: positiveInt('--limit').optional(),
  emptyText: z.enum(['keep', 'drop']),
  unknownLabels: z.enum(['drop', 'error']),
};

export const EstimateArgsSchema = z
  .object({
    model: z.string(),
    dataset: z.string().min(1).optional(),
    ...dataArgs,
    batchSize: positiveInt('--batch-size'),
    gradAccum: positiveInt('--grad-accum'),
    seqLen: positiveInt('--seq-len').optional(),
    batching: z.enum(['fixed', 'longest', 'grouped']),
    epochs: z.number({ error: '--epochs must be a number' }).int('--epochs must be a whole number').positive('--epochs must be positive').optional(),
    evalBatchSize: z.number().int('--eval-batch-size must be a whole number').nonnegative('--eval-batch-size must be >= 0'),
    device: z.string().regex(/^(auto|cpu|cuda(:\d+)?)$/, '--device must be auto, cpu, cuda or cuda:N'),
    dtype: z.enum(['fp32', 'bf16']),
    threads: positiveInt('--threads').max(1024, '--threads must be at most 1024').optional(),
    steps: positiveInt('--steps').max(1000, '--steps must be at most 1000'),
    minTime: z.number({ error: '--min-time must be a number' }).nonnegative('--min-time must be >= 0').max(3600, '--min-time must be at most 3600 seconds'),
    warmupSteps: z.number().int('--warmup-steps must be a whole number').nonnegative('--warmup-steps must be >= 0'),
    seed: z.number().int('--seed must be a whole number').nonnegative('--seed must be >= 0'),
    json: z.boolean(),
    objective: z.enum(['cost', 'time']),
    budget: z.number({ error: '--budget must be a number' }).positive('--budget must be positive').finite().optional(),
    deadline: z.number({ error: '--deadline must be a number' }).positive('--deadline must be positive').finite().optional(),
    spot: z.boolean(),
    cloud: z.enum(['aws', 'gcp', 'azure', 'lambda', 'runpod', 'vast'], { error: '--cloud must be one of aws, gcp, azure, lambda, runpod, vast' }).optional(),
    region: z.string().min(1).optional(),
    gpu: z.string().min(1).optional(),
    gpus: positiveInt('--gpus').max(16, '--gpus must be at most 16').optional(),
    catalog: z.preprocess((v) => (Array.isArray(v) ? v.filter((x) => x !== undefined) : v), z.array(z.string().min(1)).optional()),
    maxAgeDays: z.number().int('--max-age-days must be a whole number').positive('--max-age-days must be positive'),
    top: z.number().int('--top must be a whole number').nonnegative('--top must be >= 0'),
    report: z.preprocess(
      (v) => (Array.isArray(v) ? v.filter((x) => x !== undefined) : v),
      z.array(z.string().regex(/\.(md|html)$/i, '--report must name a .md or .html file')).optional(),
    ),
    measurement: z.string().min(1).optional(),
  })
  .strict();

export type EstimateArgs = z.infer<typeof EstimateArgsSchema>;

export const PROFILE_OPTIONS = {
  dataset: { type: 'string', describe: 'a jsonl/csv/tsv/parquet file, a folder with train/test files, or a Hugging Face data set id (org/name): from the Hugging Face cache, else its parquet files downloaded into it', demandOption: true },
  ...DATA_OPTIONS,
  tokenizer: { type: 'string', describe: 'a model folder whose tokenizer to use (default: the embedded GPT-2 tokenizer)' },
  'batch-size': { type: 'number', describe: 'batch size for the tokens-per-epoch of each batching policy', default: 16, alias: 'b' },
  'max-length': { type: 'number', describe: 'truncate rows to this many tokens (the model\'s positions)', default: 1024 },
  seed: { type: 'number', describe: 'seed of --limit\'s sample and of the batching simulation', default: 42 },
  json: { type: 'boolean', describe: 'print JSON (the profile, schema ftplan.profile/1, plus the batching costs)', default: false },
} as const satisfies Record<string, OptionSpec>;

export const ProfileArgsSchema = z
  .object({
    dataset: z.string({ error: '--dataset is required' }).min(1, '--dataset is required'),
    ...dataArgs,
    tokenizer: z.string().min(1).optional(),
    batchSize: positiveInt('--batch-size'),
    maxLength: positiveInt('--max-length'),
    seed: z.number().int('--seed must be a whole number').nonnegative('--seed must be >= 0'),
    json: z.boolean(),
  })
  .strict();

export type ProfileArgs = z.infer<typeof ProfileArgsSchema>;

/** The flags yargs gives us, renamed to the schema's camelCase keys and validated; the first problem is a usage error. */
export function parseArgs<S extends z.ZodType>(schema: S, table: Record<string, OptionSpec>, raw: Record<string, unknown>, command: string): z.infer<S> {
  const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const picked = Object.fromEntries(Object.keys(table).map((k) => [camel(k), raw[camel(k)]]));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? '');
    if (issue && issue.path.length === 1 && Array.isArray(picked[key]) && !table[key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)]?.array) {
      throw usageError(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is given more than once (${(picked[key] as unknown[]).join(', ')})`, 'give it once');
    }
    const flag = `--${String(issue?.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const message = issue?.message.startsWith('--') ? issue.message : `${flag}: ${issue?.message ?? 'invalid'}`;
    throw usageError(message, `see \`ftplan ${command} --help\``);
  }
  return parsed.data;
}

export const PRICING_OPTIONS = {
  gpu: { type: 'string', describe: 'GPU (T4, L4, A10G, A10, L40S, A100, A100-80GB, H100, H100-PCIe, H200); A100 also matches A100-80GB' },
  cloud: { type: 'string', describe: 'aws, gcp, azure, lambda, runpod, vast' },
  region: { type: 'string', describe: 'region (substring match)' },
  gpus: { type: 'number', describe: 'GPUs per instance' },
  spot: { type: 'boolean', describe: 'only rows with a spot price, priced at spot', default: false },
  catalog: { type: 'string', array: true, describe: 'price table(s) to use instead of the shipped and imported ones: ftplan\'s CSV, or a SkyPilot vms.csv as it is ([cloud=]path)' },
  'max-age-days': { type: 'number', describe: 'flag prices older than this', default: 90 },
  limit: { type: 'number', describe: 'rows to print (0: all)', default: 30 },
  json: { type: 'boolean', describe: 'print JSON', default: false },
} as const satisfies Record<string, OptionSpec>;

export const PricingArgsSchema = z
  .object({
    gpu: z.string().min(1).optional(),
    cloud: z.enum(['aws', 'gcp', 'azure', 'lambda', 'runpod', 'vast'], { error: '--cloud must be one of aws, gcp, azure, lambda, runpod, vast' }).optional(),
    region: z.string().min(1).optional(),
    gpus: positiveInt('--gpus').max(16, '--gpus must be at most 16').optional(),
    spot: z.boolean(),
    catalog: z.preprocess((v) => (Array.isArray(v) ? v.filter((x) => x !== undefined) : v), z.array(z.string().min(1)).optional()),
    maxAgeDays: z.number().int('--max-age-days must be a whole number').positive('--max-age-days must be positive'),
    limit: z.number().int('--limit must be a whole number').nonnegative('--limit must be >= 0'),
    json: z.boolean(),
  })
  .strict();
export type PricingArgs = z.infer<typeof PricingArgsSchema>;

export const IMPORT_OPTIONS = {
  file: { type: 'string', describe: 'a SkyPilot vms.csv', demandOption: true },
  cloud: { type: 'string', describe: 'the cloud the catalog is for', demandOption: true, choices: ['aws', 'gcp', 'azure', 'lambda', 'runpod', 'vast'] },
  'as-of': { type: 'string', describe: 'the date the catalog was fetched (YYYY-MM-DD; default: the file\'s modification date)' },
  source: { type: 'string', describe: 'where the catalog came from (default: the file path)' },
  json: { type: 'boolean', describe: 'print the import counts as JSON', default: false },
} as const satisfies Record<string, OptionSpec>;

export const ImportArgsSchema = z
  .object({
    file: z.string().min(1),
    cloud: z.enum(['aws', 'gcp', 'azure', 'lambda', 'runpod', 'vast']),
    asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, '--as-of must be a date YYYY-MM-DD').optional(),
    source: z.string().min(1).optional(),
    json: z.boolean(),
  })
  .strict();
export type ImportArgs = z.infer<typeof ImportArgsSchema>;

export const RUN_OPTIONS = {
  model: { type: 'string', describe: 'a preset, a Hugging Face model folder, or a hub id (org/name): from the Hugging Face cache, else downloaded into it with its weights', default: 'gpt2' },
  dataset: { type: 'string', describe: 'a jsonl/csv/tsv/parquet file, a folder with train/test files, or a hub data set id (org/name), cached or downloaded', demandOption: true },
  ...DATA_OPTIONS,
  'eval-limit': { type: 'number', describe: 'evaluate on at most this many rows of the eval split (default: all)' },
  init: { type: 'string', describe: 'pretrained (a folder\'s weights) or random (the shape only)', default: 'pretrained', choices: ['pretrained', 'random'] },
  epochs: { type: 'number', describe: 'epochs', default: 3 },
  'batch-size': { type: 'number', describe: 'training micro-batch size', default: 16, alias: 'b' },
  'eval-batch-size': { type: 'number', describe: 'eval batch size', default: 64 },
  'grad-accum': { type: 'number', describe: 'gradient accumulation steps', default: 1 },
  lr: { type: 'number', describe: 'peak learning rate (AdamW)', default: 5e-5 },
  'warmup-ratio': { type: 'number', describe: 'fraction of the steps spent warming the learning rate up', default: 0 },
  'weight-decay': { type: 'number', describe: 'AdamW weight decay', default: 0 },
  'max-grad-norm': { type: 'number', describe: 'gradient clipping (0: off)', default: 1 },
  scheduler: { type: 'string', describe: 'learning-rate schedule', default: 'linear', choices: ['linear', 'cosine', 'constant'] },
  seed: { type: 'number', describe: 'seed of initialisation, dropout and data order', default: 42 },
  dtype: { type: 'string', describe: 'fp32, or bf16 autocast with fp32 master weights', default: 'fp32', choices: ['fp32', 'bf16'] },
  device: { type: 'string', describe: 'auto | cpu | cuda | cuda:N', default: 'auto' },
  threads: { type: 'number', describe: 'CPU threads for LibTorch (default: all cores)' },
  'max-steps': { type: 'number', describe: 'stop after this many optimizer steps (0: no limit)', default: 0 },
  'eval-steps': { type: 'number', describe: 'also evaluate every N steps (0: each epoch only)', default: 0 },
  batching: { type: 'string', describe: 'how batches are padded', default: 'longest', choices: ['fixed', 'longest', 'grouped'] },
  'output-dir': { type: 'string', describe: 'where checkpoints, metrics.jsonl, curves and the final model go', default: 'ftplan-output' },
  'save-steps': { type: 'number', describe: 'also write a checkpoint every N steps (0: each epoch only)', default: 0 },
  resume: { type: 'string', describe: 'continue from the latest checkpoint in --output-dir (or the checkpoint folder named): the same final weights as an uninterrupted run' },
  'price-per-hour': { type: 'number', describe: 'USD per hour of the machine, to show and guard the spend' },
  instance: { type: 'string', describe: 'take --price-per-hour from the price tables (cheapest row of this instance type)' },
  estimate: { type: 'string', describe: 'an `ftplan estimate --json` file to compare the run with (default: measure a short one first)' },
  'early-stopping-patience': { type: 'number', describe: 'stop after this many evaluations without a better eval accuracy (0: off)', default: 0 },
  report: { type: 'string', describe: 'also write the final report as Markdown to this file (.md)' },
  budget: { type: 'number', describe: 'USD: stop before the spend would pass it (needs --price-per-hour), keeping a checkpoint' },
  json: { type: 'boolean', describe: 'print the final report as JSON', default: false },
  nproc: { type: 'number', describe: 'data-parallel worker processes on this machine (one per GPU; on a CPU, each gets cores/nproc threads)', default: 1 },
  nnodes: { type: 'number', describe: 'machines in the run (each runs `ftplan run` with the same flags and its own --node-rank)', default: 1 },
  'node-rank': { type: 'number', describe: 'this machine\'s index in [0, --nnodes)', default: 0 },
  'master-addr': { type: 'string', describe: 'address of node 0 (it hosts the c10d TCPStore)', default: '127.0.0.1' },
  'master-port': { type: 'number', describe: 'port of the TCPStore on node 0', default: 29500 },
  'dist-timeout': { type: 'number', describe: 'seconds a rank waits for the others (rendezvous and each collective) before failing', default: 300 },
  'bucket-mb': { type: 'number', describe: 'gradient all-reduce bucket size in MB (DDP\'s default: 25)', default: 25 },
} as const satisfies Record<string, OptionSpec>;

export const RunArgsSchema = z
  .object({
    model: z.string().min(1),
    dataset: z.string({ error: '--dataset is required' }).min(1, '--dataset is required'),
    ...dataArgs,
    evalLimit: positiveInt('--eval-limit').optional(),
    init: z.enum(['pretrained', 'random']),
    epochs: positiveInt('--epochs').max(1000, '--epochs must be at most 1000'),
    batchSize: positiveInt('--batch-size'),
    evalBatchSize: positiveInt('--eval-batch-size'),
    gradAccum: positiveInt('--grad-accum'),
    lr: z.number({ error: '--lr must be a number' }).positive('--lr must be positive').finite('--lr must be finite'),
    warmupRatio: z.number().min(0, '--warmup-ratio must be in [0, 1)').lt(1, '--warmup-ratio must be in [0, 1)'),
    weightDecay: z.number().min(0, '--weight-decay must be >= 0').finite(),
    maxGradNorm: z.number().min(0, '--max-grad-norm must be >= 0').finite(),
    scheduler: z.enum(['linear', 'cosine', 'constant']),
    seed: z.number().int('--seed must be a whole number').nonnegative('--seed must be >= 0'),
    dtype: z.enum(['fp32', 'bf16']),
    device: z.string().regex(/^(auto|cpu|cuda(:\d+)?)$/, '--device must be auto, cpu, cuda or cuda:N'),
    threads: positiveInt('--threads').max(1024).optional(),
    maxSteps: z.number().int('--max-steps must be a whole number').nonnegative('--max-steps must be >= 0'),
    evalSteps: z.number().int('--eval-steps must be a whole number').nonnegative('--eval-steps must be >= 0'),
    batching: z.enum(['fixed', 'longest', 'grouped']),
    outputDir: z.string().min(1),
    saveSteps: z.number().int('--save-steps must be a whole number').nonnegative('--save-steps must be >= 0'),
    resume: z.string().optional(),
    pricePerHour: z.number().positive('--price-per-hour must be positive').finite().optional(),
    instance: z.string().min(1).optional(),
    estimate: z.string().min(1).optional(),
    earlyStoppingPatience: z.number().int('--early-stopping-patience must be a whole number').nonnegative('--early-stopping-patience must be >= 0'),
    report: z.string().regex(/\.md$/i, '--report must name a .md file').optional(),
    budget: z.number().positive('--budget must be positive').finite().optional(),
    json: z.boolean(),
    nproc: positiveInt('--nproc').max(64, '--nproc must be at most 64'),
    nnodes: positiveInt('--nnodes').max(1024, '--nnodes must be at most 1024'),
    nodeRank: z.number().int('--node-rank must be a whole number').nonnegative('--node-rank must be >= 0'),
    masterAddr: z.string().min(1, '--master-addr must not be empty'),
    masterPort: z.number().int('--master-port must be a whole number').min(1, '--master-port must be in [1, 65535]').max(65535, '--master-port must be in [1, 65535]'),
    distTimeout: z.number({ error: '--dist-timeout must be a number' }).positive('--dist-timeout must be positive').max(86400, '--dist-timeout must be at most 86400 s'),
    bucketMb: z.number({ error: '--bucket-mb must be a number' }).positive('--bucket-mb must be positive').max(4096, '--bucket-mb must be at most 4096'),
  })
  .strict()
  .refine((a) => a.nodeRank < a.nnodes, { message: '--node-rank must be in [0, --nnodes)', path: ['nodeRank'] })
  .refine((a) => a.budget === undefined || a.pricePerHour !== undefined || a.instance !== undefined, { message: '--budget needs --price-per-hour or --instance (the spend is hours × price)', path: ['budget'] });
export type RunArgs = z.infer<typeof RunArgsSchema>;

export const EVAL_OPTIONS = {
  model: { type: 'string', describe: 'a checkpoint folder (or any model --model takes)', demandOption: true },
  dataset: { type: 'string', describe: 'a file (all of it is evaluated), or a folder / hub id: its test split, else validation (no train file needed)', demandOption: true },
  ...DATA_OPTIONS,
  'eval-batch-size': { type: 'number', describe: 'eval batch size', default: 64 },
  device: { type: 'string', describe: 'auto | cpu | cuda | cuda:N', default: 'auto' },
  dtype: { type: 'string', describe: 'fp32 or bf16', default: 'fp32', choices: ['fp32', 'bf16'] },
  threads: { type: 'number', describe: 'CPU threads for LibTorch (default: all cores)' },
  json: { type: 'boolean', describe: 'print JSON', default: false },
} as const satisfies Record<string, OptionSpec>;

export const EvalArgsSchema = z
  .object({
    model: z.string().min(1),
    dataset: z.string().min(1),
    ...dataArgs,
    evalBatchSize: positiveInt('--eval-batch-size'),
    device: z.string().regex(/^(auto|cpu|cuda(:\d+)?)$/, '--device must be auto, cpu, cuda or cuda:N'),
    dtype: z.enum(['fp32', 'bf16']),
    threads: positiveInt('--threads').max(1024).optional(),
    json: z.boolean(),
  })
  .strict();
export type EvalArgs = z.infer<typeof EvalArgsSchema>;
