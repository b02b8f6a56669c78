// decoder_config.cpp — validation of DecoderConfig (see decoder_config.h).
#include "decoder_config.h"

#include <stdexcept>

namespace ftplan {

namespace {
void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}
std::string num(int64_t x) { return std::to_string(x); }
}  // namespace

void validate(const DecoderConfig& c) {
  require(c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2" || c.model_type == "qwen3",
          "model_type '" + c.model_type + "' is not a decoder ftplan builds: use llama, mistral, qwen2 or qwen3");
  require(c.vocab_size > 0, "vocab_size must be positive");
  require(c.hidden_size > 0, "hidden_size must be positive");
  require(c.intermediate_size > 0, "intermediate_size must be positive");
  require(c.num_hidden_layers > 0, "num_hidden_layers must be positive");
  require(c.num_attention_heads > 0, "num_attention_heads must be positive");
  require(c.num_key_value_heads > 0, "num_key_value_heads must be positive");
  require(c.num_attention_heads % c.num_key_value_heads == 0,
          "num_key_value_heads (" + num(c.num_key_value_heads) + ") must divide num_attention_heads (" + num(c.num_attention_heads) +
              "): each key/value head serves a whole group of query heads");
  require(c.head_dim > 0 && c.head_dim % 2 == 0, "head_dim must be positive and even (RoPE rotates pairs of channels), got " + num(c.head_dim));
  require(c.max_position_embeddings > 0, "max_position_embeddings must be positive");
  require(c.rms_norm_eps > 0.0, "rms_norm_eps must be positive");
  require(c.rope_theta > 0.0, "rope_theta must be positive");
  if (c.rope_scaling_type == RopeScaling::llama3) {
    require(c.rope_scaling_factor > 0.0, "rope_scaling.factor must be positive");
    require(c.rope_low_freq_factor > 0.0 && c.rope_high_freq_factor > c.rope_low_freq_factor,
            "rope_scaling needs 0 < low_freq_factor < high_freq_factor (llama3 interpolates between them)");
    require(c.rope_original_max_position_embeddings > 0, "rope_scaling.original_max_position_embeddings must be positive");
  }
  require(c.sliding_window >= 0, "sliding_window must be 0 (none) or positive");
  require(c.attention_dropout >= 0.0 && c.attention_dropout < 1.0, "attention_dropout must be in [0, 1)");
  require(c.task != Task::classification || c.num_labels >= 2, "num_labels must be at least 2");
  require(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size, "pad_token_id must be a token id below vocab_size");
  require(c.initializer_range > 0.0, "initializer_range must be positive");
}

}  // namespace ftplan
