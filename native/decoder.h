// decoder.h — a Llama-family decoder (Hugging Face model_type llama, mistral, qwen2, qwen3) with the
// head of its task: LlamaModel's trunk (embed_tokens, the layers of decoder_layers.h, a final
// RMSNorm) and either `score` (*ForSequenceClassification: a linear without bias read at each
// row's last real token) or `lm_head` (*ForCausalLM: next-token cross-entropy, shifted inside the
// model; tied to embed_tokens when tie_word_embeddings, and then not a parameter of its own).
//
// Parameter names are HF's ("model.layers.0.self_attn.q_proj.weight", "lm_head.weight",
// "score.weight") in torch Linear layout [out, in], as HF stores them: checkpoints map one to one.
// Right padding with per-row lengths; padding never changes a row's result: real tokens only see
// real tokens (causal), the head reads the last real token, and padding positions carry no
// target (-100, checked).
//
// What carries over from GPT-2's speed work: the fused causal softmax on CPU without SDPA, SDPA on
// 2.x, and, for classification, the last layer run for each row's last real token only
// (forward_last; set_last_block_pruned(false) / FTPLAN_FULL_LAST_BLOCK=1 runs every position).
// For causal-LM only the positions whose next token counts reach the LM head, in chunks
// (lm_loss.h): prompt tokens masked with -100 cost no LM-head work.
//
// embed_tokens has HF's padding_idx = pad_token_id: that row starts at zero and gets no gradient
// from its lookups (padding positions never reach a result anyway).
//
// It is not: generation, a KV cache, left padding.
//
// Shapes: B batch, T sequence, C hidden, V vocab, K num_labels, N counted targets of a batch.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "decoder_config.h"
#include "decoder_layers.h"
#include "model.h"
#include "rope.h"

namespace ftplan {

// HF's LlamaModel: embeddings, layers, final norm; no head.
class DecoderTrunkImpl : public torch::nn::Module {
 public:
  explicit DecoderTrunkImpl(const DecoderConfig& cfg);
  // input_ids [B,T] int64 -> final hidden states [B,T,C] (normed)
  torch::Tensor forward(const torch::Tensor& input_ids);
  // The final hidden state at position last[b] of each row only -> [B,C]: the last layer computes
  // keys and values for every position but the rest for that token alone.
  torch::Tensor forward_last(const torch::Tensor& input_ids, const torch::Tensor& last);

  torch::nn::Embedding embed_tokens{nullptr};  // [V, C]
  torch::nn::ModuleList layers{nullptr};       // L DecoderLayers
  RMSNorm norm{nullptr};
  // Recompute each layer's activations in backward (checkpoint.h).
  bool gradient_checkpointing = false;

 private:
  // The sliding window's [T,T] mask when it is shorter than T, else undefined (causal only).
  torch::Tensor mask(int64_t T, const c10::Device& device) const;
  DecoderConfig cfg_;
  RopeCache rope_;
};
TORCH_MODULE(DecoderTrunk);

class DecoderImpl : public torch::nn::Module {
 public:
  // init=false keeps LibTorch's default initialisation.
  DecoderImpl(const DecoderConfig& cfg, bool init = true);

  // HF's _init_weights: N(0, initializer_range) for linears and embeddings, zero biases, unit norms.
  void init_weights();
  // The LM head's weight [V, C]: lm_head's, or embed_tokens' when tied.
  torch::Tensor lm_weight() const;

  DecoderTrunk model{nullptr};
  torch::nn::Linear score{nullptr};    // [K, C], no bias (classification)
  torch::nn::Linear lm_head{nullptr};  // [V, C], no bias (causal-lm, untied)

  const DecoderConfig& config() const { return cfg_; }

 private:
  DecoderConfig cfg_;
};
TORCH_MODULE(Decoder);

// The Model (model.h) around a Decoder.
std::unique_ptr<Model> make_decoder_model(const ModelSpec& spec, bool init);

// Parameter counts by arithmetic (total, trunk, head; a tied LM head adds nothing).
ParameterCounts decoder_parameter_counts(const DecoderConfig& cfg);

// N in 6N: the weights in matmuls per trained token — q, k, v, o, gate, up, down of every layer,
// and the head: lm_head's V·C for causal-lm (every token goes through it), score's K·C for
// classification (read once per row: an upper bound).
int64_t decoder_matmul_parameters(const DecoderConfig& cfg);
// Training FLOPs per token: 6N + 12·L·H·D·T', T' = min(T, sliding_window) (the keys a query sees
// at most; PaLM's estimate counts them all, as for GPT-2).
double decoder_training_flops_per_token(const DecoderConfig& cfg, int64_t seq_len);

}  // namespace ftplan
