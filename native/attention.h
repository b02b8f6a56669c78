// attention.h — the causal softmax of GPT-2's attention, fused with its scale and dropout, for CPU
// builds without scaled_dot_product_attention (LibTorch < 2.0, e.g. Debian's 1.13).
//
// Composed from torch ops, the step between q·kᵀ and ·v makes five passes over the [B,H,T,T]
// scores forward (scale, causal mask, softmax, dropout) and four backward, each into a freshly
// allocated tensor (12.6 MB per layer at 16 × 128 for gpt2, page-faulted in on every step). Here
// one pass forward writes softmax(scale·s + causal) and its dropped-out copy, and one pass
// backward writes the scores' gradient; positions above the diagonal are never exponentiated.
// Only the causal mask is applied: with right padding a real token's keys are all real tokens,
// so the padding mask changes nothing a real token (or the head, which reads the last real token)
// sees — as in the SDPA path. Dropout uses the same counter-based mask as dropout.h (element i of
// the contiguous [N,T,T] output, seed from the default CPU generator), so the fused op keeps the
// same elements as ftplan::dropout applied to the softmax would.
#pragma once

#include <torch/torch.h>

#include "record.h"

namespace ftplan {

// scores: [N, T, T] (N = batch · heads), CPU, float or bfloat16. Returns dropout_p(softmax(scale ·
// scores masked causally)) in the scores' dtype; the softmax itself is computed and kept (for
// backward) in float, as autocast does for softmax.
torch::Tensor causal_softmax_dropout(const torch::Tensor& scores, double scale, double p, bool training);

// Whether the manual attention path uses the fused op (default) or torch's ops
// (FTPLAN_UNFUSED_ATTENTION=1 at load, or set_fused_attention_enabled(false), for benchmarks).
bool fused_attention_enabled();
void set_fused_attention_enabled(bool on);
// Whether attention on `device` takes the fused op: CPU, and enabled.
inline bool uses_fused_attention(const c10::Device& device) { return device.is_cpu() && fused_attention_enabled(); }

// For tests: the fused op against the composition of torch ops (scale, causal masked_fill,
// softmax, ftplan::dropout with the same seed) on random [n, t, t] scores (n, t >= 1; 0 < p < 1).
#define FTPLAN_FUSED_ATTENTION_CHECK(X)                                                               \
  X(double, max_forward_error, maxForwardError, 0)   /* p = 0: max |fused - composed| */              \
  X(double, max_backward_error, maxBackwardError, 0) /* p = 0: max |d fused - d composed| (scores' gradient) */ \
  X(double, max_dropout_forward_error, maxDropoutForwardError, 0)   /* p > 0, same seed: max |fused - composed| */ \
  X(double, max_dropout_backward_error, maxDropoutBackwardError, 0) /* p > 0, same seed */             \
  X(bool, upper_triangle_zero, upperTriangleZero, false) /* output and gradient are 0 above the diagonal */ \
  X(double, max_bf16_error, maxBf16Error, 0)             /* bf16 scores against the float result */

struct FusedAttentionCheck {
  FTPLAN_FUSED_ATTENTION_CHECK(FTPLAN_FIELD)
};
FusedAttentionCheck fused_attention_check(int64_t n, int64_t t, double p);

// For benchmarks: forward + backward of the op on [n, t, t] scores, fused against composed from
// torch ops, interleaved over `reps` pairs; median ms of each (n, t, reps >= 1; 0 <= p < 1).
#define FTPLAN_FUSED_ATTENTION_TIMING(X) \
  X(double, fused_ms, fusedMs, 0)        \
  X(double, composed_ms, composedMs, 0)

struct FusedAttentionTiming {
  FTPLAN_FUSED_ATTENTION_TIMING(FTPLAN_FIELD)
};
FusedAttentionTiming fused_attention_timing(int64_t n, int64_t t, double p, int64_t reps);

}  // namespace ftplan
