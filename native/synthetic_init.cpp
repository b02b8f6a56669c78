// synthetic_init.cpp — see synthetic_init.h.
#include "synthetic_init.h"

namespace ftplan {

namespace {

thread_local bool g_synthetic = false;

constexpr int64_t kTile = kSyntheticPeriod;

}  // namespace

SyntheticInit::SyntheticInit(bool on) : previous_(g_synthetic) { g_synthetic = on; }
SyntheticInit::~SyntheticInit() { g_synthetic = previous_; }

bool synthetic_init() { return g_synthetic; }

void fill_synthetic(torch::Tensor& p, double std) {
  torch::NoGradGuard no_grad;
  const int64_t n = p.numel();
  if (n == 0) return;
  auto gen = at::detail::createCPUGenerator(0x5eed);
  const auto tile = (torch::randn({kTile}, gen, torch::kFloat32) * std).to(p.options());
  auto flat = p.view({-1});
  const int64_t whole = n / kTile, rest = n % kTile;
  if (whole > 0) flat.narrow(0, 0, whole * kTile).view({whole, kTile}).copy_(tile.unsqueeze(0).expand({whole, kTile}));
  if (rest > 0) flat.narrow(0, whole * kTile, rest).copy_(tile.narrow(0, 0, rest));
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
