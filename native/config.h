// config.h — the GPT-2 shape record (HF GPT2Config field names) and its validation.
//
// Presets (gpt2, gpt2-medium, …) are defined once, in TypeScript (src/model/presets.ts), and
// arrive here as a full config; this file only checks that a config can be built.
#pragma once

#include <cstdint>
#include <string>

#include "record.h"

namespace ftplan {

// X(type, name, jsName, default): see record.h.
#define FTPLAN_GPT2_CONFIG(X)                                                     \
  X(int64_t, vocab_size, vocabSize, 50257)                                        \
  X(int64_t, n_positions, nPositions, 1024) /* max sequence length (wpe rows) */  \
  X(int64_t, n_embd, nEmbd, 768)            /* C, channels */                     \
  X(int64_t, n_layer, nLayer, 12)           /* L, blocks */                       \
  X(int64_t, n_head, nHead, 12)             /* H, heads; head size D = C / H */   \
  X(int64_t, n_inner, nInner, 0)            /* MLP width; 0: 4 * n_embd (HF's None) */ \
  X(int64_t, num_labels, numLabels, 3)      /* classes of the sequence-classification head */ \
  X(int64_t, pad_token_id, padTokenId, 50256)                                     \
  X(double, layer_norm_epsilon, layerNormEpsilon, 1e-5)                           \
  X(double, embd_pdrop, embdPdrop, 0.1)                                           \
  X(double, attn_pdrop, attnPdrop, 0.1)                                           \
  X(double, resid_pdrop, residPdrop, 0.1)                                         \
  X(double, initializer_range, initializerRange, 0.02)

struct GPT2Config {
  FTPLAN_GPT2_CONFIG(FTPLAN_FIELD)

  int64_t inner() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
  int64_t head_size() const { return n_embd / n_head; }
};

// Throws std::invalid_argument naming the field and the fix when the config cannot be built.
void validate(const GPT2Config& cfg);

}  // namespace ftplan
