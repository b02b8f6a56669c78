// memory_probe.cpp — see memory_probe.h.
#include "memory_probe.h"

#include <algorithm>
#include <stdexcept>

#include "device.h"

namespace ftplan {

namespace {

// The twin: `layers` blocks and a small vocabulary. Embeddings' activations do not depend on V; a
// causal-LM head's do only through the chunk size (lm_loss.h), whose fp32 logits are about the size
// of the hidden states once V >= C, so the twin keeps V >= C for causal-LM.
ModelSpec twin(const ModelSpec& base, int64_t layers) {
  ModelSpec s = base;
  if (s.is_gpt2()) {
    s.gpt2.n_layer = layers;
    s.gpt2.vocab_size = std::min<int64_t>(base.gpt2.vocab_size, 512);
    s.gpt2.pad_token_id = s.gpt2.vocab_size - 1;
  } else {
    auto& d = s.decoder;
    d.num_hidden_layers = layers;
    d.vocab_size = std::min<int64_t>(d.vocab_size, d.causal_lm() ? std::max<int64_t>(512, d.hidden_size) : 512);
    d.pad_token_id = d.vocab_size - 1;
  }
  return s;
}

int64_t measure(const ModelSpec& base, const TrainConfig& train, int64_t layers, int64_t batch, int64_t seq_len) {
  const ModelSpec cfg = twin(base, layers);
  const c10::Device device = parse_device(train.device);
  MemoryMeter meter(device);
  Trainer trainer(cfg, train);
  auto gen = at::detail::createCPUGenerator(train.seed + 7);
  const Batch b = synthetic_batch(cfg, batch, seq_len, gen);
  trainer.forward_backward(b, 1.0);  // warm-up: lazily created buffers, autocast caches
  for (auto& p : trainer.model().module().parameters()) p.mutable_grad() = torch::Tensor();
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
  const ModelSpec& model = cfg.model;
  const TrainConfig& train = cfg.train;
  const int64_t seq_len = cfg.seq_len;
  validate(model);
  if (seq_len < 1 || seq_len > model.max_positions())
    throw std::invalid_argument("probe seq_len must be in [1, " + std::string(model.positions_field()) + "=" + std::to_string(model.max_positions()) + "]");
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
