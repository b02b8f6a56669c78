/**
 * decoder-presets.ts — the Llama-family models people fine-tune, by their published shapes: each
 * preset is the model's config.json as its authors published it on the Hugging Face Hub (the
 * shape fields; no weights), read by the same parser as a downloaded folder, so a preset and the
 * hub id's own config.json build the same model. Plus tiny shapes per family for tests and quick
 * trials, each exercising what sets its family apart.
 *
 * The hub ids (and their -Instruct twins where the shape is the same) resolve to these presets when
 * no config.json is cached (decoderPresetForHubId), so `--model meta-llama/Llama-3.1-8B` can be
 * estimated offline.
 */
import type { Task } from './decoder-config.js';
import type { DecoderConfig } from './decoder-config.js';
import { parseDecoderConfigDetailed } from './families.js';

export interface DecoderPreset {
  /** config.json as published (shape fields, ids, rope scaling) */
  hf: Record<string, unknown>;
  /** where the figures come from: the hub repo's config.json */
  source: string;
  /** the hub ids that share this shape (base and instruct) */
  hubIds: string[];
  description: string;
  /** the parameter count the hub reports for the repo's safetensors, where it is the same model (tests check it) */
  publishedParameters?: number;
}

const LLAMA3_ROPE = (factor: number) => ({ factor, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' });

const LLAMA3_BASE = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  hidden_act: 'silu',
  initializer_range: 0.02,
  max_position_embeddings: 131072,
  mlp_bias: false,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 500000.0,
  vocab_size: 128256,
};

const QWEN_BASE = {
  attention_dropout: 0.0,
  bos_token_id: 151643,
  hidden_act: 'silu',
  initializer_range: 0.02,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  use_sliding_window: false,
};

const hub = (id: string) => `https://huggingface.co/${id}/blob/main/config.json`;

export const DECODER_PRESETS: Record<string, DecoderPreset> = {
  'llama-3.2-1b': {
    hf: { ...LLAMA3_BASE, head_dim: 64, hidden_size: 2048, intermediate_size: 8192, num_attention_heads: 32, num_hidden_layers: 16, rope_scaling: LLAMA3_ROPE(32.0), tie_word_embeddings: true },
    source: hub('meta-llama/Llama-3.2-1B'),
    hubIds: ['meta-llama/Llama-3.2-1B', 'meta-llama/Llama-3.2-1B-Instruct'],
    description: '1.24B: 16 layers, 32 heads (8 kv), 2048 channels, tied embeddings, llama3 RoPE scaling ×32',
    publishedParameters: 1_235_814_400,
  },
  'llama-3.2-3b': {
    hf: { ...LLAMA3_BASE, head_dim: 128, hidden_size: 3072, intermediate_size: 8192, num_attention_heads: 24, num_hidden_layers: 28, rope_scaling: LLAMA3_ROPE(32.0), tie_word_embeddings: true },
    source: hub('meta-llama/Llama-3.2-3B'),
    hubIds: ['meta-llama/Llama-3.2-3B', 'meta-llama/Llama-3.2-3B-Instruct'],
    description: '3.21B: 28 layers, 24 heads (8 kv), 3072 channels, tied embeddings, llama3 RoPE scaling ×32',
    publishedParameters: 3_212_749_824,
  },
  'llama-3.1-8b': {
    hf: { ...LLAMA3_BASE, hidden_size: 4096, intermediate_size: 14336, num_attention_heads: 32, num_hidden_layers: 32, rope_scaling: LLAMA3_ROPE(8.0), tie_word_embeddings: false },
    source: hub('meta-llama/Llama-3.1-8B'),
    hubIds: ['meta-llama/Llama-3.1-8B', 'meta-llama/Llama-3.1-8B-Instruct', 'meta-llama/Meta-Llama-3.1-8B', 'meta-llama/Meta-Llama-3.1-8B-Instruct'],
    description: '8.03B: 32 layers, 32 heads (8 kv), 4096 channels, llama3 RoPE scaling ×8',
    publishedParameters: 8_030_261_248,
  },
  'llama-3.1-70b': {
    hf: { ...LLAMA3_BASE, hidden_size: 8192, intermediate_size: 28672, num_attention_heads: 64, num_hidden_layers: 80, rope_scaling: LLAMA3_ROPE(8.0), tie_word_embeddings: false },
    source: hub('meta-llama/Llama-3.1-70B'),
    hubIds: ['meta-llama/Llama-3.1-70B', 'meta-llama/Llama-3.1-70B-Instruct', 'meta-llama/Meta-Llama-3.1-70B', 'meta-llama/Meta-Llama-3.1-70B-Instruct'],
    description: '70.6B: 80 layers, 64 heads (8 kv), 8192 channels, llama3 RoPE scaling ×8',
    publishedParameters: 70_553_706_496,
  },
  'llama-2-7b': {
    hf: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: 'silu',
      hidden_size: 4096,
      initializer_range: 0.02,
      intermediate_size: 11008,
      max_position_embeddings: 4096,
      num_attention_heads: 32,
      num_hidden_layers: 32,
      num_key_value_heads: 32,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      tie_word_embeddings: false,
      vocab_size: 32000,
    },
    source: hub('meta-llama/Llama-2-7b-hf'),
    hubIds: ['meta-llama/Llama-2-7b-hf', 'meta-llama/Llama-2-7b-chat-hf'],
    description: '6.74B: 32 layers, 32 heads (no GQA), 4096 channels, 4k context',
    publishedParameters: 6_738_415_616,
  },
  // v0.3 (the current Mistral 7B: 32768-token vocabulary, no sliding window); v0.1 below keeps its 4096-token window.
  'mistral-7b': {
    hf: {
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      attention_dropout: 0.0,
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: 'silu',
      hidden_size: 4096,
      initializer_range: 0.02,
      intermediate_size: 14336,
      max_position_embeddings: 32768,
      num_attention_heads: 32,
      num_hidden_layers: 32,
      num_key_value_heads: 8,
      rms_norm_eps: 1e-5,
      rope_theta: 1000000.0,
      sliding_window: null,
      tie_word_embeddings: false,
      vocab_size: 32768,
    },
    source: hub('mistralai/Mistral-7B-v0.3'),
    hubIds: ['mistralai/Mistral-7B-v0.3', 'mistralai/Mistral-7B-Instruct-v0.3'],
    description: 'Mistral 7B v0.3, 7.25B: 32 layers, 32 heads (8 kv), 4096 channels, no sliding window',
    publishedParameters: 7_248_023_552,
  },
  'mistral-7b-v0.1': {
    hf: {
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: 'silu',
      hidden_size: 4096,
      initializer_range: 0.02,
      intermediate_size: 14336,
      max_position_embeddings: 32768,
      num_attention_heads: 32,
      num_hidden_layers: 32,
      num_key_value_heads: 8,
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      sliding_window: 4096,
      tie_word_embeddings: false,
      vocab_size: 32000,
    },
    source: hub('mistralai/Mistral-7B-v0.1'),
    hubIds: ['mistralai/Mistral-7B-v0.1'],
    description: 'Mistral 7B v0.1, 7.24B: as v0.3 with a 32000-token vocabulary and a 4096-token sliding window',
    publishedParameters: 7_241_732_096,
  },
  'qwen2.5-0.5b': {
    hf: {
      ...QWEN_BASE,
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      eos_token_id: 151643,
      hidden_size: 896,
      intermediate_size: 4864,
      max_position_embeddings: 32768,
      max_window_layers: 24,
      num_attention_heads: 14,
      num_hidden_layers: 24,
      num_key_value_heads: 2,
      sliding_window: 32768,
      tie_word_embeddings: true,
      vocab_size: 151936,
    },
    source: hub('Qwen/Qwen2.5-0.5B'),
    hubIds: ['Qwen/Qwen2.5-0.5B', 'Qwen/Qwen2.5-0.5B-Instruct'],
    description: '494M: 24 layers, 14 heads (2 kv), 896 channels, q/k/v bias, tied embeddings',
    publishedParameters: 494_032_768,
  },
  'qwen2.5-7b': {
    hf: {
      ...QWEN_BASE,
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      eos_token_id: 151643,
      hidden_size: 3584,
      intermediate_size: 18944,
      max_position_embeddings: 131072,
      max_window_layers: 28,
      num_attention_heads: 28,
      num_hidden_layers: 28,
      num_key_value_heads: 4,
      sliding_window: 131072,
      tie_word_embeddings: false,
      vocab_size: 152064,
    },
    source: hub('Qwen/Qwen2.5-7B'),
    hubIds: ['Qwen/Qwen2.5-7B', 'Qwen/Qwen2.5-7B-Instruct'],
    description: '7.62B: 28 layers, 28 heads (4 kv), 3584 channels, q/k/v bias',
    publishedParameters: 7_615_616_512,
  },
  'qwen3-0.6b': {
    hf: {
      ...QWEN_BASE,
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      attention_bias: false,
      eos_token_id: 151645,
      head_dim: 128,
      hidden_size: 1024,
      intermediate_size: 3072,
      max_position_embeddings: 40960,
      max_window_layers: 28,
      num_attention_heads: 16,
      num_hidden_layers: 28,
      num_key_value_heads: 8,
      rope_scaling: null,
      sliding_window: null,
      tie_word_embeddings: true,
      vocab_size: 151936,
    },
    source: hub('Qwen/Qwen3-0.6B'),
    hubIds: ['Qwen/Qwen3-0.6B', 'Qwen/Qwen3-0.6B-Base'],
    // The hub's figure for this repo (0.75B) counts lm_head, which the file stores although it is
    // tied to embed_tokens; the model's own parameters (transformers' num_parameters()) are 596,049,920.
    description: '596M: 28 layers, 16 heads (8 kv) of 128 channels over 1024, q/k RMSNorm, tied embeddings',
  },
  'qwen3-8b': {
    hf: {
      ...QWEN_BASE,
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      attention_bias: false,
      eos_token_id: 151645,
      head_dim: 128,
      hidden_size: 4096,
      intermediate_size: 12288,
      max_position_embeddings: 40960,
      max_window_layers: 36,
      num_attention_heads: 32,
      num_hidden_layers: 36,
      num_key_value_heads: 8,
      rope_scaling: null,
      sliding_window: null,
      tie_word_embeddings: false,
      vocab_size: 151936,
    },
    source: hub('Qwen/Qwen3-8B'),
    hubIds: ['Qwen/Qwen3-8B', 'Qwen/Qwen3-8B-Base'],
    description: '8.19B: 36 layers, 32 heads (8 kv), 4096 channels, q/k RMSNorm',
    publishedParameters: 8_190_735_360,
  },

  // Tiny shapes: a few hundred thousand parameters, each with its family's distinguishing traits.
  'tiny-llama': {
    hf: {
      model_type: 'llama',
      vocab_size: 512,
      hidden_size: 64,
      intermediate_size: 160,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 256,
      rms_norm_eps: 1e-5,
      rope_theta: 500000.0,
      rope_scaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 64 },
      tie_word_embeddings: false,
      bos_token_id: 1,
      eos_token_id: 2,
    },
    source: 'test shape: llama with GQA and llama3 RoPE scaling',
    hubIds: [],
    description: 'test size: llama, 2 layers, 4 heads (2 kv), 64 channels, llama3 RoPE scaling',
  },
  'tiny-mistral': {
    hf: {
      model_type: 'mistral',
      vocab_size: 512,
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 1,
      max_position_embeddings: 256,
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      sliding_window: 16,
      tie_word_embeddings: false,
      bos_token_id: 1,
      eos_token_id: 2,
    },
    source: 'test shape: mistral with a 16-token sliding window',
    hubIds: [],
    description: 'test size: mistral, 2 layers, 4 heads (1 kv), 64 channels, 16-token sliding window',
  },
  'tiny-qwen2': {
    hf: {
      model_type: 'qwen2',
      vocab_size: 512,
      hidden_size: 64,
      intermediate_size: 176,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 256,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      use_sliding_window: false,
      tie_word_embeddings: false,
      bos_token_id: 1,
      eos_token_id: 2,
    },
    source: 'test shape: qwen2 with q/k/v bias and GQA',
    hubIds: [],
    description: 'test size: qwen2, 2 layers, 4 heads (2 kv), 64 channels, q/k/v bias',
  },
  'tiny-qwen3': {
    hf: {
      model_type: 'qwen3',
      vocab_size: 512,
      hidden_size: 64,
      intermediate_size: 192,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 32,
      max_position_embeddings: 256,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      attention_bias: false,
      use_sliding_window: false,
      sliding_window: null,
      tie_word_embeddings: true,
      bos_token_id: 1,
      eos_token_id: 2,
    },
    source: 'test shape: qwen3 with head_dim 32 ≠ hidden/heads 16, q/k norm, tied embeddings',
    hubIds: [],
    description: 'test size: qwen3, 2 layers, 4 heads (2 kv) of 32 channels over 64, q/k RMSNorm, tied embeddings',
  },
};

export function decoderPresetNames(): string[] {
  return Object.keys(DECODER_PRESETS);
}

export function isDecoderPreset(name: string): boolean {
  return Object.hasOwn(DECODER_PRESETS, name);
}

/** A preset's record for a task: parsed from its config.json like any downloaded folder. */
export function decoderPresetConfig(name: string, task: Task, opts: { numLabels?: number } = {}): DecoderConfig {
  const preset = DECODER_PRESETS[name];
  if (!preset || !Object.hasOwn(DECODER_PRESETS, name)) throw new Error(`unknown decoder preset '${name}'`);
  return parseDecoderConfigDetailed(preset.hf, { task, numLabels: opts.numLabels, file: `preset ${name} (${preset.source})` }).config;
}

/**
 * The preset whose published shape a hub id has (case-insensitive, as the hub resolves ids), or
 * null. For `--model org/name` when the hub cache has no config.json and none can be fetched.
 */
export function decoderPresetForHubId(id: string): string | null {
  const want = id.toLowerCase();
  for (const [name, p] of Object.entries(DECODER_PRESETS)) if (p.hubIds.some((h) => h.toLowerCase() === want)) return name;
  return null;
}
