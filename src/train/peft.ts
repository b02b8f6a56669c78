/**
 * peft.ts — what trains, from the flags (flags/peft.ts) to the options the native core takes
 * (PeftOptions, native/types.ts): the method and its settings with the CLI's defaults (LoRA r 16,
 * alpha 32, dropout 0.05, every linear layer; the base in bf16), every flag the method does not use
 * refused by name, the targets checked against the model's linear layers, and the one-line account
 * of what trains ("LoRA r 16 on 7 modules × 24 layers: 8.8 M of 494 M parameters trainable").
 */
import { FtplanError, usageError } from '../errors.js';
import { kebab } from '../flags/registry.js';
import type { PeftArgs } from '../flags/peft.js';
import { lastBlocksParameters, loraParameters, modelParameters, parseTargets, headParameters } from '../model/lora-modules.js';
import { isDecoderConfig, modelLayers, type AnyModelConfig } from '../model/model-config.js';
import type { Dtype, Method, PeftOptions } from '../native/types.js';

/** The CLI's defaults (PEFT's LoraConfig has r 8, alpha 8, dropout 0: the CLI passes its own explicitly). */
export const PEFT_DEFAULTS = { loraR: 16, loraAlpha: 32, loraDropout: 0.05, baseDtype: 'bf16' as Dtype, unfreezeLast: 0 };

export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  /** leaf names (q_proj, c_attn, …): --lora-target all-linear lists every one */
  targets: string[];
}

/** What a run or a measurement trains, as the reports and the JSON carry it. */
export interface PeftSettings {
  method: Method;
  lora: LoraSettings | null;
  /** lora/qlora: the frozen base's dtype (qlora: what NF4 weights are dequantised to) */
  baseDtype: Dtype | null;
  /** qlora */
  doubleQuant: boolean;
  /** head */
  unfreezeLast: number;
  gradientCheckpointing: boolean;
}

export const FULL: PeftSettings = { method: 'full', lora: null, baseDtype: null, doubleQuant: false, unfreezeLast: 0, gradientCheckpointing: false };

export const isAdapterMethod = (m: Method): m is 'lora' | 'qlora' => m === 'lora' || m === 'qlora';

/** Which method each flag belongs to: given with another, it is an error. */
const FLAG_METHODS: Record<string, readonly Method[]> = {
  loraR: ['lora', 'qlora'],
  loraAlpha: ['lora', 'qlora'],
  loraDropout: ['lora', 'qlora'],
  loraTarget: ['lora', 'qlora'],
  baseDtype: ['lora', 'qlora'],
  doubleQuant: ['qlora'],
  unfreezeLast: ['head'],
};

/**
 * The method the flags name, each flag it does not use refused by name: what can be checked before
 * the model and the data are loaded (a hub download, a tokenized data set).
 */
export function checkMethodFlags(args: PeftArgs): Method {
  const m = (args.method ?? 'full') as Method | 'auto';
  if (m === 'auto') throw usageError('--method auto chooses among methods when planning (ftplan estimate); a run trains one', 'give --method full, lora, qlora or head');
  for (const [key, methods] of Object.entries(FLAG_METHODS)) {
    const v = (args as unknown as Record<string, unknown>)[key];
    const given = v !== undefined && v !== false;
    if (given && !methods.includes(m)) {
      const flag = `--${kebab(key)}`;
      throw usageError(`${flag} is for --method ${methods.join(' or ')}, and the method is ${m}${args.method === undefined ? ' (the default)' : ''}`, `add --method ${methods[0]}, or leave ${flag} out`);
    }
  }
  return m;
}

/**
 * The flags as settings for `cfg`. `--method auto` is not a method a session trains (the planner
 * resolves it first: estimate/method.ts); here it is a usage error.
 */
export function peftSettings(args: PeftArgs, cfg: AnyModelConfig, modelName: string): PeftSettings {
  const m = checkMethodFlags(args);
  const gradientCheckpointing = args.gradientCheckpointing === true;
  if (m === 'full') return { ...FULL, gradientCheckpointing };
  if (m === 'head') {
    const n = args.unfreezeLast ?? PEFT_DEFAULTS.unfreezeLast;
    const layers = modelLayers(cfg);
    if (n > layers) throw usageError(`--unfreeze-last ${n}: ${modelName} has ${layers} blocks`, `give --unfreeze-last ${layers} or fewer (${layers}: every block, with the embeddings frozen)`);
    return { ...FULL, method: 'head', unfreezeLast: n, gradientCheckpointing };
  }
  const lora: LoraSettings = {
    r: args.loraR ?? PEFT_DEFAULTS.loraR,
    alpha: args.loraAlpha ?? PEFT_DEFAULTS.loraAlpha,
    dropout: args.loraDropout ?? PEFT_DEFAULTS.loraDropout,
    targets: parseTargets(args.loraTarget, cfg, modelName),
  };
  return { method: m, lora, baseDtype: args.baseDtype ?? PEFT_DEFAULTS.baseDtype, doubleQuant: m === 'qlora' && args.doubleQuant === true, unfreezeLast: 0, gradientCheckpointing };
}

/**
 * The options the native core takes. Full fine-tuning without checkpointing passes nothing, so a
 * core that predates PEFT trains it exactly as before.
 */
export function nativePeft(s: PeftSettings): PeftOptions {
  if (s.method === 'full') return s.gradientCheckpointing ? { method: 'full', gradientCheckpointing: true } : {};
  const o: PeftOptions = { method: s.method, gradientCheckpointing: s.gradientCheckpointing };
  if (s.method === 'head') return { ...o, unfreezeLast: s.unfreezeLast };
  const l = s.lora as LoraSettings;
  return { ...o, loraR: l.r, loraAlpha: l.alpha, loraDropout: l.dropout, loraTargets: [...l.targets], baseDtype: s.baseDtype ?? 'bf16', ...(s.method === 'qlora' ? { nf4DoubleQuant: s.doubleQuant } : {}) };
}

/** Parameters the method trains (adapters and the head; the head and the last blocks; all), from the shapes alone. */
export function trainableParameters(s: PeftSettings, cfg: AnyModelConfig): number {
  if (s.method === 'full') return modelParameters(cfg);
  // causal-lm: the head is the LM head (vocabulary × width), which the core trains untied
  const head = isDecoderConfig(cfg) && cfg.task === 'causal-lm' ? cfg.vocabSize * cfg.hiddenSize : headParameters(cfg);
  if (s.method === 'head') return head + lastBlocksParameters(cfg, s.unfreezeLast);
  return loraParameters(cfg, s.lora!.targets, s.lora!.r).total;
}

const mega = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));

/** One line: what trains and its share, e.g. "LoRA r 16 on 7 modules × 24 layers: 8.8 M of 494 M parameters trainable". */
export function describePeft(s: PeftSettings, cfg: AnyModelConfig, counts?: { trainable: number; total: number }): string {
  const total = counts?.total ?? modelParameters(cfg);
  const trainable = counts?.trainable ?? trainableParameters(s, cfg);
  const share = `${mega(trainable)} of ${mega(total)} parameters trainable (${((trainable / total) * 100).toFixed(trainable / total < 0.01 ? 3 : 1)}%)`;
  const ckpt = s.gradientCheckpointing ? '; gradient checkpointing' : '';
  const layers = modelLayers(cfg);
  if (s.method === 'full') return `full fine-tuning: ${share}${ckpt}`;
  if (s.method === 'head') return `head only${s.unfreezeLast ? ` + the last ${s.unfreezeLast} of ${layers} blocks` : ''}: ${share}${ckpt}`;
  const l = s.lora!;
  const perLayer = l.targets.reduce((n, t) => n + (t === 'c_proj' ? 2 : 1), 0); // GPT-2's c_proj is attention's and the MLP's
  const base = s.method === 'qlora' ? `NF4 base${s.doubleQuant ? ' (double-quantised scales)' : ''}, ${s.baseDtype} compute` : `${s.baseDtype} base`;
  return `${s.method === 'qlora' ? 'QLoRA' : 'LoRA'} r ${l.r} (alpha ${l.alpha}, dropout ${l.dropout}) on ${perLayer} module${perLayer === 1 ? '' : 's'} × ${layers} layers (${l.targets.join(', ')}), ${base}: ${share}${ckpt}`;
}

/** The record the estimate JSON, the plan and a run's report carry. */
export function peftRecord(s: PeftSettings, cfg: AnyModelConfig) {
  return {
    method: s.method,
    lora: s.lora ? { r: s.lora.r, alpha: s.lora.alpha, dropout: s.lora.dropout, targets: [...s.lora.targets] } : null,
    ...(s.baseDtype ? { baseDtype: s.baseDtype } : {}),
    ...(s.method === 'qlora' ? { doubleQuant: s.doubleQuant } : {}),
    ...(s.method === 'head' ? { unfreezeLast: s.unfreezeLast } : {}),
    gradientCheckpointing: s.gradientCheckpointing,
    trainableParameters: trainableParameters(s, cfg),
  };
}
export type PeftRecord = ReturnType<typeof peftRecord>;

/** A native core that predates PEFT ignores the method (and checkpointing): refused by name instead of training every weight under it. */
export function peftUnsupported(what: string): FtplanError {
  return new FtplanError('ERR_NATIVE', `${what}: this build of ftplan's native core does not train parameter-efficient methods or recompute activations (it would train every weight, keeping every activation)`, {
    fix: 'rebuild the addon from this version\'s sources: npm run build:native',
  });
}

/** `--method lora` or `--gradient-checkpointing` as the flag that asked for PEFT. */
export const peftFlag = (s: Pick<PeftSettings, 'method' | 'gradientCheckpointing'>): string => (s.method !== 'full' ? `--method ${s.method}` : '--gradient-checkpointing');

/** Whether a session can train, save and report what was asked (the PEFT session calls exist). */
export function requirePeftSession(session: object, s: Pick<PeftSettings, 'method' | 'gradientCheckpointing'>): void {
  const x = session as Record<string, unknown>;
  if (s.method === 'full' && !s.gradientCheckpointing) return;
  if (typeof x.trainableState !== 'function' || typeof x.mergedState !== 'function' || typeof x.parameterInfo !== 'function') throw peftUnsupported(peftFlag(s));
}

/** The calibration store's model name: another method (or checkpointing) is another workload. */
export function calibrationName(model: string, s: Pick<PeftSettings, 'method' | 'gradientCheckpointing'>): string {
  const parts = [s.method !== 'full' ? s.method : '', s.gradientCheckpointing ? 'checkpointing' : ''].filter(Boolean);
  return parts.length ? `${model} ${parts.join(' ')}` : model;
}
