// memory_probe.cpp — see memory_probe.h.
#include "memory_probe.h"

#include <algorithm>
#include <stdexcept>

#include "device.h"

namespace ftplan {

namespace {

int64_t measure(const GPT2Config& base, const TrainConfig& train, int64_t layers, int64_t batch, int64_t seq_len) {
  GPT2Config cfg = base;
  cfg.n_layer = layers;
  cfg.vocab_size = std::min<int64_t>(base.vocab_size, 512);  // embeddings' activations do not depend on V
  cfg.pad_token_id = cfg.vocab_size - 1;
  const c10::Device device = parse_device(train.device);
  MemoryMeter meter(device);
  Trainer trainer(cfg, train);
  auto gen = at::detail::createCPUGenerator(train.seed + 7);
  Batch b;
  b.input_ids = torch::randint(0, cfg.vocab_size - 1, {batch, seq_len}, gen, torch::kLong);
  b.lengths = torch::full({batch}, seq_len, torch::kLong);
  b.labels = torch::randint(0, cfg.num_labels, {batch}, gen, torch::kLong);
  trainer.forward_backward(b, 1.0);  // warm-up: lazily created buffers, autocast caches
  for (auto& p : trainer.model()->parameters()) p.mutable_grad() = torch::Tensor();
  synchronize(device);
  const int64_t before = meter.current();
  meter.reset_peak();
  // The activations a step keeps for backward are all alive at the end of forward: that is what grows
  // with the batch. (Gradients and AdamW moments are parameter-sized: counted exactly elsewhere.)
  auto loss = trainer.forward_loss_for_probe(b);
  synchronize(device);
  const int64_t peak = meter.peak();
  loss.backward();
  return peak - before;
}

}  // namespace

ActivationProbe probe_activations(const ActivationProbeConfig& cfg) {
  const GPT2Config& model = cfg.model;
  const TrainConfig& train = cfg.train;
  const int64_t seq_len = cfg.seq_len;
  validate(model);
  if (seq_len < 1 || seq_len > model.n_positions)
    throw std::invalid_argument("probe seq_len must be in [1, n_positions=" + std::to_string(model.n_positions) + "]");
  ActivationProbe r;
  for (int64_t layers : {1, 2})
    for (int64_t batch : {2, 4}) r.points.push_back({layers, batch, measure(model, train, layers, batch, seq_len)});
  auto at = [&](int64_t l, int64_t b) {
    for (const auto& p : r.points)
      if (p.layers == l && p.batch == b) return p.bytes;
    return int64_t{0};
  };
  // Two more rows cost at = 2 * (L * per_layer + base); the depth difference isolates per_layer.
  const int64_t rows1 = at(1, 4) - at(1, 2), rows2 = at(2, 4) - at(2, 2);
  r.per_sample_per_layer = std::max<int64_t>(0, (rows2 - rows1) / 2);
  r.per_sample_base = std::max<int64_t>(0, rows1 / 2 - r.per_sample_per_layer);
  return r;
}

}  // namespace ftplan
