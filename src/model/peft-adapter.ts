/**
 * peft-adapter.ts — LoRA adapters on disk in Hugging Face PEFT's layout, written and read back:
 * `adapter_model.safetensors` with PEFT's keys (`base_model.model.<module>.lora_A.weight` [r, in],
 * `…lora_B.weight` [out, r]; the trained classification head as `base_model.model.score.weight`,
 * PEFT's modules_to_save with the adapter name stripped) and `adapter_config.json` with the fields
 * LoraConfig.to_dict() writes, plus an "ftplan" block PEFT ignores (it drops keys it does not know):
 * the method (qlora trains on an NF4 base PEFT does not record), the base dtype and the classes.
 *
 * Reading accepts what PEFT's set_peft_model_state_dict accepts: keys with the adapter name still in
 * them (`lora_A.default.weight`, `score.modules_to_save.default.weight`) as well as stripped ones.
 * Every problem names the file and the fix: missing files, a module the model lacks, a shape that
 * disagrees with r or the model, an adapter trained on another base (unless --force-base).
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FtplanError } from '../errors.js';
import type { Dtype, NamedTensors } from '../native/types.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Task } from './decoder-config.js';
import { GPT2_LINEAR, linearModules } from './lora-modules.js';
import { isDecoderConfig, modelFamily, modelTask, modelWidth, type AnyModelConfig } from './model-config.js';
import { encodeSafetensors, readSafetensors } from './safetensors.js';

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';
/** PeftModel wraps the transformers model as base_model (LoraModel) → model. */
export const PEFT_PREFIX = 'base_model.model.';
/** The classification head PEFT trains beside the adapters (modules_to_save of a SEQ_CLS model). */
const HEAD = 'score';

/** What an adapter is, as ftplan writes and reads it. */
export interface AdapterInfo {
  method: 'lora' | 'qlora';
  task: Task;
  r: number;
  alpha: number;
  dropout: number;
  /** leaf names of the adapted layers (q_proj, c_attn, …) */
  targets: string[];
  /** the model it was trained on: base_model_name_or_path */
  baseModel: string;
  baseDtype: Dtype;
  doubleQuant: boolean;
  /** classification: the classes in id order (null: not recorded, e.g. a file PEFT wrote) */
  labels: string[] | null;
}

const TASK_TYPE: Record<Task, string> = { classification: 'SEQ_CLS', 'causal-lm': 'CAUSAL_LM' };

/** A core parameter name (model.layers.0.self_attn.q_proj.lora_A.weight, score.weight) as PEFT's file key. */
export const peftKey = (core: string): string => `${PEFT_PREFIX}${core}`;

/** The name a local folder is recorded under (absolute, so the check holds from another folder); anything else as given. */
export function baseModelName(spec: string): string {
  return existsSync(spec) ? resolve(spec) : spec;
}

/** adapter_config.json: LoraConfig's fields as PEFT writes them, and ftplan's block. */
export function adapterConfigJson(info: AdapterInfo, cfg: AnyModelConfig): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: info.baseModel,
    bias: 'none',
    corda_config: null,
    eva_config: null,
    exclude_modules: null,
    // GPT-2's Conv1D stores [in, out]: PEFT sets this for it (merging transposes); the adapters' shapes are a Linear's
    fan_in_fan_out: !isDecoderConfig(cfg),
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: info.alpha,
    lora_bias: false,
    lora_dropout: info.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: info.task === 'classification' ? [HEAD] : null,
    peft_type: 'LORA',
    r: info.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...info.targets],
    task_type: TASK_TYPE[info.task],
    trainable_token_indices: null,
    use_dora: false,
    use_rslora: false,
    ftplan: { method: info.method, baseDtype: info.baseDtype, doubleQuant: info.doubleQuant, family: modelFamily(cfg), task: info.task, labels: info.labels },
  };
}

/**
 * Writes the adapter folder from the session's trainable state (core names, float32): the LoRA
 * matrices and, for classification, the head. Anything else trainable is not an adapter (head's
 * unfrozen blocks): that is a programming error, not a file to write.
 */
export function writeAdapter(dir: string, state: NamedTensors, info: AdapterInfo, cfg: AnyModelConfig): string[] {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of Object.entries(state)) {
    if (!/\.lora_[AB]\.weight$/.test(name) && name !== `${HEAD}.weight`) throw new Error(`writeAdapter: ${name} is not a LoRA matrix or the head`);
    tensors.set(peftKey(name), t);
  }
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, ADAPTER_WEIGHTS), encodeSafetensors(tensors, { format: 'pt' }));
  writeFileAtomic(join(dir, ADAPTER_CONFIG), `${JSON.stringify(adapterConfigJson(info, cfg), null, 2)}\n`);
  return [ADAPTER_WEIGHTS, ADAPTER_CONFIG];
}

const bad = (file: string, message: string, fix: string) => new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
const FOLDER_FIX = 'point --adapter at a folder with adapter_config.json and adapter_model.safetensors (what `ftplan run --method lora` writes, or PEFT\'s save_pretrained)';

/** adapter_config.json read and checked: a LoRA config whose settings ftplan trains with. */
export function readAdapterConfig(dir: string): { info: AdapterInfo; file: string; raw: Record<string, unknown> } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FtplanError('ERR_INPUT', `--adapter ${dir}: no such folder`, { fix: FOLDER_FIX });
  const file = join(dir, ADAPTER_CONFIG);
  if (!existsSync(file)) throw bad(dir, `has no ${ADAPTER_CONFIG}`, FOLDER_FIX);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw bad(file, `is not JSON (${(e as Error).message})`, 'save the adapter again');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad(file, 'is not a JSON object', 'save the adapter again');
  const unsupported = (what: string) => bad(file, `${what}: ftplan trains and loads plain LoRA only`, 'train the adapter without it, or load it with PEFT');
  if (raw.peft_type !== 'LORA') throw bad(file, `peft_type is ${JSON.stringify(raw.peft_type)}, not "LORA"`, 'ftplan reads LoRA adapters only');
  if (raw.use_dora === true) throw unsupported('use_dora (DoRA)');
  if (raw.use_rslora === true) throw unsupported('use_rslora (scaling alpha/√r)');
  if (raw.bias !== undefined && raw.bias !== 'none') throw unsupported(`bias "${String(raw.bias)}" (trained biases)`);
  for (const k of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = raw[k];
    if (v && typeof v === 'object' && Object.keys(v).length) throw unsupported(`${k} (per-layer ranks or alphas)`);
  }
  const r = raw.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) throw bad(file, `r is ${JSON.stringify(r)}: the rank must be a whole number ≥ 1`, 'save the adapter again');
  const alpha = raw.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !(alpha > 0)) throw bad(file, `lora_alpha is ${JSON.stringify(alpha)}: must be a positive number`, 'save the adapter again');
  const dropout = typeof raw.lora_dropout === 'number' ? raw.lora_dropout : 0;
  const tt = raw.task_type;
  const task: Task | null = tt === 'SEQ_CLS' ? 'classification' : tt === 'CAUSAL_LM' ? 'causal-lm' : null;
  if (tt !== undefined && tt !== null && !task) throw bad(file, `task_type ${JSON.stringify(tt)}: ftplan trains SEQ_CLS (classification) and CAUSAL_LM adapters`, 'use an adapter of one of those tasks');
  if (typeof raw.base_model_name_or_path !== 'string' || !raw.base_model_name_or_path) throw bad(file, 'names no base model (base_model_name_or_path)', 'save the adapter again with its base model named');
  const f = (raw.ftplan ?? {}) as Record<string, unknown>;
  const targets = Array.isArray(raw.target_modules) ? raw.target_modules.map(String) : [];
  const info: AdapterInfo = {
    method: f.method === 'qlora' ? 'qlora' : 'lora',
    task: (f.task === 'causal-lm' || f.task === 'classification' ? f.task : task) ?? 'classification',
    r,
    alpha,
    dropout,
    targets,
    baseModel: raw.base_model_name_or_path,
    baseDtype: f.baseDtype === 'fp32' ? 'fp32' : 'bf16',
    doubleQuant: f.doubleQuant === true,
    labels: Array.isArray(f.labels) ? f.labels.map(String) : null,
  };
  return { info, file, raw };
}

/** Whether --model names the adapter's base: the same text, or the same folder on disk. */
export function sameBase(recorded: string, model: string): boolean {
  if (recorded === model) return true;
  try {
    return existsSync(recorded) && existsSync(model) && realpathSync(recorded) === realpathSync(model);
  } catch {
    return false;
  }
}

/** A file key as the core's parameter name: the prefix and any adapter name stripped; null when it is not an adapter or head key. */
export function coreName(key: string): { name: string; module: string; part: 'lora_A' | 'lora_B' | 'head' } | null {
  if (!key.startsWith(PEFT_PREFIX)) return null;
  const k = key.slice(PEFT_PREFIX.length);
  const lora = /^(.+)\.(lora_[AB])(?:\.[^.]+)?\.weight$/.exec(k);
  if (lora) return { name: `${lora[1]}.${lora[2]}.weight`, module: lora[1] as string, part: lora[2] as 'lora_A' | 'lora_B' };
  const head = new RegExp(`^${HEAD}(?:\\.modules_to_save\\.[^.]+)?\\.weight$`).exec(k);
  if (head) return { name: `${HEAD}.weight`, module: HEAD, part: 'head' };
  return null;
}

export interface LoadedAdapter {
  dir: string;
  file: string;
  info: AdapterInfo;
  /** core names, float32: what Session.loadState takes */
  state: NamedTensors;
  /** module paths that carry adapters */
  modules: string[];
  /** whether the file holds the trained classification head */
  head: boolean;
}

/**
 * The adapter folder for `cfg` (the base model's record, classification with the data's classes):
 * the config, then every key against the model's linear layers and shapes. `model` is --model as
 * given, checked against base_model_name_or_path unless `forceBase`.
 */
export function readAdapter(dir: string, cfg: AnyModelConfig, opts: { model: string; forceBase?: boolean }): LoadedAdapter {
  const { info, file: configFile } = readAdapterConfig(dir);
  if (!opts.forceBase && !sameBase(info.baseModel, opts.model) && !sameBase(info.baseModel, baseModelName(opts.model))) {
    throw new FtplanError('ERR_INPUT', `${configFile}: the adapter was trained on ${info.baseModel} (base_model_name_or_path), and --model is ${opts.model}`, {
      fix: `pass --model ${info.baseModel}, or --force-base to load it onto ${opts.model} anyway (its layers' shapes must match)`,
    });
  }
  const task = modelTask(cfg);
  if (info.task !== task) {
    throw new FtplanError('ERR_INPUT', `${configFile}: the adapter is for ${info.task}, and the model is set up for ${task}`, { fix: `pass --task ${info.task}` });
  }
  const file = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(file)) {
    const pickle = existsSync(join(dir, 'adapter_model.bin'));
    throw bad(dir, `has no ${ADAPTER_WEIGHTS}${pickle ? ' (only adapter_model.bin, PyTorch\'s pickle format)' : ''}`, pickle ? 'save it with safetensors: model.save_pretrained(dir, safe_serialization=True)' : FOLDER_FIX);
  }
  const st = readSafetensors(file);
  const modules = linearModules(cfg);
  const family = modelFamily(cfg);
  const state: NamedTensors = {};
  const parts = new Map<string, Set<string>>();
  let head = false;
  const shape = (s: number[]) => `[${s.join(', ')}]`;
  for (const [key, t] of st.tensors) {
    const c = coreName(key);
    if (!c) throw bad(file, `tensor '${key}' is not a LoRA matrix (base_model.model.<module>.lora_A/lora_B.weight) or the head (base_model.model.${HEAD}.weight)`, 'ftplan loads LoRA adapters with bias "none" and no saved embedding layers');
    if (state[c.name]) throw bad(file, `holds ${c.name} twice (also under another adapter name)`, 'save one adapter per folder');
    if (c.part === 'head') {
      if (task !== 'classification') throw bad(file, `tensor '${key}' is a classification head, and the model is set up for ${task}`, 'pass --task classification');
      const want = [cfg.numLabels, modelWidth(cfg)];
      if (t.shape.length !== 2 || t.shape[1] !== want[1]) throw bad(file, `tensor '${key}' has shape ${shape(t.shape)}; the model's head is ${shape(want)}`, 'use the adapter with the base model it was trained on');
      if (t.shape[0] !== want[0]) throw bad(file, `the head has ${t.shape[0]} classes, the data set has ${want[0]}`, 'evaluate on data with the classes the adapter was trained on');
      head = true;
    } else {
      const out_in = modules.get(c.module);
      if (!out_in) {
        const leaves = isDecoderConfig(cfg) ? 'q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj' : GPT2_LINEAR.join(', ');
        throw bad(file, `tensor '${key}': ${opts.model} (${family}) has no linear layer ${c.module} (its adaptable layers are the blocks' ${leaves})`, `use the adapter with the base model it was trained on (${info.baseModel})`);
      }
      const [out, inp] = out_in;
      const want = c.part === 'lora_A' ? [info.r, inp] : [out, info.r];
      if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
        const rankOff = c.part === 'lora_A' ? t.shape[1] === inp && t.shape[0] !== info.r : t.shape[0] === out && t.shape[1] !== info.r;
        throw bad(
          file,
          rankOff
            ? `tensor '${key}' has shape ${shape(t.shape)}: rank ${c.part === 'lora_A' ? t.shape[0] : t.shape[1]}, and adapter_config.json says r ${info.r}`
            : `tensor '${key}' has shape ${shape(t.shape)}; ${c.module} (${out} out × ${inp} in) with r ${info.r} needs ${shape(want)}`,
          rankOff ? 'the config and the weights were saved apart: save the adapter again' : `use the adapter with the base model it was trained on (${info.baseModel})`,
        );
      }
      const seen = parts.get(c.module) ?? new Set<string>();
      seen.add(c.part);
      parts.set(c.module, seen);
    }
    state[c.name] = { shape: t.shape, data: t.data };
  }
  for (const [m, seen] of parts) {
    if (seen.size !== 2) throw bad(file, `${m} has ${[...seen][0]} without ${seen.has('lora_A') ? 'lora_B' : 'lora_A'}`, 'the file is incomplete: save the adapter again');
  }
  if (!parts.size) throw bad(file, 'holds no LoRA matrices', FOLDER_FIX);
  const leaves = [...new Set([...parts.keys()].map((m) => m.slice(m.lastIndexOf('.') + 1)))];
  return { dir, file, info: { ...info, targets: leaves }, state, modules: [...parts.keys()], head };
}
