// lm_loss.cpp — see lm_loss.h.
#include "lm_loss.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>

#include <ATen/CPUGeneratorImpl.h>

#include "device.h"

namespace ftplan {

namespace {

void check_inputs(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& y, at::ScalarType compute) {
  if (h.dim() != 2 || w.dim() != 2 || h.size(1) != w.size(1)) throw std::invalid_argument("lm_cross_entropy: h must be [N, C] and w [V, C]");
  if (y.dim() != 1 || y.size(0) != h.size(0) || y.scalar_type() != torch::kLong)
    throw std::invalid_argument("lm_cross_entropy: targets must be int64 [N]");
  if (h.size(0) < 1) throw std::invalid_argument("lm_cross_entropy: no targets to average over");
  if (compute != torch::kFloat && compute != torch::kBFloat16) throw std::invalid_argument("lm_cross_entropy: compute dtype must be float or bfloat16");
}

std::atomic<int64_t>& chunk_rows_override() {
  static std::atomic<int64_t> rows{0};
  return rows;
}

int64_t rows_for(int64_t chunk_rows, const torch::Tensor& h, const torch::Tensor& w) {
  const int64_t N = h.size(0);
  if (chunk_rows <= 0) chunk_rows = chunk_rows_override().load();
  if (chunk_rows <= 0) return lm_chunk_rows(N, h.size(1), w.size(0));
  return std::min(chunk_rows, N);
}

// The chunk's logits in fp32: [n, V] (the matmul in the compute dtype; the same tensor when that is fp32).
torch::Tensor chunk_logits(const torch::Tensor& hc, const torch::Tensor& wc) { return torch::mm(hc, wc.t()).to(torch::kFloat); }

// ∂W under bf16 on the CPU is one fp32 addmm per chunk (the chunk's fp32 softmax gradient against
// its bf16-rounded hidden rows): on LibTorch 1.13's CPU, the bf16 matmul of the transposed [V, n]
// gradient plus the add of its bf16 [V, C] product into the fp32 sum took 6.7–9.0 s per chunk of a
// 151,936-word head, the fp32 addmm 0.6–1.8 s (bench/RESULTS.md). On CUDA the bf16 product is fast.
struct LmCrossEntropy : public torch::autograd::Function<LmCrossEntropy> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& y,
                               int64_t compute, int64_t rows) {
    const auto ct = static_cast<at::ScalarType>(compute);
    const int64_t N = h.size(0);
    const auto hc = h.to(ct), wc = w.to(ct);  // the same tensors when already in the compute dtype
    auto grad_h = torch::empty_like(h, torch::MemoryFormat::Contiguous);
    // A frozen head (LoRA, QLoRA) gets no gradient: neither its [V, C] buffer nor its matmuls.
    const bool train_w = w.requires_grad();
    auto grad_w = train_w ? torch::zeros_like(w, torch::MemoryFormat::Contiguous) : torch::empty({0}, w.options());
    auto loss = torch::zeros({}, h.options().dtype(torch::kFloat64));
    const double inv_n = 1.0 / static_cast<double>(N);
    for (int64_t s = 0; s < N; s += rows) {
      const int64_t n = std::min(rows, N - s);
      const auto hs = hc.narrow(0, s, n);
      const auto ys = y.narrow(0, s, n).unsqueeze(1);               // [n,1]
      auto logits = chunk_logits(hs, wc);                            // [n,V] fp32
      const auto lse = torch::logsumexp(logits, 1, /*keepdim=*/true);  // [n,1]
      loss += (lse - logits.gather(1, ys)).sum(torch::kFloat64);
      // ∂(mean loss)/∂logits = (softmax − one-hot) / N, written over the chunk's logits
      auto g = logits.sub_(lse).exp_();
      g.scatter_add_(1, ys, torch::full({n, 1}, -1.0, g.options()));
      g.mul_(inv_n);
      const auto gc = g.to(ct);
      grad_h.narrow(0, s, n).copy_(torch::mm(gc, wc));
      if (!train_w) continue;
      if (ct == torch::kFloat) grad_w.addmm_(gc.t(), hs);
      else if (!h.is_cuda()) grad_w.addmm_(g.t(), hs.to(torch::kFloat));  // CPU: see above the struct
      else grad_w.add_(torch::mm(gc.t(), hs));                       // bf16 product, fp32 sum over chunks
    }
    ctx->save_for_backward({grad_h, grad_w});
    return (loss * inv_n).to(torch::kFloat);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& g = grads[0];  // scalar: the scale the loss was multiplied by
    // The graph is not retained past one backward (the trainer never does), so scale in place.
    saved[0].mul_(g.to(saved[0].scalar_type()));
    if (saved[1].numel() == 0) return {saved[0], torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    saved[1].mul_(g.to(saved[1].scalar_type()));
    return {saved[0], saved[1], torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

int64_t lm_chunk_rows_override() { return chunk_rows_override().load(); }

void set_lm_chunk_rows_override(int64_t rows) {
  if (rows < 0) throw std::invalid_argument("chunk rows must be 0 (automatic) or positive");
  chunk_rows_override().store(rows);
}

int64_t lm_chunk_rows(int64_t N, int64_t C, int64_t V) {
  if (N < 1) return 1;
  const int64_t budget = std::max<int64_t>(N * C * 4, int64_t{64} << 20);
  const int64_t rows = std::clamp<int64_t>(budget / std::max<int64_t>(1, V * 4), 1, N);
  const int64_t chunks = (N + rows - 1) / rows;
  return (N + chunks - 1) / chunks;
}

torch::Tensor lm_cross_entropy(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& y, at::ScalarType compute, int64_t chunk_rows) {
  check_inputs(h, w, y, compute);
  const int64_t rows = rows_for(chunk_rows, h, w);
  if (torch::GradMode::is_enabled() && (h.requires_grad() || w.requires_grad()))
    return LmCrossEntropy::apply(h, w, y, static_cast<int64_t>(compute), rows);
  torch::NoGradGuard no_grad;
  auto [losses, hits] = lm_token_losses(h, w, y, compute, rows);
  return losses.mean().to(torch::kFloat);
}

std::pair<torch::Tensor, torch::Tensor> lm_token_losses(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& y, at::ScalarType compute,
                                                        int64_t chunk_rows) {
  check_inputs(h, w, y, compute);
  torch::NoGradGuard no_grad;
  const int64_t N = h.size(0), rows = rows_for(chunk_rows, h, w);
  const auto hc = h.to(compute), wc = w.to(compute);
  auto losses = torch::empty({N}, h.options().dtype(torch::kFloat64));
  auto hits = torch::empty({N}, h.options().dtype(torch::kBool));
  for (int64_t s = 0; s < N; s += rows) {
    const int64_t n = std::min(rows, N - s);
    const auto ys = y.narrow(0, s, n);
    const auto logits = chunk_logits(hc.narrow(0, s, n), wc);  // [n,V] fp32
    const auto lse = torch::logsumexp(logits, 1);
    losses.narrow(0, s, n).copy_(lse - logits.gather(1, ys.unsqueeze(1)).squeeze(1));
    hits.narrow(0, s, n).copy_(logits.argmax(1) == ys);
  }
  return {losses, hits};
}

LmLossCheck lm_loss_check(int64_t n, int64_t c, int64_t v, int64_t chunk_rows, bool bf16) {
  if (n < 1 || c < 1 || v < 2 || chunk_rows < 1) throw std::invalid_argument("lm_loss_check: n, c, chunk_rows >= 1 and v >= 2");
  const auto ct = bf16 ? torch::kBFloat16 : torch::kFloat;
  auto gen = at::detail::createCPUGenerator(11);
  const auto h0 = torch::randn({n, c}, gen);
  const auto w0 = torch::randn({v, c}, gen) * 0.2;
  const auto y = torch::randint(0, v, {n}, gen, torch::kLong);
  const c10::Device cpu(torch::kCPU);
  struct Run {
    double loss;
    torch::Tensor gh, gw;
    int64_t peak;
  };
  auto run = [&](bool chunked) {
    auto h = h0.clone().requires_grad_(true);
    auto w = w0.clone().requires_grad_(true);
    MemoryMeter meter(cpu);
    const int64_t before = meter.current();
    meter.reset_peak();
    torch::Tensor loss;
    if (chunked) {
      loss = lm_cross_entropy(h, w, y, ct, chunk_rows);
    } else {
      auto logits = torch::mm(h.to(ct), w.to(ct).t());
      loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat), y);
    }
    loss.backward();
    const int64_t peak = meter.peak() - before;
    return Run{loss.item<double>(), h.grad(), w.grad(), peak};
  };
  const Run a = run(true), b = run(false);
  auto rel = [](const torch::Tensor& x, const torch::Tensor& ref) {
    return ((x - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item<double>();
  };
  LmLossCheck r;
  r.loss_error = std::abs(a.loss - b.loss);
  r.max_hidden_grad_error = rel(a.gh, b.gh);
  r.max_weight_grad_error = rel(a.gw, b.gw);
  r.chunks = (n + std::min(chunk_rows, n) - 1) / std::min(chunk_rows, n);
  r.chunked_peak_bytes = a.peak;
  r.plain_peak_bytes = b.peak;
  return r;
}

}  // namespace ftplan
