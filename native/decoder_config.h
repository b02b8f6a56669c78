// decoder_config.h — the shape record of the Llama-family decoders (Hugging Face model_type llama,
// mistral, qwen2, qwen3) and its validation: HF's config.json fields, with each family's
// differences spelled out as fields (biases, q/k RMSNorm, head_dim, tied embeddings, the sliding
// window) instead of inferred from the family's name here. src/model/decoder-config.ts is the same
// record in TypeScript (its zod schema is the contract); presets and the config.json parser are
// TypeScript's, so this file only checks that a config can be built.
#pragma once

#include <cstdint>
#include <string>

#include "record.h"

namespace ftplan {

// Which head sits on the trunk: HF's *ForSequenceClassification (`score`, no bias, at each row's
// last real token) or *ForCausalLM (`lm_head` over every position, next-token cross-entropy).
enum class Task { classification, causal_lm };

// RoPE frequency scaling (config.json rope_scaling): none, or rope_type "llama3" (Llama 3.1+).
enum class RopeScaling { none, llama3 };

// X(type, name, jsName, default): see record.h. Defaults are HF LlamaConfig's (Llama-2-7B's shape).
#define FTPLAN_DECODER_CONFIG(X)                                                                    \
  X(std::string, model_type, modelType, "llama") /* llama | mistral | qwen2 | qwen3 */              \
  X(Task, task, task, Task::classification)                                                         \
  X(int64_t, vocab_size, vocabSize, 32000)                 /* V */                                  \
  X(int64_t, hidden_size, hiddenSize, 4096)                /* C */                                  \
  X(int64_t, intermediate_size, intermediateSize, 11008)   /* F, the SwiGLU width */                \
  X(int64_t, num_hidden_layers, numHiddenLayers, 32)       /* L */                                  \
  X(int64_t, num_attention_heads, numAttentionHeads, 32)   /* H */                                  \
  X(int64_t, num_key_value_heads, numKeyValueHeads, 32)    /* KV: each serves H / KV query heads */ \
  X(int64_t, head_dim, headDim, 128)                       /* D, not necessarily C / H (qwen3) */   \
  X(int64_t, max_position_embeddings, maxPositionEmbeddings, 2048)                                  \
  X(double, rms_norm_eps, rmsNormEps, 1e-6)                                                         \
  X(double, rope_theta, ropeTheta, 10000.0)                                                         \
  X(RopeScaling, rope_scaling_type, ropeScalingType, RopeScaling::none)                             \
  X(double, rope_scaling_factor, ropeScalingFactor, 8.0)   /* llama3's four numbers */              \
  X(double, rope_low_freq_factor, ropeLowFreqFactor, 1.0)                                           \
  X(double, rope_high_freq_factor, ropeHighFreqFactor, 4.0)                                         \
  X(int64_t, rope_original_max_position_embeddings, ropeOriginalMaxPositionEmbeddings, 8192)        \
  X(bool, qkv_bias, qkvBias, false)   /* bias on q_proj, k_proj, v_proj (qwen2; llama's attention_bias) */ \
  X(bool, o_bias, oBias, false)       /* bias on o_proj (llama's attention_bias) */                 \
  X(bool, mlp_bias, mlpBias, false)   /* bias on gate_proj, up_proj, down_proj */                   \
  X(bool, qk_norm, qkNorm, false)     /* qwen3: RMSNorm over each head's q and k before RoPE */     \
  X(bool, tie_word_embeddings, tieWordEmbeddings, false) /* lm_head is embed_tokens */             \
  X(int64_t, sliding_window, slidingWindow, 0) /* mistral: keys i - W < j <= i; 0: no window */     \
  X(double, attention_dropout, attentionDropout, 0.0)                                               \
  X(int64_t, num_labels, numLabels, 2) /* K, classes of the classification head */                 \
  X(int64_t, pad_token_id, padTokenId, 0)                                                           \
  X(double, initializer_range, initializerRange, 0.02)

struct DecoderConfig {
  FTPLAN_DECODER_CONFIG(FTPLAN_FIELD)

  int64_t kv_groups() const { return num_attention_heads / num_key_value_heads; }  // G = H / KV
  bool causal_lm() const { return task == Task::causal_lm; }
};

// Throws std::invalid_argument naming the field and the fix when the config cannot be built.
void validate(const DecoderConfig& cfg);

}  // namespace ftplan
