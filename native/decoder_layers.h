// decoder_layers.h — the pieces of a Llama-family decoder layer, with Hugging Face's semantics and
// module names (LlamaRMSNorm, LlamaAttention, LlamaMLP, LlamaDecoderLayer and their Mistral / Qwen2
// / Qwen3 variants, whose differences are DecoderConfig's fields):
//
//   h   = x + o_proj(attention(rope(q_norm?(q_proj(rms(x)))), rope(k_norm?(k_proj(rms(x)))), v_proj(rms(x))))
//   out = h + down_proj(silu(gate_proj(rms(h))) * up_proj(rms(h)))
//
// Attention is causal (and windowed when a sliding window is shorter than the sequence), with
// grouped-query heads: key/value head kv serves query heads kv·G … kv·G + G − 1 (HF's repeat_kv
// order). Without SDPA (LibTorch 1.13, CPU) the G query heads of a group are stacked as G·T rows
// against the group's T keys — one matmul per group, no copy of k and v per query head — and the
// causal softmax is attention.h's fused op (row r sees keys 0 … r mod T, which stacking keeps);
// with SDPA (2.x) k and v are repeated to H heads and scaled_dot_product_attention runs causal, or
// with the window's mask.
//
// Shapes: B batch, T sequence, C hidden, H query heads, KV key/value heads, G = H / KV, D head_dim
// (not necessarily C / H), F intermediate size.
#pragma once

#include <torch/torch.h>

#include "decoder_config.h"
#include "lora.h"
#include "rope.h"

namespace ftplan {

// HF LlamaRMSNorm: x / sqrt(mean(x²) + eps) in fp32, cast back to x's dtype, times weight (ones);
// rmsnorm.h's fused CPU path for fp32 inputs.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t n, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // [..., n] -> [..., n]

  torch::Tensor weight;  // [n]

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Which keys a query sees. Undefined mask: causal only (the fused CPU op / SDPA's is_causal);
// otherwise a [T, T] bool (true = may attend): causal and within the sliding window.
torch::Tensor sliding_window_mask(int64_t T, int64_t window, const c10::Device& device);

class DecoderAttentionImpl : public torch::nn::Module {
 public:
  explicit DecoderAttentionImpl(const DecoderConfig& cfg);
  // x [B,T,C] (normed), rope tables for T, mask as sliding_window_mask -> [B,T,C]
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& mask);
  // Only the query at position last[b] of each row (keys and values still for every position):
  // x [B,T,C], last [B] int64 -> [B,C], what forward(x)[b, last[b]] is.
  torch::Tensor forward_last(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& last);

  // lora.h: torch's Linear, adaptable (LoRA, frozen, NF4)
  Linear q_proj{nullptr};  // [H·D, C]
  Linear k_proj{nullptr};  // [KV·D, C]
  Linear v_proj{nullptr};  // [KV·D, C]
  Linear o_proj{nullptr};  // [C, H·D]
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // [D] each, qwen3 only

 private:
  // -> q [B,H,T,D], k [B,KV,T,D] (both roped, contiguous), v [B,KV,T,D]
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> project(const torch::Tensor& x, const RopeTables& rope);
  torch::Tensor keys(const torch::Tensor& x, const RopeTables& rope);    // [B,KV,T,D], roped
  torch::Tensor values(const torch::Tensor& x);                          // [B,KV,T,D]

  int64_t H_, KV_, D_, window_;
  double dropout_;
};
TORCH_MODULE(DecoderAttention);

// SwiGLU: down_proj(silu(gate_proj(x)) * up_proj(x)).
class DecoderMLPImpl : public torch::nn::Module {
 public:
  explicit DecoderMLPImpl(const DecoderConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x);  // [..., C] -> [..., C]

  Linear gate_proj{nullptr}, up_proj{nullptr};  // [F, C]
  Linear down_proj{nullptr};                    // [C, F]
};
TORCH_MODULE(DecoderMLP);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const DecoderConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& mask);  // [B,T,C]
  // The layer's output at position last[b] of each row only: x [B,T,C], last [B] -> [B,C].
  torch::Tensor forward_last(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& last);

  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  DecoderAttention self_attn{nullptr};
  DecoderMLP mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

}  // namespace ftplan
