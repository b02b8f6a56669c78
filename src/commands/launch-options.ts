/** `ftplan launch`'s flags: the run's (what to run) plus where and how (see launch.ts). */
import { RUN_OPTIONS, type OptionSpec } from './options.js';

export const LAUNCH_OPTIONS = {
  ...RUN_OPTIONS,
  // With --plan these come from the plan (its model, and its pick's micro-batch and accumulation):
  // no defaults here, so a value given by hand can be told from none.
  model: { type: 'string', describe: 'a preset, a Hugging Face model folder, or a hub id (default: the --plan\'s model, else gpt2)' },
  'batch-size': { type: 'number', describe: 'each rank\'s micro-batch (default: the --plan\'s pick split over the ranks, else 16)', alias: 'b' },
  'grad-accum': { type: 'number', describe: 'gradient accumulation steps per rank (default: from the --plan, else 1)' },
  emit: { type: 'string', describe: 'what to write: a SkyPilot task YAML', choices: ['skypilot'], demandOption: true },
  plan: { type: 'string', describe: 'an `ftplan estimate --json` file: launch its recommended instance (cloud, instance type, GPUs)' },
  gpu: { type: 'string', describe: 'accelerator when no --plan (SkyPilot name, e.g. H100, A100-80GB)' },
  gpus: { type: 'number', describe: 'GPUs per node when no --plan', default: 1 },
  cloud: { type: 'string', describe: 'cloud (aws, gcp, azure, lambda, runpod, …); default: the plan\'s, else any' },
  region: { type: 'string', describe: 'region; default: the plan\'s, else any' },
  spot: { type: 'boolean', describe: 'use spot instances', default: false },
  'disk-size': { type: 'number', describe: 'disk per node, GB', default: 256 },
  name: { type: 'string', describe: 'SkyPilot task name', default: 'ftplan' },
  'torch-version': { type: 'string', describe: 'PyTorch wheel whose libtorch the nodes build against', default: '2.5.1' },
  output: { type: 'string', describe: 'write the YAML here (default: stdout)' },
} as const satisfies Record<string, OptionSpec>;
