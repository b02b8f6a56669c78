// peft.h — parameter-efficient fine-tuning applied to a built model (before its optimizer is made),
// with Hugging Face PEFT's semantics (docs/peft.md):
//
//   full   every parameter trains (nothing changes: the model as built).
//   lora   every targeted linear of the blocks (lora.h) gets adapters lora_A / lora_B; everything
//          else is frozen — embeddings, norms, biases (PEFT's bias="none"), the untargeted linears,
//          a causal-LM head — except a classification head (`score`, PEFT's modules_to_save), which
//          trains in fp32. Frozen linear weights of the blocks, the embeddings and a causal-LM head
//          are held in base_dtype (norms and biases stay fp32).
//   qlora  lora, with the targeted linears' weights stored as NF4 (nf4.h), dequantised to
//          base_dtype to compute; the untargeted ones held in base_dtype.
//   head   only the head trains: `score`, or for causal-LM an untied `lm_head` (a head tied to the
//          embeddings is refused: training it would train the embeddings); unfreeze_last N also
//          trains the last N blocks, every parameter of them. Frozen weights stay fp32.
//   gradient_checkpointing (any method): each block's activations are recomputed in backward
//          (checkpoint.h).
//
// Targets are leaf module names: GPT-2 c_attn, c_proj (attention and MLP), c_fc; the decoders
// q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj. Empty or "all-linear": all of them.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "lora.h"
#include "model.h"
#include "record.h"

namespace ftplan {

enum class Method { full, lora, qlora, head };
const char* method_name(Method m);

// X(type, name, jsName, default): see record.h. Fields of the training options object. Defaults
// are PEFT's LoraConfig (r 8, alpha 8, dropout 0).
#define FTPLAN_PEFT_OPTIONS(X)                                                               \
  X(Method, method, method, Method::full)                                                    \
  X(int64_t, lora_r, loraR, 8)                                                               \
  X(double, lora_alpha, loraAlpha, 8.0)                                                      \
  X(double, lora_dropout, loraDropout, 0.0)                                                  \
  X(std::vector<std::string>, lora_targets, loraTargets, {}) /* empty: every block linear */ \
  X(Dtype, base_dtype, baseDtype, Dtype::bf16)                                               \
  X(bool, nf4_double_quant, nf4DoubleQuant, false)                                           \
  X(int64_t, unfreeze_last, unfreezeLast, 0)                                                 \
  X(bool, gradient_checkpointing, gradientCheckpointing, false)

struct PeftOptions {
  FTPLAN_PEFT_OPTIONS(FTPLAN_FIELD)
  bool adapters() const { return method == Method::lora || method == Method::qlora; }
};

// r >= 1, alpha > 0, dropout in [0, 1), unfreeze_last >= 0 (std::invalid_argument otherwise).
void validate(const PeftOptions& o);

// Applies the method to the model (validated against it: targets it has, unfreeze_last <= its
// layers, a head that can train) and turns checkpointing on. Returns the module paths that got
// adapters.
std::vector<std::string> apply_peft(Model& model, const PeftOptions& o);

// What a model holds and trains.
#define FTPLAN_PARAMETER_INFO(X)                                                          \
  X(int64_t, total, total, 0)                      /* every weight, NF4 ones counted by element */ \
  X(int64_t, trainable, trainable, 0)                                                     \
  X(int64_t, frozen_bytes, frozenBytes, 0)         /* as held: bf16, NF4 codes + scales, fp32 */ \
  X(int64_t, trainable_bytes, trainableBytes, 0)                                          \
  X(std::vector<std::string>, lora_modules, loraModules, {})

struct ParameterInfo {
  FTPLAN_PARAMETER_INFO(FTPLAN_FIELD)
};
ParameterInfo parameter_info(Model& model);

// The trainable parameters (requires_grad), in the module's order.
std::vector<torch::Tensor> trainable_parameters(Model& model);

// The model's linear layers (lora.h) by module path, in module order.
std::vector<std::pair<std::string, std::shared_ptr<LinearImpl>>> linear_modules(Model& model);

}  // namespace ftplan
