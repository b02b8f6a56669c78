// synthetic_init.cpp — see synthetic_init.h.
#include "synthetic_init.h"

#include "memory.h"

#include <algorithm>
#include <unordered_map>

namespace ftplan {

namespace {

thread_local bool g_synthetic = false;
// Weights init_normal left for later, with their scale: filled in the dtype and shape they end up
// in (fill_pending), so a weight that is cast (a frozen base in bf16) or quantised (NF4) is never
// written in float32 first — at 7B widths that float32 copy was most of building a block.
thread_local std::unordered_map<const c10::TensorImpl*, double> g_pending;

// N(0, 1) values drawn once per process from a fixed seed: every synthetic weight is this, scaled.
const torch::Tensor& unit_tile() {
  // held for the process's life: no measurement's memory, whichever drew it first
  static const auto* tile = [] {
    CpuMemoryScope::Unscoped outside;
    return new torch::Tensor(torch::randn({kSyntheticPeriod}, at::detail::createCPUGenerator(0x5eed), torch::kFloat32));
  }();
  return *tile;
}

}  // namespace

SyntheticInit::SyntheticInit(bool on) : previous_(g_synthetic) { g_synthetic = on; }
SyntheticInit::~SyntheticInit() { g_synthetic = previous_; }

bool synthetic_init() { return g_synthetic; }

void fill_synthetic(torch::Tensor& p, double std) {
  torch::NoGradGuard no_grad;
  const int64_t n = p.numel();
  if (n == 0) return;
  constexpr int64_t k = kSyntheticPeriod;
  const auto tile = (unit_tile() * std).to(p.options());
  auto flat = p.view({-1});
  const int64_t whole = n / k, rest = n % k;
  if (whole > 0) flat.narrow(0, 0, whole * k).view({whole, k}).copy_(tile.unsqueeze(0).expand({whole, k}));
  if (rest > 0) flat.narrow(0, whole * k, rest).copy_(tile.narrow(0, 0, rest));
}

void init_normal(torch::Tensor& p, double std) {
  if (synthetic_init()) g_pending[p.unsafeGetTensorImpl()] = std;
  else p.normal_(0.0, std);
}

torch::Tensor synthetic_to(const torch::Tensor& p, at::ScalarType dtype) {
  const auto it = g_pending.find(p.unsafeGetTensorImpl());
  if (it == g_pending.end()) return p.to(dtype);
  auto out = torch::empty(p.sizes(), p.options().dtype(dtype));
  fill_synthetic(out, it->second);
  g_pending.erase(it);
  return out;
}

void fill_pending_prefix(torch::Tensor& p, int64_t count) {
  const auto it = g_pending.find(p.unsafeGetTensorImpl());
  if (it == g_pending.end()) return;
  auto head = p.view({-1}).narrow(0, 0, std::min(count, p.numel()));
  fill_synthetic(head, it->second);
  g_pending.erase(it);
}

void fill_pending(torch::nn::Module& m) {
  for (auto& p : m.parameters()) {
    const auto it = g_pending.find(p.unsafeGetTensorImpl());
    if (it == g_pending.end()) continue;
    fill_synthetic(p, it->second);
    g_pending.erase(it);
  }
  g_pending.clear();  // nothing else may be filled later: its address could belong to a new tensor
}

torch::nn::Linear linear_module(const torch::nn::LinearOptions& options) {
  if (!synthetic_init()) return torch::nn::Linear(options);
  // LinearOptions has no given weight: built 1 × 1 (its initialiser draws one value), then resized.
  torch::nn::Linear m(torch::nn::LinearOptions(1, 1).bias(options.bias()));
  m->options = options;
  m->weight.set_data(torch::empty({options.out_features(), options.in_features()}));
  if (options.bias()) m->bias.set_data(torch::zeros({options.out_features()}));
  return m;
}

torch::nn::Embedding embedding_module(torch::nn::EmbeddingOptions options) {
  if (synthetic_init()) options._weight(torch::empty({options.num_embeddings(), options.embedding_dim()}));
  return torch::nn::Embedding(options);
}

}  // namespace ftplan
