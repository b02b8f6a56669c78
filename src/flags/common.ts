/**
 * common.ts — flags more than one command takes, each with one validator; a command restates a
 * flag's help where it means something more specific there (registry.ts).
 */
import { z } from 'zod';
import { BATCHING_POLICIES } from '../data/batching.js';
import { LM_DATA_FORMATS } from '../data/lm-formats.js';
import { TASKS } from '../model/decoder-config.js';
import { DEVICE_FLAG } from '../device.js';
import { CLOUDS } from '../pricing/rows.js';
import { choice, flag } from './registry.js';

export const positiveInt = (what: string) =>
  z.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).positive(`${what} must be at least 1`);

/** A flag given once or more (yargs fills an array; an empty one is no flag). */
export const repeated = <Z extends z.ZodType>(item: Z) => z.preprocess((v) => (Array.isArray(v) ? v.filter((x) => x !== undefined) : v), z.array(item).optional());

/** Which rows of a data set are read, and how (estimate, profile, run, eval). */
export const DATA_FLAGS = {
  'text-column': flag({ type: 'string', describe: 'the text column (default: detected: text, sentence, content, …)' }, z.string().min(1).optional()),
  'label-column': flag({ type: 'string', describe: 'the label column (default: detected: label, labels, label_text, sentiment, …)' }, z.string().min(1).optional()),
  limit: flag({ type: 'number', describe: 'use at most this many training rows (a seeded sample, in file order): start small' }, positiveInt('--limit').optional()),
  'empty-text': choice(['keep', 'drop'], { describe: 'rows with an empty text: keep (as one end-of-text token) or drop', default: 'keep' }),
  'unknown-labels': choice(['drop', 'error'], { describe: 'eval rows whose label the training split lacks: drop, or error', default: 'drop' }),
};

/**
 * What the model learns: a classification head (HF's *ForSequenceClassification: `score` at each
 * row's last real token) or next-token prediction (*ForCausalLM; prompt tokens do not count).
 */
export const TASK = choice(TASKS, { describe: 'classification (a head over the classes at the last token) or causal-lm (next-token loss; prompt tokens and user turns do not count). GPT-2: classification only', default: 'classification' });
/** How a causal-LM data set's rows become token sequences (lm-data.ts). */
export const LM_FORMAT = choice(LM_DATA_FORMATS, {
  describe: "causal-lm rows: text (all of it counts), prompt-completion (only the completion counts), messages (a chat; only the assistant's turns count), labels (a labelled set as \"text → label word\" pairs); auto: messages, prompt + completion, a text with a label column as labels, else text",
  default: 'auto',
});

export const BATCH_SIZE = flag({ type: 'number', describe: 'training micro-batch size', default: 16, alias: 'b' }, positiveInt('--batch-size'));
export const GRAD_ACCUM = flag({ type: 'number', describe: 'gradient accumulation steps', default: 1 }, positiveInt('--grad-accum'));
export const BATCHING = choice(BATCHING_POLICIES, { describe: 'how batches are padded', default: 'longest' });
export const SEED = flag({ type: 'number', describe: 'random seed', default: 42 }, z.number().int('--seed must be a whole number').nonnegative('--seed must be >= 0'));
export const JSON_OUTPUT = flag({ type: 'boolean', describe: 'print JSON', default: false }, z.boolean());

export const DEVICE = flag({ type: 'string', describe: 'auto | cpu | cuda | cuda:N', default: 'auto' }, z.string().regex(DEVICE_FLAG, '--device must be auto, cpu, cuda or cuda:N'));
export const DTYPE = choice(['fp32', 'bf16'], { describe: 'fp32, or bf16 autocast with fp32 master weights', default: 'fp32' });
export const THREADS = flag({ type: 'number', describe: 'CPU threads for LibTorch (default: OMP_NUM_THREADS, else all cores)' }, positiveInt('--threads').max(1024, '--threads must be at most 1024').optional());

/** Which price rows and tables (estimate, pricing). */
export const GPU_FILTER = flag({ type: 'string', describe: 'only this GPU (A100 also matches A100-80GB)' }, z.string().min(1).optional());
// No yargs choices: this message names the flag and the clouds; yargs' would not name the flag.
export const CLOUD_FILTER = flag({ type: 'string', describe: `only this cloud (${CLOUDS.join(', ')})` }, z.enum(CLOUDS, { error: `--cloud must be one of ${CLOUDS.join(', ')}` }).optional());
export const REGION_FILTER = flag({ type: 'string', describe: 'only regions matching this' }, z.string().min(1).optional());
export const GPUS_FILTER = flag({ type: 'number', describe: 'only instances with this many GPUs' }, positiveInt('--gpus').max(16, '--gpus must be at most 16').optional());
export const SPOT = flag({ type: 'boolean', describe: 'price at spot/preemptible rates (rows without spot are left out)', default: false }, z.boolean());
export const CATALOG = flag({ type: 'string', array: true, describe: 'price table(s) instead of the shipped and imported ones: ftplan\'s CSV, or a SkyPilot vms.csv as it is ([cloud=]path)' }, repeated(z.string().min(1)));
export const MAX_AGE_DAYS = flag({ type: 'number', describe: 'flag prices older than this', default: 90 }, z.number().int('--max-age-days must be a whole number').positive('--max-age-days must be positive'));
