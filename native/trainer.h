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

#include "gpt2.h"

namespace ftplan {

struct TrainConfig {
  double lr = 5e-5;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;  // <= 0 disables clipping
  bool bf16 = false;
  std::string device = "cpu";
  uint64_t seed = 42;
};

// One micro-batch, right padded. CPU tensors; the trainer moves them to its device.
struct Batch {
  torch::Tensor input_ids;  // [B,T] int64
  torch::Tensor lengths;    // [B] int64, real tokens per row (>= 1)
  torch::Tensor labels;     // [B] int64 in [0, K)
};

struct StepResult {
  double loss = 0;       // mean cross-entropy over the micro-batches
  double grad_norm = 0;  // total L2 norm before clipping
  int64_t samples = 0;
  int64_t tokens = 0;    // padded tokens processed (B * T summed over micro-batches)
};

class Trainer {
 public:
  // Seeds LibTorch's generators with cfg.seed, then builds and initialises the model.
  Trainer(const GPT2Config& model_cfg, const TrainConfig& cfg);

  // One optimizer step over micro_batches.size() accumulated micro-batches.
  StepResult step(const std::vector<Batch>& micro_batches);

  // Forward, cross-entropy and backward of one micro-batch, gradients accumulated with loss * scale.
  // Returns the (unscaled) loss as a device tensor. step() is this plus clipping and AdamW.
  torch::Tensor forward_backward(const Batch& b, double scale);

  // Training-mode forward and loss only (autograd graph kept): for the memory probe.
  torch::Tensor forward_loss_for_probe(const Batch& b) { return forward_loss(b); }

  // Eval-mode logits [B,K] (float32, on the CPU); no gradients, dropout off.
  torch::Tensor logits(const Batch& batch);

  void set_lr(double lr);

  // Everything besides the weights that a resumed run needs to continue bit for bit: AdamW's
  // moments and step counts, and the random generators' states (dropout). One file, LibTorch's
  // archive format; written to `path` as given (the caller makes it atomic).
  void save_training_state(const std::string& path);
  void load_training_state(const std::string& path);
  const c10::Device& device() const { return device_; }
  GPT2ForSequenceClassification& model() { return model_; }
  const TrainConfig& config() const { return cfg_; }

 private:
  torch::Tensor forward_loss(const Batch& b);
  double total_grad_norm();
  // CPU: AdamW (with the clip coefficient folded in) in one fused pass per parameter.
  void fused_adamw_step(float gscale);

  TrainConfig cfg_;
  c10::Device device_;
  GPT2ForSequenceClassification model_{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

// Self-check of the fused CPU AdamW against torch::optim::AdamW: the largest relative difference of
// the parameters after `steps` steps (weight decay wd, gradients scaled by gscale as clipping would).
double fused_adamw_check(int steps, double wd, float gscale);

// Throws std::invalid_argument when labels are out of [0, num_labels) or shapes disagree.
void check_labels(const GPT2Config& cfg, const Batch& b);

}  // namespace ftplan
