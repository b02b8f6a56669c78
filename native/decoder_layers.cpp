// decoder_layers.cpp — see decoder_layers.h for what this is and the shape glossary.
#include "decoder_layers.h"

#include <cmath>
#include <limits>

#include "attention.h"
#include "compat.h"
#include "dropout.h"
#include "rmsnorm.h"

namespace ftplan {

namespace {
Linear linear(int64_t in, int64_t out, bool bias) { return Linear(in, out, bias); }

// softmax(scale · scores where `seen`, else −inf) with dropout p; seen broadcasts to scores.
torch::Tensor masked_softmax(const torch::Tensor& scores, const torch::Tensor& seen, double scale, double p) {
  auto att = (scores * scale).masked_fill(seen.logical_not(), -std::numeric_limits<double>::infinity());
  return ftplan::dropout(torch::softmax(att, -1), p, p > 0.0);
}

#if FTPLAN_HAS_SDPA
// [B,KV,T,D] -> [B,KV·G,T,D], key/value head kv repeated for query heads kv·G … kv·G + G − 1.
torch::Tensor repeat_kv(const torch::Tensor& x, int64_t G) {
  if (G == 1) return x;
  const auto B = x.size(0), KV = x.size(1), T = x.size(2), D = x.size(3);
  return x.unsqueeze(2).expand({B, KV, G, T, D}).reshape({B, KV * G, T, D});
}
#endif
}  // namespace

RMSNormImpl::RMSNormImpl(int64_t n, double eps) : eps_(eps) { weight = register_parameter("weight", torch::ones({n})); }

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) { return rms_norm(x, weight, eps_); }

torch::Tensor sliding_window_mask(int64_t T, int64_t window, const c10::Device& device) {
  auto pos = torch::arange(T, torch::TensorOptions().dtype(torch::kLong).device(device));
  auto behind = pos.unsqueeze(1) - pos.unsqueeze(0);  // [T,T]: i − j for query i, key j
  return behind.ge(0).logical_and(behind.lt(window));  // i − W < j <= i
}

DecoderAttentionImpl::DecoderAttentionImpl(const DecoderConfig& cfg)
    : H_(cfg.num_attention_heads), KV_(cfg.num_key_value_heads), D_(cfg.head_dim), window_(cfg.sliding_window), dropout_(cfg.attention_dropout) {
  const int64_t C = cfg.hidden_size;
  q_proj = register_module("q_proj", linear(C, H_ * D_, cfg.qkv_bias));
  k_proj = register_module("k_proj", linear(C, KV_ * D_, cfg.qkv_bias));
  v_proj = register_module("v_proj", linear(C, KV_ * D_, cfg.qkv_bias));
  o_proj = register_module("o_proj", linear(H_ * D_, C, cfg.o_bias));
  if (cfg.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(D_, cfg.rms_norm_eps));
    k_norm = register_module("k_norm", RMSNorm(D_, cfg.rms_norm_eps));
  }
}

torch::Tensor DecoderAttentionImpl::keys(const torch::Tensor& x, const RopeTables& rope) {
  const auto B = x.size(0), T = x.size(1);
  auto k = k_proj(x).view({B, T, KV_, D_});
  if (!k_norm.is_empty()) k = k_norm(k);                    // per head, over D (qwen3)
  return apply_rope(k.transpose(1, 2), rope.cos, rope.sin);  // [B,KV,T,D]
}

torch::Tensor DecoderAttentionImpl::values(const torch::Tensor& x) {
  return v_proj(x).view({x.size(0), x.size(1), KV_, D_}).transpose(1, 2);  // [B,KV,T,D], a strided view
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> DecoderAttentionImpl::project(const torch::Tensor& x, const RopeTables& rope) {
  const auto B = x.size(0), T = x.size(1);
  auto q = q_proj(x).view({B, T, H_, D_});
  if (!q_norm.is_empty()) q = q_norm(q);
  q = apply_rope(q.transpose(1, 2), rope.cos, rope.sin);  // [B,H,T,D], contiguous
  return {q, keys(x, rope), values(x)};
}

torch::Tensor DecoderAttentionImpl::forward(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& mask) {
  const auto B = x.size(0), T = x.size(1), G = H_ / KV_;
  auto [q, k, v] = project(x, rope);
  const double p = is_training() ? dropout_ : 0.0;
  torch::Tensor y;  // [B,H,T,D]
#if FTPLAN_HAS_SDPA
  // Causal without a mask keeps the flash / memory-efficient kernels eligible on CUDA; with right
  // padding a real token's keys are all real, so no padding mask is needed (as in gpt2.cpp).
  // q and k in v's dtype: under autocast q_norm/k_norm leave them fp32 (as HF's do), and the
  // product is bf16 either way (HF's eager matmul autocasts both).
  const auto qv = q.to(v.scalar_type()), kv = repeat_kv(k.to(v.scalar_type()), G), vv = repeat_kv(v, G);
  if (mask.defined()) y = at::scaled_dot_product_attention(qv, kv, vv, mask, p, /*is_causal=*/false);
  else y = at::scaled_dot_product_attention(qv, kv, vv, /*attn_mask=*/{}, p, /*is_causal=*/true);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(D_));
  // A group's G query heads stacked as G·T rows against its T keys: [B,KV,G·T,T].
  auto scores = torch::matmul(q.view({B, KV_, G * T, D_}), k.transpose(-2, -1));
  torch::Tensor att;
  if (!mask.defined() && uses_fused_attention(x.device())) {
    // row r of [B·H·T, T] is query r mod T: the fused op's causal rows (attention.h)
    att = causal_softmax_dropout(scores.view({B * H_, T, T}), scale, p, p > 0.0).view({B, KV_, G * T, T});
  } else {
    const auto seen = mask.defined() ? mask : sliding_window_mask(T, T, x.device());  // [T,T]
    att = masked_softmax(scores.view({B, KV_, G, T, T}), seen, scale, p).view({B, KV_, G * T, T});
  }
  y = torch::matmul(att, v).view({B, H_, T, D_});  // [B,KV,G·T,D] is [B,H,T,D]
#endif
  return o_proj(y.transpose(1, 2).reshape({B, T, H_ * D_}));
}

torch::Tensor DecoderAttentionImpl::forward_last(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& last) {
  const auto B = x.size(0), T = x.size(1), G = H_ / KV_;
  const auto k = keys(x, rope), v = values(x);  // every position
  auto q = q_proj(x.index({torch::arange(B, last.options()), last})).view({B, H_, D_});
  if (!q_norm.is_empty()) q = q_norm(q);
  q = apply_rope(q, rope.cos.index_select(0, last).unsqueeze(1), rope.sin.index_select(0, last).unsqueeze(1));  // [B,H,D]
  // The query at last[b] sees keys last[b] − W < j <= last[b] (all real tokens, with right padding).
  const auto pos = torch::arange(T, last.options()).unsqueeze(0);  // [1,T]
  auto seen = pos.le(last.unsqueeze(1));                           // [B,T]
  if (window_ > 0) seen = seen.logical_and(pos.gt((last - window_).unsqueeze(1)));
  const double scale = 1.0 / std::sqrt(static_cast<double>(D_));
  const double p = is_training() ? dropout_ : 0.0;
  auto scores = torch::matmul(q.view({B, KV_, G, D_}), k.transpose(-2, -1));           // [B,KV,G,T]
  auto att = masked_softmax(scores, seen.view({B, 1, 1, T}), scale, p);
  return o_proj(torch::matmul(att, v).reshape({B, H_ * D_}));                           // [B,KV,G,D] -> [B,C]
}

DecoderMLPImpl::DecoderMLPImpl(const DecoderConfig& cfg) {
  gate_proj = register_module("gate_proj", linear(cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias));
  up_proj = register_module("up_proj", linear(cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias));
  down_proj = register_module("down_proj", linear(cfg.intermediate_size, cfg.hidden_size, cfg.mlp_bias));
}

torch::Tensor DecoderMLPImpl::forward(const torch::Tensor& x) { return down_proj(torch::silu(gate_proj(x)) * up_proj(x)); }

DecoderLayerImpl::DecoderLayerImpl(const DecoderConfig& cfg) {
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
  self_attn = register_module("self_attn", DecoderAttention(cfg));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
  mlp = register_module("mlp", DecoderMLP(cfg));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& mask) {
  auto h = x + self_attn(input_layernorm(x), rope, mask);
  return h + mlp(post_attention_layernorm(h));
}

torch::Tensor DecoderLayerImpl::forward_last(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& last) {
  auto h = x.index({torch::arange(x.size(0), last.options()), last}) + self_attn->forward_last(input_layernorm(x), rope, last);  // [B,C]
  return h + mlp(post_attention_layernorm(h));
}

}  // namespace ftplan
