// rmsnorm.cpp — see rmsnorm.h.
#include "rmsnorm.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "switch.h"

namespace ftplan {

FTPLAN_SWITCH_ACCESSORS(fused_rms_norm_enabled, set_fused_rms_norm_enabled, "FTPLAN_COMPOSED_RMSNORM")

namespace {

constexpr int kLanes = 8;
constexpr int64_t kBlockRows = 64;  // rows per partial sum of ∂weight (fixed: the sum's order never changes)

torch::Tensor composed(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto h = x.to(torch::kFloat);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

// Σ a[j]·b[j] over n, in kLanes partial sums (vectorizes).
inline float dot(const float* a, const float* b, int64_t n) {
  float acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += a[j + k] * b[j + k];
  float s = 0;
  for (; j < n; ++j) s += a[j] * b[j];
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

// y = w · (x · r), r = 1 / sqrt(mean(x²) + eps) per row.
__attribute__((target_clones("arch=x86-64-v3", "default")))
void forward_rows(const float* X, const float* W, float* Y, float* R, int64_t begin, int64_t end, int64_t n, float eps) {
  for (int64_t row = begin; row < end; ++row) {
    const float* x = X + row * n;
    const float r = 1.0f / std::sqrt(dot(x, x, n) / static_cast<float>(n) + eps);
    R[row] = r;
    float* y = Y + row * n;
    for (int64_t j = 0; j < n; ++j) y[j] = W[j] * (x[j] * r);
  }
}

// ∂x = r · (g·w − x̂ · mean(g·w·x̂)), x̂ = x·r; and this block's Σ_rows g·x̂ into P (n floats).
__attribute__((target_clones("arch=x86-64-v3", "default")))
void backward_block(const float* G, const float* X, const float* W, const float* R, float* DX, float* P, int64_t begin, int64_t end, int64_t n) {
  std::vector<float> gw(static_cast<size_t>(n)), xh(static_cast<size_t>(n));
  std::fill(P, P + n, 0.0f);
  for (int64_t row = begin; row < end; ++row) {
    const float* g = G + row * n;
    const float* x = X + row * n;
    const float r = R[row];
    for (int64_t j = 0; j < n; ++j) {
      gw[j] = g[j] * W[j];
      xh[j] = x[j] * r;
      P[j] += g[j] * xh[j];
    }
    const float c = dot(gw.data(), xh.data(), n) / static_cast<float>(n);
    float* dx = DX + row * n;
    for (int64_t j = 0; j < n; ++j) dx[j] = r * (gw[j] - xh[j] * c);
  }
}

struct FusedRmsNorm : public torch::autograd::Function<FusedRmsNorm> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    const int64_t n = x.size(-1), N = x.numel() / n;
    auto y = torch::empty_like(x);
    auto r = torch::empty({N}, x.options());
    const float* X = x.data_ptr<float>();
    const float* W = weight.data_ptr<float>();
    float* Y = y.data_ptr<float>();
    float* Rp = r.data_ptr<float>();
    const float e = static_cast<float>(eps);
    at::parallel_for(0, N, 16, [&](int64_t b, int64_t end) { forward_rows(X, W, Y, Rp, b, end, n, e); });
    ctx->save_for_backward({x, weight, r});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const auto& r = saved[2];
    const auto g = grads[0].to(torch::kFloat).contiguous();
    const int64_t n = x.size(-1), N = x.numel() / n;
    const int64_t blocks = (N + kBlockRows - 1) / kBlockRows;
    auto dx = torch::empty_like(x);
    auto partial = torch::empty({std::max<int64_t>(blocks, 1), n}, x.options());
    const float *G = g.data_ptr<float>(), *X = x.data_ptr<float>(), *W = weight.data_ptr<float>(), *Rp = r.data_ptr<float>();
    float* DX = dx.data_ptr<float>();
    float* P = partial.data_ptr<float>();
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) backward_block(G, X, W, Rp, DX, P + b * n, b * kBlockRows, std::min(N, (b + 1) * kBlockRows), n);
    });
    // ∂weight: the blocks' partial sums added in block order, column ranges in parallel.
    auto dw = torch::zeros({n}, x.options());
    float* DW = dw.data_ptr<float>();
    at::parallel_for(0, n, 256, [&](int64_t j0, int64_t j1) {
      for (int64_t b = 0; b < blocks; ++b)
        for (int64_t j = j0; j < j1; ++j) DW[j] += P[b * n + j];
    });
    return {dx, dw, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  const bool fused = fused_rms_norm_enabled() && x.device().is_cpu() && x.scalar_type() == torch::kFloat && weight.scalar_type() == torch::kFloat &&
                     x.dim() >= 1 && x.size(-1) == weight.numel() && x.numel() > 0;
  if (!fused) return composed(x, weight, eps);
  return FusedRmsNorm::apply(x.contiguous(), weight.contiguous(), eps);
}

}  // namespace ftplan
