/**
 * decoder-config.ts — the shape record of the Llama-family decoders (Hugging Face `model_type`
 * llama, mistral, qwen2, qwen3), as the native core takes it: HF's config.json field names in
 * camelCase, with each family's differences spelled out as fields instead of inferred from the
 * family's name inside the core:
 *
 *   family   q/k/v bias            o bias          qk RMSNorm   head_dim
 *   llama    attention_bias        attention_bias  no           hidden / heads, or head_dim
 *   mistral  no                    no              no           head_dim or hidden / heads
 *   qwen2    yes (always)          no              no           hidden / heads
 *   qwen3    attention_bias        attention_bias  yes          head_dim (may differ from hidden / heads)
 *
 * The task decides the head: `classification` puts HF's `score` linear (no bias) at each row's
 * last real token (`*ForSequenceClassification`); `causal-lm` puts `lm_head` (tied to
 * `embed_tokens` when tieWordEmbeddings) over every position (`*ForCausalLM`).
 *
 * GPT-2 keeps its own record (presets.ts); this file is only the decoders'.
 */
import { z } from 'zod';

export const DECODER_MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3'] as const;
export type DecoderModelType = (typeof DECODER_MODEL_TYPES)[number];

export const TASKS = ['classification', 'causal-lm'] as const;
export type Task = (typeof TASKS)[number];

/** RoPE frequency scaling: none, or Llama 3.1's `rope_type: "llama3"` (rope_scaling in config.json). */
export const ROPE_SCALING_TYPES = ['none', 'llama3'] as const;

export const DecoderConfigSchema = z
  .object({
    modelType: z.enum(DECODER_MODEL_TYPES),
    task: z.enum(TASKS),
    vocabSize: z.number().int().positive().max(10_000_000),
    hiddenSize: z.number().int().positive().max(1 << 16),
    intermediateSize: z.number().int().positive().max(1 << 20),
    numHiddenLayers: z.number().int().positive().max(1024),
    numAttentionHeads: z.number().int().positive().max(1024),
    /** grouped-query attention: keys/values heads, each shared by numAttentionHeads / numKeyValueHeads query heads */
    numKeyValueHeads: z.number().int().positive().max(1024),
    /** per-head width; HF's default is hiddenSize / numAttentionHeads */
    headDim: z.number().int().positive().max(1 << 12),
    maxPositionEmbeddings: z.number().int().positive().max(1 << 24),
    rmsNormEps: z.number().positive(),
    ropeTheta: z.number().positive(),
    ropeScalingType: z.enum(ROPE_SCALING_TYPES),
    /** llama3 scaling's factor, low_freq_factor, high_freq_factor, original_max_position_embeddings (unused for 'none') */
    ropeScalingFactor: z.number().positive(),
    ropeLowFreqFactor: z.number().positive(),
    ropeHighFreqFactor: z.number().positive(),
    ropeOriginalMaxPositionEmbeddings: z.number().int().positive(),
    /** bias on q_proj, k_proj, v_proj */
    qkvBias: z.boolean(),
    /** bias on o_proj */
    oBias: z.boolean(),
    /** bias on gate_proj, up_proj, down_proj (llama's mlp_bias) */
    mlpBias: z.boolean(),
    /** qwen3: RMSNorm over each head's q and k (q_norm, k_norm, weight [headDim]) before RoPE */
    qkNorm: z.boolean(),
    tieWordEmbeddings: z.boolean(),
    /** mistral: attend to at most this many previous positions (0: no window) */
    slidingWindow: z.number().int().nonnegative(),
    attentionDropout: z.number().min(0).lt(1),
    /** classes of the classification head (ignored for causal-lm) */
    numLabels: z.number().int().min(2).max(100_000),
    padTokenId: z.number().int().nonnegative(),
    initializerRange: z.number().positive(),
  })
  .refine((c) => c.numAttentionHeads % c.numKeyValueHeads === 0, {
    message: 'numKeyValueHeads must divide numAttentionHeads (each key/value head serves a whole group of query heads)',
    path: ['numKeyValueHeads'],
  })
  .refine((c) => c.headDim % 2 === 0, { message: 'headDim must be even (RoPE rotates pairs of channels)', path: ['headDim'] })
  .refine((c) => c.padTokenId < c.vocabSize, { message: 'padTokenId must be below vocabSize', path: ['padTokenId'] });

export type DecoderConfig = z.infer<typeof DecoderConfigSchema>;
