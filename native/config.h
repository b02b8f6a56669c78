// config.h — the GPT-2 shape record (HF GPT2Config field names) and its validation.
//
// Presets (gpt2, gpt2-medium, …) are defined once, in TypeScript (src/model/presets.ts), and
// arrive here as a full config; this file only checks that a config can be built.
#pragma once

#include <cstdint>
#include <string>

namespace ftplan {

struct GPT2Config {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;  // max sequence length (wpe rows)
  int64_t n_embd = 768;        // C, channels
  int64_t n_layer = 12;        // L, blocks
  int64_t n_head = 12;         // H, heads; head size D = C / H
  int64_t n_inner = 0;         // MLP width; 0 means 4 * n_embd (HF: n_inner=None)
  int64_t num_labels = 3;      // classes of the sequence-classification head
  int64_t pad_token_id = 50256;
  double layer_norm_epsilon = 1e-5;
  double embd_pdrop = 0.1;
  double attn_pdrop = 0.1;
  double resid_pdrop = 0.1;
  double initializer_range = 0.02;

  int64_t inner() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
  int64_t head_size() const { return n_embd / n_head; }
};

// Throws std::invalid_argument naming the field and the fix when the config cannot be built.
void validate(const GPT2Config& cfg);

}  // namespace ftplan
