// memory_probe.cpp — see memory_probe.h.
#include "memory_probe.h"

#include <algorithm>
#include <map>
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

// Peak bytes above what was held: through forward, and (checkpointing) through backward too.
struct Peaks {
  int64_t forward = 0, step = 0;
};

// One twin of `layers` blocks, built once and warmed up at the largest batch, then each batch's peaks.
std::vector<Peaks> measure(const ModelSpec& base, const TrainConfig& train, int64_t layers, const std::vector<int64_t>& batches, int64_t seq_len) {
  const ModelSpec cfg = twin(base, layers);
  const c10::Device device = parse_device(train.device);
  MemoryMeter meter(device);
  // The method as the model will run it (frozen weights keep no gradient, adapters add theirs,
  // checkpointing keeps only block inputs); head's unfrozen blocks up to the twin's depth.
  TrainConfig t = train;
  t.peft.unfreeze_last = std::min<int64_t>(t.peft.unfreeze_last, layers);
  Trainer trainer(cfg, t);
  auto gen = at::detail::createCPUGenerator(train.seed + 7);
  auto clear_grads = [&] {
    for (auto& p : trainer.model().module().parameters()) p.mutable_grad() = torch::Tensor();
  };
  // warm-up: lazily created buffers, autocast caches
  trainer.forward_backward(synthetic_batch(cfg, *std::max_element(batches.begin(), batches.end()), seq_len, gen), 1.0);
  clear_grads();
  std::vector<Peaks> out;
  for (const int64_t batch : batches) {
    const Batch b = synthetic_batch(cfg, batch, seq_len, gen);
    synchronize(device);
    const int64_t before = meter.current();
    meter.reset_peak();
    // The activations a step keeps for backward are all alive at the end of forward: that is what
    // grows with the batch. (Gradients and AdamW moments are parameter-sized: counted exactly elsewhere.)
    auto loss = trainer.forward_loss_for_probe(b);
    synchronize(device);
    Peaks p;
    p.forward = p.step = meter.peak() - before;
    loss.backward();
    // With checkpointing forward keeps only each block's input; backward recomputes one block at a
    // time, with the inputs of the blocks before it still kept. Gradients grow with the parameters,
    // not the rows: the differences between batch sizes leave them out.
    if (t.peft.gradient_checkpointing) {
      synchronize(device);
      p.step = meter.peak() - before;
    }
    clear_grads();
    out.push_back(p);
  }
  return out;
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
  // With checkpointing, backward's peak is one block recomputed: the first twin has a full block
  // before the last one too (a classifier's last block is pruned to one token a row), so the depth
  // difference is one more block's kept input, and the recomputed block stays in the base.
  const int64_t l1 = train.peft.gradient_checkpointing ? 2 : 1, l2 = l1 + 1;
  std::map<std::pair<int64_t, int64_t>, Peaks> peaks;
  for (int64_t layers : {l1, l2}) {
    const std::vector<int64_t> batches{2, 4};
    const auto measured = measure(model, train, layers, batches, seq_len);
    for (size_t i = 0; i < batches.size(); ++i) {
      peaks[{layers, batches[i]}] = measured[i];
      r.points.push_back({layers, batches[i], measured[i].step});
    }
  }
  // Two more rows cost 2 · (L · per_layer + base). Per layer: what forward keeps, the depth
  // difference of the forward peaks (with checkpointing: each block's input). Base: the rest of the
  // step's peak at the shallower depth (with checkpointing: one block recomputed in backward).
  auto rows = [&](int64_t l, int64_t Peaks::*which) { return peaks[{l, 4}].*which - peaks[{l, 2}].*which; };
  r.per_sample_per_layer = std::max<int64_t>(0, (rows(l2, &Peaks::forward) - rows(l1, &Peaks::forward)) / 2);
  r.per_sample_base = std::max<int64_t>(0, rows(l1, &Peaks::step) / 2 - l1 * r.per_sample_per_layer);
  return r;
}

}  // namespace ftplan
