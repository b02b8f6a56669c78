// dropout.h — dropout for CPU tensors without a stored mask.
//
// LibTorch's CPU dropout draws a Bernoulli mask with a scalar mt19937 loop (Debian's build has no
// MKL), stores it as a full tensor of the input's dtype for backward, and multiplies. GPT-2 small
// at 8 × 128 calls it 37 times a step over 38.5 M elements: ~260 ms of a ~4 s step in the profile
// (`aten::bernoulli_`), and 154 MB of saved masks.
//
// Here element i of a call is kept iff one 32-bit half of splitmix64(seed + (⌊i/2⌋+1)·γ) is below
// (1-p)·2³²: a counter-based stream (splitmix64's own output sequence), so the mask is a pure
// function of (seed, i) — the same for any thread count, parallel over elements, and regenerated
// in backward instead of stored. The seed is drawn from the default CPU generator, so
// torch::manual_seed (the trainer's per-micro-batch seeds, checkpoints' RNG state) governs it
// exactly as it governs torch's dropout. Kept values are x·1/(1-p), dropped are x·0 (a NaN stays
// NaN, as in torch). Other devices (CUDA's fused kernel) and dtypes use torch's dropout.
#pragma once

#include <torch/torch.h>

#include "record.h"

namespace ftplan {

// Training-mode dropout with probability p of zeroing each element; identity when !training or p == 0.
torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

// Whether CPU tensors use the kernel above (default) or torch's dropout (FTPLAN_TORCH_DROPOUT=1 at
// load, or set_cpu_dropout_enabled(false), for side-by-side benchmarks).
bool cpu_dropout_enabled();
void set_cpu_dropout_enabled(bool on);

// The kernel's mask, for kernels that fuse dropout into their own loop (attention.cpp): a seed
// drawn from the default CPU generator, and whether flat element i is kept under it.
uint64_t draw_dropout_seed();
namespace dropout_detail {
constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
// the hash of element pair ⌊i/2⌋; element i is kept iff its half (low for even i) < threshold
inline uint64_t pair_hash(uint64_t seed, uint64_t i) { return mix64(seed + ((i >> 1) + 1) * kGamma); }
inline bool kept(uint64_t hash, uint64_t i, uint64_t threshold) {
  return ((i & 1) ? (hash >> 32) : (hash & 0xFFFFFFFFULL)) < threshold;
}
// keep iff a uniform u32 < (1-p)·2³²
uint64_t keep_threshold(double p);
}  // namespace dropout_detail

// For tests: statistics of one forward + backward through the kernel on n elements (n >= 1,
// 0 < p < 1).
#define FTPLAN_DROPOUT_CHECK(X)                                                                  \
  X(double, kept_fraction, keptFraction, 0)           /* fraction of elements kept */            \
  X(double, max_forward_error, maxForwardError, 0)    /* max |y - x·scale·keep| (0 when exact) */ \
  /* max |dx - dy·(y/x)|: backward regenerates the forward's mask */                              \
  X(double, max_backward_error, maxBackwardError, 0)                                             \
  X(bool, same_with_same_seed, sameWithSameSeed, false) /* torch::manual_seed(s) twice → identical outputs */ \
  X(bool, differs_with_other_seed, differsWithOtherSeed, false)                                  \
  X(bool, same_across_threads, sameAcrossThreads, false) /* 1 thread against 2+ threads */       \
  X(bool, bf16_matches_fp32_mask, bf16MatchesFp32Mask, false) /* same seed, bf16 input: the same elements kept */

struct DropoutCheck {
  FTPLAN_DROPOUT_CHECK(FTPLAN_FIELD)
};
DropoutCheck dropout_check(int64_t n, double p);

}  // namespace ftplan
