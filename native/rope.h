// rope.h — rotary position embeddings as Hugging Face's Llama family applies them: inverse
// frequencies θ^(-2i/D) for i < D/2 (rope_theta = θ), optionally rescaled by rope_type "llama3"
// (_compute_llama3_parameters: wavelengths longer than original_max / low_freq_factor are divided by
// `factor`, shorter than original_max / high_freq_factor are kept, the ones between interpolated),
// and the "rotate_half" convention: channel i pairs with channel i + D/2, so
//   rope(x)[t] = x[t] · cos(t·f) + rotate_half(x[t]) · sin(t·f),  rotate_half(x) = [-x₂, x₁],
// with f = [inv_freq, inv_freq] (D values). Not the interleaved (GPT-J / Meta checkpoint) layout:
// HF's checkpoints are already permuted to rotate_half.
//
// Shapes: T positions, D head_dim.
#pragma once

#include <torch/torch.h>

#include "decoder_config.h"

namespace ftplan {

// inv_freq [D/2] float64 on the CPU, llama3-rescaled when the config asks for it.
torch::Tensor rope_inverse_frequencies(const DecoderConfig& cfg);

// cos and sin of every (position, channel) angle for positions 0..T-1: [T, D] each, float32.
// Computed in float64 (HF computes them in float32; the difference is below 1e-6 at the lengths
// fine-tuning uses) and kept per model (RopeCache).
struct RopeTables {
  torch::Tensor cos, sin;  // [T, D]
};

// The tables for the longest length asked so far on one device; shorter lengths are views of it.
class RopeCache {
 public:
  explicit RopeCache(const DecoderConfig& cfg) : inv_freq_(rope_inverse_frequencies(cfg)) {}
  RopeTables get(int64_t T, const c10::Device& device);

 private:
  torch::Tensor inv_freq_;
  RopeTables tables_;
};

// x [..., T, D] (heads before T) -> x·cos + rotate_half(x)·sin, contiguous, in x's dtype; cos, sin
// [T, D] (or anything broadcasting to x, e.g. [B, 1, 1, D] for one position a row).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace ftplan
