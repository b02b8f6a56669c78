// memory_probe.h — activation memory per sample, measured: the forward pass (with autograd keeping
// what backward needs) of reduced-depth
// twins of a model (the same width, heads, MLP and positions; 1 and 2 blocks; a small vocabulary)
// at 2 and 4 rows of the given length. The differences isolate what one more row costs per block
// and outside the blocks (embeddings, final LayerNorm, head), independent of the model's depth,
// so the memory of any depth — gpt2-xl included, which does not fit this machine — follows from
// measurements that take milliseconds.
//
// It is not: a measurement of weights, gradients or optimizer states (those are exact arithmetic:
// 16 bytes per parameter with AdamW in fp32).
#pragma once

#include <cstdint>
#include <vector>

#include "config.h"
#include "trainer.h"

namespace ftplan {

struct ActivationPoint {
  int64_t layers = 0;
  int64_t batch = 0;
  int64_t bytes = 0;  // peak bytes of tensors during forward (autograd on), above what was held before
};

struct ActivationProbe {
  std::vector<ActivationPoint> points;
  int64_t seq_len = 0;
  int64_t per_sample_per_layer = 0;  // bytes one more row costs in each block
  int64_t per_sample_base = 0;       // bytes one more row costs outside the blocks
};

ActivationProbe probe_activations(const GPT2Config& model, const TrainConfig& train, int64_t seq_len);

}  // namespace ftplan
