// rmsnorm.h — Hugging Face's LlamaRMSNorm, y = weight · x / sqrt(mean(x²) + eps) (the mean in fp32,
// the normalized x cast back to x's dtype before the weight), with a fused CPU path.
//
// Composed from torch ops, a norm makes five passes over its [N, n] input forward (square, mean,
// scale, cast, weight) and keeps the normalized copy for backward. For the decoders' residual
// stream (contiguous fp32 on the CPU, also under autocast) one pass forward writes y and keeps only
// 1/rms per row; one pass backward writes ∂x, and ∂weight is summed from fixed blocks of rows in a
// fixed order, so the result does not depend on the thread count. Elsewhere (bf16 inputs such as
// qwen3's q/k norms under autocast, CUDA) the composed ops run, HF's formula verbatim.
//
// Shapes: N rows (every position, or position × head), n the normalized width.
#pragma once

#include <torch/torch.h>

namespace ftplan {

// x [..., n], weight [n] -> [..., n].
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// Whether fp32 CPU inputs take the fused path (default) or the composed ops
// (FTPLAN_COMPOSED_RMSNORM=1 at load, or set_fused_rms_norm_enabled(false), for benchmarks).
bool fused_rms_norm_enabled();
void set_fused_rms_norm_enabled(bool on);

}  // namespace ftplan
