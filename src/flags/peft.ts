/**
 * peft.ts — the flags that choose what trains (registry.ts): the method (every weight, LoRA on a
 * frozen base, LoRA on an NF4 base, the head only), LoRA's settings, the frozen base's dtype and
 * activation checkpointing. estimate, run, eval and sweep take them from here.
 *
 * None of them has a yargs default: a flag the chosen method does not use is an error only when it
 * was given, and the defaults (train/peft.ts, PEFT_DEFAULTS) are applied where the method is known.
 */
import { z } from 'zod';
import { positiveInt } from './common.js';
import { flag } from './registry.js';

export const METHODS = ['full', 'lora', 'qlora', 'head'] as const;
export const BASE_DTYPES = ['bf16', 'fp32'] as const;

const method = (values: readonly [string, ...string[]], extra: string) =>
  flag(
    {
      type: 'string',
      choices: values,
      describe: `what trains: full (every weight), lora (LoRA adapters on a frozen base, PEFT's semantics), qlora (LoRA on an NF4-quantised base), head (the classification head only; --unfreeze-last N also trains the last N blocks)${extra}; default full`,
    },
    z.enum(values as readonly [string, ...string[]], { error: `--method must be one of ${values.join(', ')}` }).optional(),
  );

/** The flags every training command shares. */
export const PEFT_FLAGS = {
  method: method(METHODS, ''),
  'lora-r': flag({ type: 'number', describe: 'lora/qlora: the adapters\' rank; default 16' }, positiveInt('--lora-r').max(65536, '--lora-r must be at most 65536').optional()),
  'lora-alpha': flag(
    { type: 'number', describe: 'lora/qlora: the adapters\' output is scaled by alpha / r; default 32' },
    z.number({ error: '--lora-alpha must be a number' }).positive('--lora-alpha must be positive').finite('--lora-alpha must be finite').optional(),
  ),
  'lora-dropout': flag(
    { type: 'number', describe: 'lora/qlora: dropout on the adapters\' input, in [0, 1); default 0.05' },
    z.number({ error: '--lora-dropout must be a number' }).min(0, '--lora-dropout must be in [0, 1)').lt(1, '--lora-dropout must be in [0, 1)').optional(),
  ),
  'lora-target': flag(
    { type: 'string', describe: 'lora/qlora: which linear layers get adapters: all-linear (every linear layer of the blocks, PEFT\'s meaning) or leaf names, e.g. q_proj,v_proj (GPT-2: c_attn, c_proj, c_fc); default all-linear' },
    z.string().min(1, '--lora-target is empty').optional(),
  ),
  'base-dtype': flag(
    { type: 'string', choices: BASE_DTYPES, describe: 'lora: how the frozen base weights are held; qlora: the dtype NF4 weights are dequantised to; default bf16' },
    z.enum(BASE_DTYPES, { error: '--base-dtype must be bf16 or fp32' }).optional(),
  ),
  'double-quant': flag({ type: 'boolean', describe: 'qlora: quantise the NF4 blocks\' absmax scales too (bitsandbytes\' double quantisation)' }, z.boolean().optional()),
  'unfreeze-last': flag(
    { type: 'number', describe: 'head: also train the last N blocks; default 0' },
    z.number({ error: '--unfreeze-last must be a number' }).int('--unfreeze-last must be a whole number').nonnegative('--unfreeze-last must be >= 0').optional(),
  ),
  'gradient-checkpointing': flag({ type: 'boolean', describe: 'recompute each block\'s activations in the backward pass instead of keeping them (less memory, about a third more compute); any method' }, z.boolean().optional()),
};

/** estimate's: `auto` also (the planner prices every method and picks). */
export const ESTIMATE_PEFT_FLAGS = {
  ...PEFT_FLAGS,
  method: method([...METHODS, 'auto'], '; auto: the planner prices full, lora and qlora and picks'),
};

/** An adapter folder to start from (run) or to evaluate (eval). */
export const ADAPTER = flag(
  { type: 'string', describe: 'a LoRA adapter folder (adapter_config.json + adapter_model.safetensors, as ftplan or Hugging Face PEFT saves them) on top of --model' },
  z.string().min(1, '--adapter is empty').optional(),
);
export const FORCE_BASE = flag(
  { type: 'boolean', describe: 'load --adapter onto --model even though the adapter names another base model (base_model_name_or_path); the shapes must still match' },
  z.boolean().optional(),
);
export const MERGE = flag(
  { type: 'boolean', describe: 'lora/qlora: also write the base with the adapters merged in (W + alpha/r · B·A) as a Hugging Face model folder, <output-dir>/merged' },
  z.boolean().optional(),
);

/** The PEFT flags' values as the commands' parsed arguments hold them (camelCase). */
export interface PeftArgs {
  method?: string;
  loraR?: number;
  loraAlpha?: number;
  loraDropout?: number;
  loraTarget?: string;
  baseDtype?: (typeof BASE_DTYPES)[number];
  doubleQuant?: boolean;
  unfreezeLast?: number;
  gradientCheckpointing?: boolean;
}
