// dropout.cpp — see dropout.h.
#include "dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <stdexcept>
#include <mutex>
#include <type_traits>

#include "switch.h"

namespace ftplan {

namespace {

using dropout_detail::kGamma;
using dropout_detail::mix64;

// out[i] = in[i] · (keep(seed, i) ? scale : 0), over the logical (row-major) element order.
torch::Tensor apply_mask(const torch::Tensor& input, double p, uint64_t seed) {
  auto in = input.contiguous();
  auto out = torch::empty_like(in, in.options().memory_format(c10::MemoryFormat::Contiguous));
  const int64_t n = in.numel();
  const int64_t pairs = (n + 1) / 2;
  const double q = 1.0 - p;
  const uint64_t threshold = dropout_detail::keep_threshold(p);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, in.scalar_type(), "ftplan_dropout", [&] {
    using acc_t = std::conditional_t<std::is_same<scalar_t, double>::value, double, float>;
    const acc_t scale = static_cast<acc_t>(1.0 / q);
    const scalar_t* src = in.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, pairs, 8192, [&](int64_t begin, int64_t end) {
      const int64_t full_end = std::min(end, n / 2);  // pairs with both elements present
      for (int64_t j = begin; j < full_end; ++j) {
        const uint64_t h = mix64(seed + static_cast<uint64_t>(j + 1) * kGamma);
        const acc_t m0 = (h & 0xFFFFFFFFULL) < threshold ? scale : acc_t(0);
        const acc_t m1 = (h >> 32) < threshold ? scale : acc_t(0);
        dst[2 * j] = static_cast<scalar_t>(static_cast<acc_t>(src[2 * j]) * m0);
        dst[2 * j + 1] = static_cast<scalar_t>(static_cast<acc_t>(src[2 * j + 1]) * m1);
      }
      if (end > full_end && (n & 1)) {  // the odd last element: low half of its pair's hash
        const int64_t j = n / 2;
        const uint64_t h = mix64(seed + static_cast<uint64_t>(j + 1) * kGamma);
        const acc_t m0 = (h & 0xFFFFFFFFULL) < threshold ? scale : acc_t(0);
        dst[2 * j] = static_cast<scalar_t>(static_cast<acc_t>(src[2 * j]) * m0);
      }
    });
  });
  return out;
}

struct DropoutFunction : public torch::autograd::Function<DropoutFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double p, int64_t seed) {
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    return apply_mask(x, p, static_cast<uint64_t>(seed));
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const double p = ctx->saved_data["p"].toDouble();
    const auto seed = static_cast<uint64_t>(ctx->saved_data["seed"].toInt());
    return {apply_mask(grads[0], p, seed), torch::Tensor(), torch::Tensor()};
  }
};

bool kernel_applies(const torch::Tensor& x) {
  if (!x.device().is_cpu() || x.is_sparse()) return false;
  const auto t = x.scalar_type();
  return t == at::kFloat || t == at::kDouble || t == at::kBFloat16;
}

}  // namespace

uint64_t draw_dropout_seed() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

uint64_t dropout_detail::keep_threshold(double p) { return static_cast<uint64_t>(std::llround((1.0 - p) * 4294967296.0)); }

FTPLAN_SWITCH_ACCESSORS(cpu_dropout_enabled, set_cpu_dropout_enabled, "FTPLAN_TORCH_DROPOUT")

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  if (p >= 1.0 || !cpu_dropout_enabled() || !kernel_applies(x) || x.numel() == 0)
    return torch::dropout(x, p, /*train=*/true);
  return DropoutFunction::apply(x, p, static_cast<int64_t>(draw_dropout_seed()));
}

DropoutCheck dropout_check(int64_t n, double p) {
  if (n < 1) throw std::invalid_argument("n must be at least 1");
  if (!(p > 0.0 && p < 1.0)) throw std::invalid_argument("p must be in (0, 1)");
  DropoutCheck c;
  const bool was = cpu_dropout_enabled();
  set_cpu_dropout_enabled(true);
  const int threads = at::get_num_threads();
  auto x = (torch::rand({n}, torch::kDouble) + 0.5).requires_grad_(true);  // no zeros: y/x is the mask
  torch::manual_seed(1234);
  auto y = ftplan::dropout(x, p, true);
  auto dy = torch::randn({n}, torch::kDouble);
  y.backward(dy);
  auto keep = y.detach().ne(0);
  c.kept_fraction = keep.to(torch::kDouble).mean().item<double>();
  auto expect = x.detach() * keep.to(torch::kDouble) * (1.0 / (1.0 - p));
  c.max_forward_error = (y.detach() - expect).abs().max().item<double>();
  c.max_backward_error = (x.grad() - dy * (y.detach() / x.detach())).abs().max().item<double>();
  torch::NoGradGuard ng;
  auto xd = x.detach();
  torch::manual_seed(1234);
  auto y2 = ftplan::dropout(xd, p, true);
  c.same_with_same_seed = torch::equal(y.detach(), y2);
  torch::manual_seed(4321);
  c.differs_with_other_seed = !torch::equal(y.detach(), ftplan::dropout(xd, p, true));
  at::set_num_threads(1);
  torch::manual_seed(1234);
  auto y1 = ftplan::dropout(xd, p, true);
  at::set_num_threads(std::max(2, threads));
  torch::manual_seed(1234);
  auto yn = ftplan::dropout(xd, p, true);
  at::set_num_threads(threads);
  c.same_across_threads = torch::equal(y1, yn) && torch::equal(y1, y2);
  torch::manual_seed(1234);
  auto yb = ftplan::dropout(xd.to(torch::kBFloat16), p, true);
  c.bf16_matches_fp32_mask = torch::equal(yb.ne(0), keep);
  set_cpu_dropout_enabled(was);
  return c;
}

}  // namespace ftplan
