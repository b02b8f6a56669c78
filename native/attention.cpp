// attention.cpp — see attention.h.
#include "attention.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "dropout.h"
#include "switch.h"

namespace ftplan {

namespace {

constexpr int kLanes = 8;

// e^x for x <= 0 (a score minus its row's maximum), Cephes' expf polynomial with the exponent
// rounded by the 1.5·2²³ trick so that the loop vectorizes; relative error ~2e-7 (tested against
// torch's softmax). Below -87 (where e^x nears the denormal range) it returns 0; NaN stays NaN.
inline float exp_nonpositive(float x) {
  const bool under = x < -87.0f;
  x = under ? -87.0f : x;
  const float magic = 12582912.0f;  // 1.5 · 2^23: adding it rounds to an integer
  float fn = x * 1.44269504088896341f + magic;
  int32_t bits;
  std::memcpy(&bits, &fn, sizeof bits);
  fn -= magic;
  const int32_t n = bits - 0x4B400000;
  const float r = (x - fn * 0.693359375f) - fn * -2.12194440e-4f;
  float q = 1.9875691500e-4f;
  q = q * r + 1.3981999507e-3f;
  q = q * r + 8.3334519073e-3f;
  q = q * r + 4.1665795894e-2f;
  q = q * r + 1.6666665459e-1f;
  q = q * r + 5.0000001201e-1f;
  q = q * r * r + r + 1.0f;
  const int32_t e = (n + 127) << 23;
  float s;
  std::memcpy(&s, &e, sizeof s);
  return under ? 0.0f : q * s;
}

inline float to_float(float v) { return v; }
inline float to_float(c10::BFloat16 v) { return static_cast<float>(v); }

// out[j] = in[j] · keep_scale where dropout.h's mask keeps flat element base + j, else 0 (j < c): the
// forward's dropped-out output and the backward's gradient through it use the same mask this way.
template <typename in_t, typename out_t>
inline void dropout_row(const in_t* in, out_t* out, int64_t c, uint64_t base, uint64_t seed, uint64_t threshold, float keep_scale) {
  uint64_t h = dropout_detail::pair_hash(seed, base);
  for (int64_t j = 0; j < c; ++j) {
    const uint64_t idx = base + static_cast<uint64_t>(j);
    if (j > 0 && (idx & 1) == 0) h = dropout_detail::pair_hash(seed, idx);
    out[j] = static_cast<out_t>(dropout_detail::kept(h, idx, threshold) ? to_float(in[j]) * keep_scale : 0.0f);
  }
}

// Row `row` of [N,T,T] is query i = row mod T: it sees keys 0..i.
// y = softmax(scale · x[0..i]) (float, zeros above the diagonal); out = y with dropout (out_t).
template <typename in_t, typename out_t>
__attribute__((target_clones("arch=x86-64-v3", "default")))
void forward_rows(const in_t* S, float* Y, out_t* O, int64_t begin, int64_t end, int64_t T, float scale, bool drop, uint64_t seed, uint64_t threshold, float keep_scale) {
  std::vector<float> xs(static_cast<size_t>(T));
  for (int64_t row = begin; row < end; ++row) {
    const int64_t c = row % T + 1;
    const in_t* src = S + row * T;
    float* x = xs.data();
    for (int64_t j = 0; j < c; ++j) x[j] = to_float(src[j]) * scale;
    float mx[kLanes];
    for (int k = 0; k < kLanes; ++k) mx[k] = -std::numeric_limits<float>::infinity();
    int64_t j = 0;
    for (; j + kLanes <= c; j += kLanes)
      for (int k = 0; k < kLanes; ++k) mx[k] = x[j + k] > mx[k] ? x[j + k] : mx[k];
    float m = -std::numeric_limits<float>::infinity();
    for (int k = 0; k < kLanes; ++k) m = mx[k] > m ? mx[k] : m;
    for (; j < c; ++j) m = x[j] > m ? x[j] : m;
    float* y = Y + row * T;
    float sums[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    j = 0;
    for (; j + kLanes <= c; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        const float e = exp_nonpositive(x[j + k] - m);
        y[j + k] = e;
        sums[k] += e;
      }
    float sum = 0;
    for (; j < c; ++j) {
      const float e = exp_nonpositive(x[j] - m);
      y[j] = e;
      sum += e;
    }
    for (int k = 0; k < kLanes; ++k) sum += sums[k];
    const float inv = 1.0f / sum;
    for (j = 0; j < c; ++j) y[j] *= inv;
    std::fill(y + c, y + T, 0.0f);
    if (!O) continue;  // out is y itself
    out_t* o = O + row * T;
    if (drop) {
      dropout_row(y, o, c, static_cast<uint64_t>(row * T), seed, threshold, keep_scale);
    } else {
      for (j = 0; j < c; ++j) o[j] = static_cast<out_t>(y[j]);
    }
    std::fill(o + c, o + T, static_cast<out_t>(0.0f));
  }
}

// dx = scale · y ⊙ (dy − ⟨dy, y⟩) over keys 0..i, dy = dropout's backward of the output gradient.
template <typename g_t, typename dx_t>
__attribute__((target_clones("arch=x86-64-v3", "default")))
void backward_rows(const g_t* G, const float* Y, dx_t* DX, int64_t begin, int64_t end, int64_t T, float scale, bool drop, uint64_t seed, uint64_t threshold, float keep_scale) {
  std::vector<float> dys(static_cast<size_t>(T));
  for (int64_t row = begin; row < end; ++row) {
    const int64_t c = row % T + 1;
    const g_t* g = G + row * T;
    const float* y = Y + row * T;
    float* dy = dys.data();
    if (drop) {
      dropout_row(g, dy, c, static_cast<uint64_t>(row * T), seed, threshold, keep_scale);
    } else {
      for (int64_t j = 0; j < c; ++j) dy[j] = to_float(g[j]);
    }
    float dots[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + kLanes <= c; j += kLanes)
      for (int k = 0; k < kLanes; ++k) dots[k] += dy[j + k] * y[j + k];
    float dot = 0;
    for (; j < c; ++j) dot += dy[j] * y[j];
    for (int k = 0; k < kLanes; ++k) dot += dots[k];
    dx_t* dx = DX + row * T;
    for (j = 0; j < c; ++j) dx[j] = static_cast<dx_t>(scale * y[j] * (dy[j] - dot));
    std::fill(dx + c, dx + T, static_cast<dx_t>(0.0f));
  }
}

constexpr int64_t kGrainRows = 16;

void check_scores(const torch::Tensor& s) {
  if (!s.device().is_cpu() || s.dim() != 3 || s.size(1) != s.size(2))
    throw std::invalid_argument("causal_softmax_dropout: scores must be a CPU tensor [N, T, T]");
  if (s.scalar_type() != at::kFloat && s.scalar_type() != at::kBFloat16)
    throw std::invalid_argument("causal_softmax_dropout: scores must be float or bfloat16");
}

// Returns {y (float softmax), out (scores' dtype, dropout applied; y itself when they coincide)}.
std::pair<torch::Tensor, torch::Tensor> run_forward(const torch::Tensor& scores, double scale, double p, uint64_t seed) {
  auto s = scores.contiguous();
  const int64_t N = s.size(0), T = s.size(1);
  const bool drop = p > 0.0;
  auto y = torch::empty({N, T, T}, s.options().dtype(at::kFloat));
  const bool same = !drop && s.scalar_type() == at::kFloat;
  auto out = same ? y : torch::empty({N, T, T}, s.options());
  const uint64_t threshold = drop ? dropout_detail::keep_threshold(p) : 0;
  const float keep_scale = drop ? static_cast<float>(1.0 / (1.0 - p)) : 1.0f;
  const float sc = static_cast<float>(scale);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, s.scalar_type(), "ftplan_causal_softmax", [&] {
    if constexpr (std::is_same<scalar_t, float>::value || std::is_same<scalar_t, c10::BFloat16>::value) {
      const scalar_t* S = s.data_ptr<scalar_t>();
      float* Y = y.data_ptr<float>();
      scalar_t* O = same ? nullptr : out.data_ptr<scalar_t>();
      at::parallel_for(0, N * T, kGrainRows, [&](int64_t b, int64_t e) {
        forward_rows<scalar_t, scalar_t>(S, Y, O, b, e, T, sc, drop, seed, threshold, keep_scale);
      });
    }
  });
  return {y, out};
}

torch::Tensor run_backward(const torch::Tensor& grad, const torch::Tensor& y, at::ScalarType dx_type, double scale, double p, uint64_t seed) {
  auto g = grad.contiguous();
  const int64_t N = y.size(0), T = y.size(1);
  const bool drop = p > 0.0;
  auto dx = torch::empty({N, T, T}, y.options().dtype(dx_type));
  const uint64_t threshold = drop ? dropout_detail::keep_threshold(p) : 0;
  const float keep_scale = drop ? static_cast<float>(1.0 / (1.0 - p)) : 1.0f;
  const float sc = static_cast<float>(scale);
  const float* Y = y.data_ptr<float>();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, g.scalar_type(), "ftplan_causal_softmax_backward", [&] {
    if constexpr (std::is_same<scalar_t, float>::value || std::is_same<scalar_t, c10::BFloat16>::value) {
      const scalar_t* G = g.data_ptr<scalar_t>();
      at::parallel_for(0, N * T, kGrainRows, [&](int64_t b, int64_t e) {
        if (dx_type == at::kFloat)
          backward_rows<scalar_t, float>(G, Y, dx.data_ptr<float>(), b, e, T, sc, drop, seed, threshold, keep_scale);
        else
          backward_rows<scalar_t, c10::BFloat16>(G, Y, dx.data_ptr<c10::BFloat16>(), b, e, T, sc, drop, seed, threshold, keep_scale);
      });
    } else {
      throw std::invalid_argument("causal_softmax_dropout: gradient must be float or bfloat16");
    }
  });
  return dx;
}

struct CausalSoftmaxDropout : public torch::autograd::Function<CausalSoftmaxDropout> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& scores, double scale, double p, int64_t seed) {
    auto [y, out] = run_forward(scores, scale, p, static_cast<uint64_t>(seed));
    ctx->save_for_backward({y});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["dtype"] = static_cast<int64_t>(scores.scalar_type());
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto y = ctx->get_saved_variables()[0];
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    auto dx = run_backward(grads[0], y, dtype, ctx->saved_data["scale"].toDouble(), ctx->saved_data["p"].toDouble(),
                           static_cast<uint64_t>(ctx->saved_data["seed"].toInt()));
    return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

FTPLAN_SWITCH_ACCESSORS(fused_attention_enabled, set_fused_attention_enabled, "FTPLAN_UNFUSED_ATTENTION")

torch::Tensor causal_softmax_dropout(const torch::Tensor& scores, double scale, double p, bool training) {
  check_scores(scores);
  if (!training || p < 0.0) p = 0.0;
  if (p >= 1.0) throw std::invalid_argument("causal_softmax_dropout: dropout probability must be below 1");
  const uint64_t seed = p > 0.0 ? draw_dropout_seed() : 0;
  if (torch::GradMode::is_enabled() && scores.requires_grad())
    return CausalSoftmaxDropout::apply(scores, scale, p, static_cast<int64_t>(seed));
  return run_forward(scores, scale, p, seed).second;
}

FusedAttentionCheck fused_attention_check(int64_t n, int64_t t, double p) {
  if (n < 1 || t < 1) throw std::invalid_argument("n and t must be at least 1");
  if (!(p > 0.0 && p < 1.0)) throw std::invalid_argument("p must be in (0, 1)");
  FusedAttentionCheck c;
  auto composed = [&](const torch::Tensor& s, double prob) {
    auto causal = torch::ones({t, t}, torch::kBool).tril();
    auto a = (s * (1.0 / 8.0)).masked_fill(causal.logical_not(), -std::numeric_limits<double>::infinity());
    return ftplan::dropout(torch::softmax(a, -1), prob, prob > 0.0);
  };
  const bool dropout_was = cpu_dropout_enabled();
  set_cpu_dropout_enabled(true);
  auto base = torch::randn({n, t, t}) * 4.0;
  auto dy = torch::randn({n, t, t});
  auto upper = torch::ones({t, t}, torch::kBool).triu(1);
  for (const double prob : {0.0, p}) {
    auto s1 = base.clone().requires_grad_(true);
    auto s2 = base.clone().requires_grad_(true);
    torch::manual_seed(77);
    auto f = causal_softmax_dropout(s1, 1.0 / 8.0, prob, true);
    torch::manual_seed(77);
    auto r = composed(s2, prob);
    f.backward(dy);
    r.backward(dy);
    const double fe = (f.detach() - r.detach()).abs().max().item<double>();
    const double be = (s1.grad() - s2.grad()).abs().max().item<double>();
    if (prob == 0.0) {
      c.max_forward_error = fe;
      c.max_backward_error = be;
      c.upper_triangle_zero = f.detach().masked_select(upper.expand({n, t, t})).abs().max().item<double>() == 0.0 &&
                              s1.grad().masked_select(upper.expand({n, t, t})).abs().max().item<double>() == 0.0;
    } else {
      c.max_dropout_forward_error = fe;
      c.max_dropout_backward_error = be;
    }
  }
  {
    torch::NoGradGuard ng;
    auto fb = causal_softmax_dropout(base.to(torch::kBFloat16), 1.0 / 8.0, 0.0, false);
    auto ff = causal_softmax_dropout(base.to(torch::kBFloat16).to(torch::kFloat), 1.0 / 8.0, 0.0, false);
    c.max_bf16_error = (fb.to(torch::kFloat) - ff).abs().max().item<double>();
  }
  set_cpu_dropout_enabled(dropout_was);
  return c;
}

FusedAttentionTiming fused_attention_timing(int64_t n, int64_t t, double p, int64_t reps) {
  if (n < 1 || t < 1 || reps < 1) throw std::invalid_argument("n, t and reps must be at least 1");
  if (!(p >= 0.0 && p < 1.0)) throw std::invalid_argument("p must be in [0, 1)");
  auto base = torch::randn({n, t, t});
  auto dy = torch::randn({n, t, t});
  auto causal = torch::ones({t, t}, torch::kBool).tril().logical_not();
  const double scale = 1.0 / 8.0;
  auto once = [&](bool fused) {
    auto s = base.clone().requires_grad_(true);
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor y;
    if (fused) {
      y = causal_softmax_dropout(s, scale, p, true);
    } else {
      y = ftplan::dropout(torch::softmax((s * scale).masked_fill(causal, -std::numeric_limits<double>::infinity()), -1), p, p > 0.0);
    }
    y.backward(dy);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  once(true);
  once(false);
  std::vector<double> f, c;
  for (int64_t i = 0; i < reps; ++i) {
    if (i % 2) {
      c.push_back(once(false));
      f.push_back(once(true));
    } else {
      f.push_back(once(true));
      c.push_back(once(false));
    }
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  return {med(f), med(c)};
}

}  // namespace ftplan
