/**
 * options.ts — the flags of each command, from one typed table: yargs reads it to parse and print
 * help, zod validates the parsed values (so parsing is testable without running anything).
 */
import { z } from 'zod';
import { BATCHING_POLICIES } from '../data/batching.js';
import { presetNames } from '../model/presets.js';

export interface OptionSpec {
  type: 'string' | 'number' | 'boolean';
  describe: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  alias?: string;
}

const positiveInt = (what: string) =>
  z.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).positive(`${what} must be at least 1`);

export const ESTIMATE_OPTIONS = {
  model: { type: 'string', describe: 'model preset', default: 'gpt2', choices: presetNames() },
  'batch-size': { type: 'number', describe: 'training micro-batch size', default: 16, alias: 'b' },
  'grad-accum': { type: 'number', describe: 'gradient accumulation steps (effective batch = batch-size × grad-accum)', default: 1 },
  'seq-len': { type: 'number', describe: 'pad every row to this length (default: measured at the data set\'s mean padded length per batch)' },
  batching: { type: 'string', describe: 'how batches are padded (ignored with --seq-len: fixed)', default: 'longest', choices: BATCHING_POLICIES },
  epochs: { type: 'number', describe: 'epochs to project', default: 3 },
  'eval-batch-size': { type: 'number', describe: 'eval batch size (0: leave eval out)', default: 64 },
  device: { type: 'string', describe: 'auto | cpu | cuda | cuda:N', default: 'auto' },
  dtype: { type: 'string', describe: 'fp32, or bf16 autocast with fp32 master weights', default: 'fp32', choices: ['fp32', 'bf16'] },
  threads: { type: 'number', describe: 'CPU threads for LibTorch (default: all cores)' },
  steps: { type: 'number', describe: 'timed training steps', default: 5 },
  'warmup-steps': { type: 'number', describe: 'untimed warm-up steps', default: 1 },
  seed: { type: 'number', describe: 'random seed', default: 42 },
  json: { type: 'boolean', describe: 'print JSON instead of a table', default: false },
} as const satisfies Record<string, OptionSpec>;

export const EstimateArgsSchema = z
  .object({
    model: z.string(),
    batchSize: positiveInt('--batch-size'),
    gradAccum: positiveInt('--grad-accum'),
    seqLen: positiveInt('--seq-len').optional(),
    batching: z.enum(['fixed', 'longest', 'grouped']),
    epochs: z.number({ error: '--epochs must be a number' }).positive('--epochs must be positive').finite(),
    evalBatchSize: z.number().int('--eval-batch-size must be a whole number').nonnegative('--eval-batch-size must be >= 0'),
    device: z.string().regex(/^(auto|cpu|cuda(:\d+)?)$/, '--device must be auto, cpu, cuda or cuda:N'),
    dtype: z.enum(['fp32', 'bf16']),
    threads: positiveInt('--threads').max(1024, '--threads must be at most 1024').optional(),
    steps: positiveInt('--steps').max(1000, '--steps must be at most 1000'),
    warmupSteps: z.number().int('--warmup-steps must be a whole number').nonnegative('--warmup-steps must be >= 0'),
    seed: z.number().int('--seed must be a whole number').nonnegative('--seed must be >= 0'),
    json: z.boolean(),
  })
  .strict();

export type EstimateArgs = z.infer<typeof EstimateArgsSchema>;
