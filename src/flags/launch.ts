/**
 * launch.ts — `ftplan launch`'s flags (registry.ts): the run's (what to run, validated as run's)
 * plus where and how (validated here; see commands/launch.ts).
 */
import { z } from 'zod';
import { TASKS } from '../model/decoder-config.js';
import { argsShape, flag, optionTable, type OptionSpec } from './registry.js';
import { RUN_OPTIONS } from './run.js';

/** The flags only launch takes. */
export const LAUNCH_ONLY_FLAGS = {
  emit: flag({ type: 'string', describe: 'what to write: a SkyPilot task YAML', choices: ['skypilot'], demandOption: true } as const, z.literal('skypilot', { error: '--emit must be skypilot' })),
  plan: flag({ type: 'string', describe: 'an `ftplan estimate --json` file: launch its recommended instance (cloud, instance type, GPUs)' }, z.string().min(1).optional()),
  gpu: flag({ type: 'string', describe: 'accelerator when no --plan (SkyPilot name, e.g. H100, A100-80GB)' }, z.string().regex(/^[A-Za-z0-9-]+$/, '--gpu must be an accelerator name such as H100').optional()),
  gpus: flag({ type: 'number', describe: 'GPUs per node when no --plan', default: 1 }, z.number().int('--gpus must be a whole number').positive('--gpus must be positive').max(16, '--gpus must be at most 16')),
  // Any cloud SkyPilot knows, not only the ones ftplan has prices for.
  cloud: flag({ type: 'string', describe: 'cloud (aws, gcp, azure, lambda, runpod, …); default: the plan\'s, else any' }, z.string().regex(/^[a-z]+$/, '--cloud must be a lower-case cloud name').optional()),
  region: flag({ type: 'string', describe: 'region; default: the plan\'s, else any' }, z.string().min(1).optional()),
  spot: flag({ type: 'boolean', describe: 'use spot instances', default: false }, z.boolean()),
  'disk-size': flag({ type: 'number', describe: 'disk per node, GB', default: 256 }, z.number().int('--disk-size must be a whole number').positive('--disk-size must be positive')),
  name: flag({ type: 'string', describe: 'SkyPilot task name', default: 'ftplan' }, z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9-_.]*$/, '--name: letters, digits, - _ .')),
  'torch-version': flag({ type: 'string', describe: 'PyTorch wheel whose libtorch the nodes build against', default: '2.5.1' }, z.string().regex(/^\d+\.\d+(\.\d+)?$/, '--torch-version must look like 2.5.1')),
  output: flag({ type: 'string', describe: 'write the YAML here (default: stdout)' }, z.string().min(1).optional()),
};
export const LaunchOnlyArgsSchema = z.object(argsShape(LAUNCH_ONLY_FLAGS)).strict();
export type LaunchOnlyArgs = z.infer<typeof LaunchOnlyArgsSchema>;

/**
 * Everything launch parses: the run's flags (checked by RunArgsSchema), then its own. With --plan,
 * the model, micro-batch and accumulation come from the plan: no defaults here, so a value given by
 * hand can be told from none.
 */
export const LAUNCH_OPTIONS = {
  ...RUN_OPTIONS,
  model: { type: 'string', describe: 'a preset, a Hugging Face model folder, or a hub id (default: the --plan\'s model, else gpt2)' },
  task: { type: 'string', choices: TASKS, describe: 'classification or causal-lm (default: the --plan\'s task, else classification)' },
  'batch-size': { type: 'number', describe: 'each rank\'s micro-batch (default: the --plan\'s pick split over the ranks, else 16)', alias: 'b' },
  'grad-accum': { type: 'number', describe: 'gradient accumulation steps per rank (default: from the --plan, else 1)' },
  ...optionTable(LAUNCH_ONLY_FLAGS),
} as const satisfies Record<string, OptionSpec>;
