// memory_probe.h — activation memory per sample, measured: the forward pass (with autograd keeping
// what backward needs) of reduced-depth
// twins of a model (the same width, heads, MLP and positions; 1 and 2 blocks; a small vocabulary)
// at 2 and 4 rows of the given length. The differences isolate what one more row costs per block
// and outside the blocks (embeddings, final LayerNorm, head), independent of the model's depth,
// so the memory of any depth — gpt2-xl included, which does not fit this machine — follows from
// measurements that take milliseconds.
//
// The twins train as the model will (the fine-tuning method of the training options: frozen
// weights keep nothing for their own gradient, adapters add theirs). With gradient checkpointing
// forward keeps only each block's input and backward recomputes one block at a time, so the peak
// is measured through backward, on twins of 2 and 3 blocks (points' `layers` say which).
//
// It is not: a measurement of weights, gradients or optimizer states (those are exact arithmetic:
// 16 bytes per parameter with AdamW in fp32).
#pragma once

#include <cstdint>
#include <vector>

#include "model.h"
#include "record.h"
#include "trainer.h"

namespace ftplan {

// X(type, name, jsName, default): see record.h.
#define FTPLAN_ACTIVATION_PROBE_CONFIG(X) \
  X(ModelSpec, model, model, {})          \
  X(TrainConfig, train, , {}) /* fields of the options object itself */ \
  X(int64_t, seq_len, seqLen, 0)

struct ActivationProbeConfig {
  FTPLAN_ACTIVATION_PROBE_CONFIG(FTPLAN_FIELD)
};

#define FTPLAN_ACTIVATION_POINT(X) \
  X(int64_t, layers, layers, 0)    \
  X(int64_t, batch, batch, 0)      \
  X(int64_t, bytes, bytes, 0) /* peak bytes of tensors during forward (autograd on; with checkpointing through backward too), above what was held before */

struct ActivationPoint {
  FTPLAN_ACTIVATION_POINT(FTPLAN_FIELD)
};

// At the configured seq_len (not repeated here: the caller has it).
#define FTPLAN_ACTIVATION_PROBE(X)                                                          \
  X(std::vector<ActivationPoint>, points, points, {})                                      \
  X(int64_t, per_sample_per_layer, perSamplePerLayer, 0) /* bytes one more row costs in each block */ \
  X(int64_t, per_sample_base, perSampleBase, 0)          /* bytes one more row costs outside the blocks */

struct ActivationProbe {
  FTPLAN_ACTIVATION_PROBE(FTPLAN_FIELD)
};

ActivationProbe probe_activations(const ActivationProbeConfig& cfg);

}  // namespace ftplan
