// synthetic_init.cpp — see synthetic_init.h.
#include "synthetic_init.h"

namespace ftplan {

namespace {

thread_local bool g_synthetic = false;

// N(0, 1) values drawn once per process from a fixed seed: every synthetic weight is this, scaled.
const torch::Tensor& unit_tile() {
  static const auto* tile = new torch::Tensor(torch::randn({kSyntheticPeriod}, at::detail::createCPUGenerator(0x5eed), torch::kFloat32));
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
  if (synthetic_init()) fill_synthetic(p, std);
  else p.normal_(0.0, std);
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
