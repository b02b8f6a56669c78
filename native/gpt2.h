// gpt2.h — GPT-2 with a sequence-classification head, the semantics of Hugging Face
// GPT2ForSequenceClassification: token + position embeddings, pre-LN blocks (fused QKV
// projection, causal self-attention, MLP with tanh-GELU), final LayerNorm, and a `score` linear
// (no bias) read at the last non-padding token of each row (right padding).
//
// Only each row's last real token reaches the head, so the classifier's forward runs the last
// block for that token alone (its keys and values still cover every position): the same logits
// and gradients as HF's every-position block, ~7% fewer FLOPs for gpt2 at T 128 (forward_last;
// FTPLAN_FULL_LAST_BLOCK=1 runs every position).
//
// It is not: a language model head, generation, a KV cache, or left padding.
//
// Shapes: B batch, T sequence, C channels (n_embd), H heads, D = C / H, V vocab, P positions,
// K num_labels, F MLP width (4C).
//
// Parameter names follow HF's module tree ("transformer.h.0.attn.c_attn.weight", "score.weight")
// so checkpoints map one-to-one; HF stores Conv1D weights as [in, out] where torch Linear is
// [out, in], a transpose at load/save time.
#pragma once

#include <torch/torch.h>

#include "config.h"
#include "lora.h"
#include "record.h"

namespace ftplan {

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const GPT2Config& cfg);
  // x [B,T,C]; mask [B,1,T,T] bool (true = may attend) or undefined for causal-only.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);
  // Only the query at each row's position last[b]: x [B,T,C] (every position, for the keys and
  // values), last [B] int64 -> [B,C]. What forward(x)[b, last[b]] is, without the other T-1 queries.
  torch::Tensor forward_last(const torch::Tensor& x, const torch::Tensor& last);

  Linear c_attn{nullptr};  // [3C, C]: fused q, k, v (lora.h: torch's Linear, adaptable)
  Linear c_proj{nullptr};  // [C, C]

 private:
  int64_t n_head_, n_embd_;
  double attn_pdrop_, resid_pdrop_;
};
TORCH_MODULE(Attention);

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const GPT2Config& cfg);
  torch::Tensor forward(const torch::Tensor& x);  // [B,T,C] -> [B,T,C]

  Linear c_fc{nullptr};    // [F, C]
  Linear c_proj{nullptr};  // [C, F]

 private:
  double resid_pdrop_;
};
TORCH_MODULE(MLP);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const GPT2Config& cfg);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);
  // The block's output at position last[b] of each row only: x [B,T,C], last [B] -> [B,C].
  torch::Tensor forward_last(const torch::Tensor& x, const torch::Tensor& last);

  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  Attention attn{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(Block);

// HF's GPT2Model: the transformer trunk, no head.
class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const GPT2Config& cfg);
  // input_ids [B,T] int64, lengths [B] int64 (real tokens per row, right padded) -> [B,T,C]
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& lengths);
  // The final hidden state at each row's last real token only -> [B,C]: the last block computes
  // keys and values for every position but its query, attention output, MLP and ln_f for that
  // token alone (nothing else of the last block reaches a sequence-classification head).
  torch::Tensor forward_last(const torch::Tensor& input_ids, const torch::Tensor& lengths);

  torch::nn::Embedding wte{nullptr};  // [V, C]
  torch::nn::Embedding wpe{nullptr};  // [P, C]
  torch::nn::ModuleList h{nullptr};   // L blocks
  torch::nn::LayerNorm ln_f{nullptr};
  // Recompute each block's activations in backward (checkpoint.h).
  bool gradient_checkpointing = false;

 private:
  torch::Tensor embed(const torch::Tensor& input_ids);                 // wte + wpe, dropout
  torch::Tensor attention_mask(const torch::Tensor& input_ids, const torch::Tensor& lengths);
  GPT2Config cfg_;
};
TORCH_MODULE(Transformer);

class GPT2ForSequenceClassificationImpl : public torch::nn::Module {
 public:
  // init=false keeps LibTorch's default initialisation (for counting parameters cheaply).
  explicit GPT2ForSequenceClassificationImpl(const GPT2Config& cfg, bool init = true);
  // -> logits [B,K] at each row's last real token (index lengths[b] - 1).
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& lengths);

  // HF's _init_weights: N(0, initializer_range) for linears and embeddings, zero biases, unit
  // LayerNorms, and the residual projections (c_proj) scaled by 1/sqrt(2 * n_layer).
  void init_weights();

  // Parameters of the transformer trunk only (what HF reports for GPT2Model).
  int64_t transformer_parameter_count();
  int64_t parameter_count();

  const GPT2Config& config() const { return cfg_; }

  Transformer transformer{nullptr};
  torch::nn::Linear score{nullptr};  // [K, C], no bias

 private:
  GPT2Config cfg_;
};
TORCH_MODULE(GPT2ForSequenceClassification);

// The parameters of a model of this shape, counted on the real module (LibTorch's default
// initialisation, no gradients): what HF reports for GPT2Model (transformer) and the score head.
#define FTPLAN_PARAMETER_COUNTS(X)         \
  X(int64_t, total, total, 0)              \
  X(int64_t, transformer, transformer, 0)  \
  X(int64_t, head, head, 0)

struct ParameterCounts {
  FTPLAN_PARAMETER_COUNTS(FTPLAN_FIELD)
};
ParameterCounts parameter_counts(const GPT2Config& cfg);

// Whether the head's forward prunes the last block to each row's last real token
// (TransformerImpl::forward_last; default) or runs it on every position as HF does
// (FTPLAN_FULL_LAST_BLOCK=1 at load, or set_last_block_pruned(false), for benchmarks and tests).
bool last_block_pruned();
void set_last_block_pruned(bool on);

// Checks ids/lengths against the config (range, shape) and throws std::invalid_argument.
void check_batch(const GPT2Config& cfg, const torch::Tensor& input_ids, const torch::Tensor& lengths);

}  // namespace ftplan
