// state.h — a model's weights in and out by name: the native (torch Linear) layout and HF's module
// names ("transformer.h.0.attn.c_attn.weight", "model.layers.0.self_attn.q_proj.weight");
// src/model/hf.ts maps Hugging Face checkpoints onto them. The optimizer's and the random generators' state (an exact resume) is the trainer's
// (Trainer::save_training_state).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "model.h"
#include "record.h"

namespace ftplan {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// X(type, name, jsName, default): see record.h.
#define FTPLAN_STATE_LOAD_REPORT(X)                                                   \
  X(std::vector<std::string>, loaded, loaded, {})         /* copied into the model */ \
  X(std::vector<std::string>, missing, missing, {})       /* the model's, not given: left as they were */ \
  X(std::vector<std::string>, unexpected, unexpected, {}) /* given, not the model's: ignored */

struct StateLoadReport {
  FTPLAN_STATE_LOAD_REPORT(FTPLAN_FIELD)
};

// Copies each tensor whose name is a weight of the model into it: a parameter (cast to the dtype it
// is held in: bf16 for a frozen LoRA base), LoRA's `<module>.lora_A.weight` / `lora_B.weight`, or
// the `weight` of an NF4 linear (quantised as it loads). Throws std::invalid_argument (and copies
// nothing further) when a shape differs from the model's or a value is not finite.
StateLoadReport load_parameters(Model& model, const NamedTensors& tensors);

// The model's weights by name, in the model's order: float32, contiguous, on the CPU, detached
// copies. all: every weight (NF4 ones dequantised, under their `weight` name; LoRA adapters under
// theirs); trainable: the trainable parameters only; merged: Hugging Face's names only, each LoRA
// layer's weight with its delta merged in (W + alpha/r · B·A).
enum class StateKind { all, trainable, merged };
NamedTensors model_state(Model& model, StateKind kind);
inline NamedTensors parameters_on_cpu(Model& model) { return model_state(model, StateKind::all); }

}  // namespace ftplan
