// trainer.h — one optimizer step of fine-tuning: forward, cross-entropy, backward (with gradient
// accumulation over micro-batches), gradient clipping, AdamW. The defaults are HF Trainer's:
// lr 5e-5, betas (0.9, 0.999), eps 1e-8, weight decay 0, max grad norm 1.0.
//
// Precision: fp32, or bf16 autocast with fp32 master weights (weights, grads and AdamW moments stay
// fp32; linears/matmuls run in bf16).
//
// It is not: a data loader, a learning-rate schedule, evaluation metrics or checkpointing.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "distributed.h"
#include "model.h"
#include "peft.h"
#include "record.h"
#include "state.h"

namespace ftplan {

// X(type, name, jsName, default): see record.h. The defaults are HF Trainer's.
#define FTPLAN_TRAIN_CONFIG(X)                                                          \
  X(double, lr, lr, 5e-5)                                                               \
  X(double, beta1, beta1, 0.9)                                                          \
  X(double, beta2, beta2, 0.999)                                                        \
  X(double, eps, eps, 1e-8)                                                             \
  X(double, weight_decay, weightDecay, 0.0)                                             \
  X(double, max_grad_norm, maxGradNorm, 1.0) /* <= 0 disables clipping */              \
  X(Dtype, dtype, dtype, Dtype::fp32)                                                   \
  X(std::string, device, device, "cpu")                                                 \
  X(uint64_t, seed, seed, 42)                                                           \
  /* intra-op threads of the compute thread (0: leave as is); whoever runs the work     \
     applies them (apply_threads, device.h): OpenMP settings are per calling thread */  \
  X(int, threads, threads, 0)                                                           \
  /* measurements only: weights filled from a repeated random tile, not drawn one by    \
     one (synthetic_init.h); a step's time and memory do not depend on their values */  \
  X(bool, synthetic_weights, syntheticWeights, false)                                   \
  /* what trains, and how (peft.h): fields of the same object */                        \
  X(PeftOptions, peft, , {})

struct TrainConfig {
  FTPLAN_TRAIN_CONFIG(FTPLAN_FIELD)

  bool bf16() const { return dtype == Dtype::bf16; }
};

// What a step measured and computed. In a process group (set_distributed) loss, samples and tokens
// are the group's, summed across ranks: no rank knows the others' batches.
#define FTPLAN_STEP_RESULT(X)                                                                  \
  X(double, native_ms, nativeMs, 0) /* the call's time inside the native core (the rest of a    \
                                       call's wall time is the JS round trip) */               \
  X(double, loss, loss, 0)          /* mean over the micro-batches of each one's mean loss */  \
  X(double, grad_norm, gradNorm, 0) /* total L2 norm before clipping */                        \
  X(int64_t, samples, samples, 0)   /* rows, over the group's micro-batches */                 \
  X(int64_t, tokens, tokens, 0)     /* padded tokens (B * T), over the group's micro-batches */ \
  X(int64_t, targets, targets, 0)   /* what the losses average over: rows (classification) or    \
                                       counted next tokens (causal-lm), over the group's */        \
  X(int64_t, buckets, buckets, 0)   /* gradient buckets all-reduced (0: one process) */        \
  X(double, allreduce_ms, allreduceMs, 0) /* the all-reduce's share of native_ms (0: one process) */

struct StepResult {
  FTPLAN_STEP_RESULT(FTPLAN_FIELD)
};

// One batch's loss and the gradient of every parameter (HF names), for checks against a reference.
#define FTPLAN_LOSS_GRADIENTS(X)        \
  X(double, loss, loss, 0)              \
  X(NamedTensors, gradients, gradients, {})

struct LossGradients {
  FTPLAN_LOSS_GRADIENTS(FTPLAN_FIELD)
};

class Trainer {
 public:
  // Seeds LibTorch's generators with cfg.seed, then builds and initialises the model and applies
  // the fine-tuning method (peft.h): the optimizer, clipping and gradients cover the trainable
  // parameters only.
  Trainer(const ModelSpec& model_spec, const TrainConfig& cfg);

  // One optimizer step over micro_batches.size() accumulated micro-batches.
  //
  // seeds (optional, one per micro-batch): the CPU and CUDA generators are re-seeded with seeds[i]
  // before micro-batch i, so its dropout masks depend on that seed only, not on what ran before —
  // the same micro-batch gets the same masks whichever process (rank) runs it.
  //
  // Data-parallel (set_distributed): each rank runs its own micro-batches with each loss scaled by
  // 1 / (micro-batches × world size), then the gradients are all-reduced (sum) before clipping and
  // AdamW, so N ranks × A micro-batches compute exactly what one process computes with N·A
  // micro-batches (loss scale 1/(N·A)); loss, samples and tokens in the result are the group's.
  StepResult step(const std::vector<Batch>& micro_batches, const std::vector<uint64_t>& seeds = {});

  // Join (or leave, with nullptr) a process group for the gradients.
  void set_distributed(std::shared_ptr<DistGroup> group) { dist_ = std::move(group); }
  DistGroup* distributed() const { return dist_.get(); }

  // Forward, cross-entropy and backward of one micro-batch, gradients accumulated with loss * scale.
  // Returns the (unscaled) loss as a device tensor. step() is this plus clipping and AdamW.
  torch::Tensor forward_backward(const Batch& b, double scale);

  // Training-mode forward and loss only (autograd graph kept): for the memory probe.
  torch::Tensor forward_loss_for_probe(const Batch& b) { return forward_loss(b); }

  // Eval-mode logits (float32, on the CPU; Model::logits' shape); no gradients, dropout off.
  torch::Tensor logits(const Batch& batch);
  // Eval-mode causal-LM sums per row (Model::lm_eval); no gradients, dropout off.
  LmEval lm_eval(const Batch& batch);
  // Eval-mode (dropout off) loss of one batch and the gradient of every trainable parameter,
  // float32 on the CPU; no optimizer step, and the parameters' gradients are cleared again.
  // training: dropout on, the generators seeded with `seed` first (checkpointing's test: the same
  // masks with and without recomputation).
  LossGradients loss_and_gradients(const Batch& batch, bool training = false, uint64_t seed = 0);

  void set_lr(double lr);

  // Everything besides the weights that a resumed run needs to continue bit for bit: AdamW's
  // moments and step counts, and the random generators' states (dropout). One file, LibTorch's
  // archive format; written to `path` as given (the caller makes it atomic).
  void save_training_state(const std::string& path);
  void load_training_state(const std::string& path);
  const c10::Device& device() const { return device_; }
  Model& model() { return *model_; }
  const TrainConfig& config() const { return cfg_; }
  // The module paths that got LoRA adapters.
  const std::vector<std::string>& lora_modules() const { return lora_modules_; }
  // Bytes of the trainable parameters' gradients and AdamW moments as they are held now.
  int64_t trainable_state_bytes();

 private:
  torch::Tensor forward_loss(const Batch& b);
  Batch on_device(const Batch& b) const;
  // The trainable parameters, in the module's order: what the optimizer, clipping and gradients see.
  const std::vector<torch::Tensor>& parameters() const { return trainable_; }
  double total_grad_norm();
  // CPU: AdamW (with the clip coefficient folded in) in one fused pass per parameter.
  void fused_adamw_step(float gscale);

  TrainConfig cfg_;
  c10::Device device_;
  std::unique_ptr<Model> model_;
  std::vector<std::string> lora_modules_;
  std::vector<torch::Tensor> trainable_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::shared_ptr<DistGroup> dist_;
};

// Self-check of the fused CPU AdamW against torch::optim::AdamW: the largest relative difference of
// the parameters after `steps` steps (weight decay wd, gradients scaled by gscale as clipping would).
double fused_adamw_check(int steps, double wd, float gscale);

}  // namespace ftplan
