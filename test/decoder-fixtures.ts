// Tiny random Llama-family checkpoints (llama, mistral, qwen2, qwen3) exactly as Hugging Face lays
// them out: config.json with HF's snake_case fields and model.safetensors (float32, HF tensor names,
// torch Linear [out, in]), or a sharded model.safetensors.index.json. Deterministic from a seed and
// written without the native addon, so the python reference (test/reference/decoder_reference.py),
// the native core and the config parser can all be fed the same files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors } from '../src/model/safetensors.js';
import { LABELS, prng } from './fixtures.js';

export type DecoderFamily = 'llama' | 'mistral' | 'qwen2' | 'qwen3';
export type DecoderTask = 'classification' | 'causal-lm';
export const DECODER_FAMILIES: readonly DecoderFamily[] = ['llama', 'mistral', 'qwen2', 'qwen3'];

/** A config.json as Hugging Face writes it (the fields these families read; any other is carried). */
export interface HfDecoderConfig {
  model_type: DecoderFamily;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number | null;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling?: { rope_type: 'llama3'; factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number } | null;
  attention_bias?: boolean;
  mlp_bias?: boolean;
  tie_word_embeddings: boolean;
  sliding_window?: number | null;
  use_sliding_window?: boolean;
  max_window_layers?: number;
  pad_token_id?: number;
  hidden_act?: 'silu';
  [field: string]: unknown;
}

const common = { vocab_size: 96, max_position_embeddings: 128, hidden_act: 'silu', pad_token_id: 95, bos_token_id: 1, eos_token_id: 2, initializer_range: 0.02, attention_dropout: 0.0 } as const;

/**
 * The tiny shapes the reference tests use, one per family, each exercising what sets its family apart:
 * - llama: Llama 3.1's `rope_type: "llama3"` scaling, with head_dim 16 and original context 64 so the
 *   eight frequencies fall in all three bands (kept, divided by factor, smoothed); GQA 4 heads / 2 kv.
 * - mistral: a sliding_window of 4, shorter than the test sequences; one kv head (multi-query).
 * - qwen2: q/k/v bias; `use_sliding_window: false` beside a sliding_window value, as Qwen2.5's
 *   configs ship it (the window must then NOT apply).
 * - qwen3: q_norm/k_norm, head_dim 16 while hidden / heads is 8, tied embeddings.
 */
export const TINY_DECODERS: Record<DecoderFamily, HfDecoderConfig> = {
  llama: {
    ...common, model_type: 'llama', hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    rms_norm_eps: 1e-5, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
    attention_bias: false, mlp_bias: false, tie_word_embeddings: false,
  },
  mistral: {
    ...common, model_type: 'mistral', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 8,
    rms_norm_eps: 1e-6, rope_theta: 10000, sliding_window: 4, tie_word_embeddings: false,
  },
  qwen2: {
    ...common, model_type: 'qwen2', hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    rms_norm_eps: 1e-6, rope_theta: 1000000, use_sliding_window: false, sliding_window: 4, max_window_layers: 1, tie_word_embeddings: false,
  },
  qwen3: {
    ...common, model_type: 'qwen3', hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16,
    rms_norm_eps: 1e-6, rope_theta: 1000000, attention_bias: false, use_sliding_window: false, sliding_window: null, max_window_layers: 2, tie_word_embeddings: true,
  },
};

const ARCH: Record<DecoderFamily, string> = { llama: 'Llama', mistral: 'Mistral', qwen2: 'Qwen2', qwen3: 'Qwen3' };

/**
 * The tensors of a checkpoint of this config and task, in HF's names and module order, as each
 * family's modeling file declares them: q/k/v bias (qwen2 always; llama and qwen3 with attention_bias),
 * o_proj bias (llama and qwen3 with attention_bias), MLP bias (llama's mlp_bias), q_norm/k_norm
 * (qwen3); `score` for classification; `lm_head` for causal-lm unless tied to embed_tokens.
 */
export function decoderTensorShapes(c: HfDecoderConfig, task: DecoderTask, numLabels: number = LABELS.length): [string, number[]][] {
  const heads = c.num_attention_heads;
  const kv = c.num_key_value_heads ?? heads;
  const d = c.head_dim ?? Math.floor(c.hidden_size / heads);
  const H = c.hidden_size;
  const I = c.intermediate_size;
  const attnBias = c.attention_bias === true;
  const qkvBias = c.model_type === 'qwen2' || ((c.model_type === 'llama' || c.model_type === 'qwen3') && attnBias);
  const oBias = (c.model_type === 'llama' || c.model_type === 'qwen3') && attnBias;
  const mlpBias = c.model_type === 'llama' && c.mlp_bias === true;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [c.vocab_size, H]]];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push([`${p}.input_layernorm.weight`, [H]]);
    const proj: [string, number, number, boolean][] = [['q_proj', heads * d, H, qkvBias], ['k_proj', kv * d, H, qkvBias], ['v_proj', kv * d, H, qkvBias], ['o_proj', H, heads * d, oBias]];
    for (const [n, o, inp, bias] of proj) {
      out.push([`${p}.self_attn.${n}.weight`, [o, inp]]);
      if (bias) out.push([`${p}.self_attn.${n}.bias`, [o]]);
    }
    if (c.model_type === 'qwen3') out.push([`${p}.self_attn.q_norm.weight`, [d]], [`${p}.self_attn.k_norm.weight`, [d]]);
    out.push([`${p}.post_attention_layernorm.weight`, [H]]);
    for (const [n, o, inp] of [['gate_proj', I, H], ['up_proj', I, H], ['down_proj', H, I]] as const) {
      out.push([`${p}.mlp.${n}.weight`, [o, inp]]);
      if (mlpBias) out.push([`${p}.mlp.${n}.bias`, [o]]);
    }
  }
  out.push(['model.norm.weight', [H]]);
  if (task === 'classification') out.push(['score.weight', [numLabels, H]]);
  else if (!c.tie_word_embeddings) out.push(['lm_head.weight', [c.vocab_size, H]]);
  return out;
}

export interface TinyDecoder {
  dir: string;
  /** what config.json holds */
  config: HfDecoderConfig;
  task: DecoderTask;
  /** every tensor written, by HF name, in module order */
  state: Map<string, { shape: number[]; data: Float32Array }>;
  /** the safetensors files written (one, or the shards) */
  files: string[];
}

export interface TinyDecoderOptions {
  family: DecoderFamily;
  task: DecoderTask;
  seed?: number;
  /** fields over the family's TINY_DECODERS shape (HF snake_case) */
  config?: Partial<HfDecoderConfig>;
  labels?: readonly string[];
  /** std of the random matrices, embeddings and biases (norm weights are 1 + 0.1·N(0, 1)) */
  weightScale?: number;
  /** split the tensors over this many files with a model.safetensors.index.json, as HF shards */
  shards?: number;
}

/** Write a random checkpoint of `family` for `task` into `dir` (created if missing). */
export function tinyDecoderCheckpoint(dir: string, o: TinyDecoderOptions): TinyDecoder {
  const config: HfDecoderConfig = { ...TINY_DECODERS[o.family], ...o.config } as HfDecoderConfig;
  const labels: readonly string[] = o.labels ?? LABELS;
  const r = prng(o.seed ?? 1);
  const std = o.weightScale ?? 0.2;
  const state = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of decoderTensorShapes(config, o.task, labels.length)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const isNorm = name.endsWith('norm.weight');
    for (let i = 0; i < data.length; i++) data[i] = isNorm ? 1 + 0.1 * r.normal() : std * r.normal();
    state.set(name, { shape, data });
  }
  mkdirSync(dir, { recursive: true });
  const head = o.task === 'classification' ? 'ForSequenceClassification' : 'ForCausalLM';
  const json: Record<string, unknown> = { architectures: [`${ARCH[config.model_type]}${head}`], ...config, torch_dtype: 'float32' };
  if (o.task === 'classification') {
    json.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
    json.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  }
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(json, null, 2)}\n`);
  const files = writeTensors(dir, state, o.shards ?? 1);
  return { dir, config, task: o.task, state, files };
}

function writeTensors(dir: string, state: TinyDecoder['state'], shards: number): string[] {
  if (shards <= 1) {
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, encodeSafetensors(state));
    return [file];
  }
  const names = [...state.keys()];
  const per = Math.ceil(names.length / shards);
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  let totalSize = 0;
  for (let s = 0; s < shards; s++) {
    const shard = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = new Map(names.slice(s * per, (s + 1) * per).map((n) => [n, state.get(n)!]));
    for (const [n, t] of part) {
      weightMap[n] = shard;
      totalSize += t.data.byteLength;
    }
    writeFileSync(join(dir, shard), encodeSafetensors(part));
    files.push(join(dir, shard));
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`);
  return files;
}
