// gpt2.cpp — see gpt2.h for what this is and the shape glossary.
#include "gpt2.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "attention.h"
#include "checkpoint.h"
#include "compat.h"
#include "dropout.h"
#include "switch.h"
#include "synthetic_init.h"

namespace ftplan {

FTPLAN_SWITCH_ACCESSORS(last_block_pruned, set_last_block_pruned, "FTPLAN_FULL_LAST_BLOCK")

namespace {
// Attention from torch ops: softmax(scale · q·kᵀ where `seen`, else -inf), dropout p, times v.
// q [B,H,Q,D], k and v [B,H,T,D], seen broadcast to [B,H,Q,T] (true = may attend) -> [B,H,Q,D].
torch::Tensor masked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& seen,
                               double scale, double p) {
  auto att = torch::matmul(q, k.transpose(-2, -1)) * scale;
  att = att.masked_fill(seen.logical_not(), -std::numeric_limits<double>::infinity());
  att = torch::softmax(att, -1);
  att = ftplan::dropout(att, p, p > 0.0);
  return torch::matmul(att, v);
}
}  // namespace

AttentionImpl::AttentionImpl(const GPT2Config& cfg)
    : n_head_(cfg.n_head), n_embd_(cfg.n_embd), attn_pdrop_(cfg.attn_pdrop), resid_pdrop_(cfg.resid_pdrop) {
  c_attn = register_module("c_attn", Linear(cfg.n_embd, 3 * cfg.n_embd, true));
  c_proj = register_module("c_proj", Linear(cfg.n_embd, cfg.n_embd, true));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const auto B = x.size(0), T = x.size(1), C = n_embd_, H = n_head_, D = C / H;
  // One matmul for q, k, v; split is a view, the transposes are strided views.
  auto qkv = c_attn(x).view({B, T, 3, H, D});             // [B,T,3,H,D]
  auto q = qkv.select(2, 0).transpose(1, 2);               // [B,H,T,D]
  auto k = qkv.select(2, 1).transpose(1, 2);               // [B,H,T,D]
  auto v = qkv.select(2, 2).transpose(1, 2);               // [B,H,T,D]
  const double p = is_training() ? attn_pdrop_ : 0.0;
  torch::Tensor y;
#if FTPLAN_HAS_SDPA
  // Causal only: with right padding every real token's keys are real tokens, so the padding mask
  // changes nothing a real token (or the head) sees, and without an explicit mask the flash /
  // memory-efficient kernels stay eligible on CUDA.
  y = at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, p, /*is_causal=*/true);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  if (!mask.defined()) {
    // the transformer chose the fused op (uses_fused_attention): scale, causal mask, softmax and
    // dropout in one pass each way (attention.h); causal only, as above
    auto scores = torch::matmul(q, k.transpose(-2, -1));  // [B,H,T,T]
    auto att = causal_softmax_dropout(scores.view({B * H, T, T}), scale, p, p > 0.0).view({B, H, T, T});
    y = torch::matmul(att, v);                               // [B,H,T,D]
  } else {
    // lengths >= 1 and right padding: every query sees key 0, so no row is all -inf.
    y = masked_attention(q, k, v, mask, scale, p);           // [B,H,T,D]
  }
#endif
  y = y.transpose(1, 2).reshape({B, T, C});                // [B,T,C]
  y = c_proj(y);
  y = ftplan::dropout(y, resid_pdrop_, is_training());
  return y;
}

torch::Tensor AttentionImpl::forward_last(const torch::Tensor& x, const torch::Tensor& last) {
  namespace F = torch::nn::functional;
  const auto B = x.size(0), T = x.size(1), C = n_embd_, H = n_head_, D = C / H;
  // c_attn's rows [3C, C]: the q rows, then k, then v. Keys and values for every position (one
  // matmul over the k and v rows), the query for one token a row.
  auto kv = c_attn->forward_rows(x, C, 2 * C).view({B, T, 2, H, D});
  auto k = kv.select(2, 0).transpose(1, 2);                                       // [B,H,T,D]
  auto v = kv.select(2, 1).transpose(1, 2);                                       // [B,H,T,D]
  auto rows = torch::arange(B, last.options());
  auto q = c_attn->forward_rows(x.index({rows, last}), 0, C).view({B, H, 1, D});
  // Causal for the query at last[b]: keys 0..last[b] (all real tokens, with right padding).
  auto key_seen = torch::arange(T, last.options()).unsqueeze(0) <= last.unsqueeze(1);  // [B,T]
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const double p = is_training() ? attn_pdrop_ : 0.0;
  auto y = masked_attention(q, k, v, key_seen.view({B, 1, 1, T}), scale, p).reshape({B, C});  // [B,H,1,D] -> [B,C]
  y = c_proj(y);
  return ftplan::dropout(y, resid_pdrop_, is_training());
}

MLPImpl::MLPImpl(const GPT2Config& cfg) : resid_pdrop_(cfg.resid_pdrop) {
  c_fc = register_module("c_fc", Linear(cfg.n_embd, cfg.inner(), true));
  c_proj = register_module("c_proj", Linear(cfg.inner(), cfg.n_embd, true));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  auto y = c_proj(torch::gelu(c_fc(x), "tanh"));  // HF activation "gelu_new"
  y = ftplan::dropout(y, resid_pdrop_, is_training());
  return y;
}

BlockImpl::BlockImpl(const GPT2Config& cfg) {
  auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.n_embd}).eps(cfg.layer_norm_epsilon)); };
  ln_1 = register_module("ln_1", ln());
  attn = register_module("attn", Attention(cfg));
  ln_2 = register_module("ln_2", ln());
  mlp = register_module("mlp", MLP(cfg));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  auto h = x + attn(ln_1(x), mask);
  return h + mlp(ln_2(h));
}

torch::Tensor BlockImpl::forward_last(const torch::Tensor& x, const torch::Tensor& last) {
  auto rows = torch::arange(x.size(0), last.options());
  auto h = x.index({rows, last}) + attn->forward_last(ln_1(x), last);  // [B,C]
  return h + mlp(ln_2(h));
}

TransformerImpl::TransformerImpl(const GPT2Config& cfg) : cfg_(cfg) {
  wte = register_module("wte", embedding_module(torch::nn::EmbeddingOptions(cfg.vocab_size, cfg.n_embd)));
  wpe = register_module("wpe", embedding_module(torch::nn::EmbeddingOptions(cfg.n_positions, cfg.n_embd)));
  h = register_module("h", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.n_layer; ++i) h->push_back(Block(cfg));
  ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.n_embd}).eps(cfg.layer_norm_epsilon)));
}

torch::Tensor TransformerImpl::embed(const torch::Tensor& input_ids) {
  auto pos = torch::arange(input_ids.size(1), input_ids.options());  // [T]
  // in fp32: frozen embeddings may be held in bf16 (peft.h)
  auto x = wte(input_ids).to(torch::kFloat) + wpe(pos).to(torch::kFloat);  // [B,T,C]
  return ftplan::dropout(x, cfg_.embd_pdrop, is_training());
}

// [B,1,T,T] causal AND key-is-real, or undefined: only the composed CPU attention reads it, and
// the choice is made once per forward (the blocks take the fused op exactly when none was built).
torch::Tensor TransformerImpl::attention_mask(const torch::Tensor& input_ids, const torch::Tensor& lengths) {
#if !FTPLAN_HAS_SDPA
  if (!uses_fused_attention(input_ids.device())) {
    const auto B = input_ids.size(0), T = input_ids.size(1);
    auto pos = torch::arange(T, input_ids.options());
    auto causal = torch::ones({T, T}, input_ids.options().dtype(torch::kBool)).tril();        // [T,T]
    auto key_real = pos.unsqueeze(0) < lengths.unsqueeze(1);                                  // [B,T]
    return causal.unsqueeze(0).unsqueeze(0).logical_and(key_real.view({B, 1, 1, T}));         // [B,1,T,T]
  }
#else
  (void)input_ids;
  (void)lengths;
#endif
  return {};
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& lengths) {
  auto x = embed(input_ids);
  const auto mask = attention_mask(input_ids, lengths);
  for (const auto& m : *h) {
    const auto block = std::dynamic_pointer_cast<BlockImpl>(m);
    if (gradient_checkpointing) x = checkpoint([block, mask](const torch::Tensor& in) { return block->forward(in, mask); }, x, *block);
    else x = block->forward(x, mask);
  }
  return ln_f(x);
}

torch::Tensor TransformerImpl::forward_last(const torch::Tensor& input_ids, const torch::Tensor& lengths) {
  auto x = embed(input_ids);
  const auto mask = attention_mask(input_ids, lengths);
  const size_t L = h->size();
  const auto last = lengths - 1;
  for (size_t i = 0; i < L; ++i) {
    const auto block = std::dynamic_pointer_cast<BlockImpl>(h[i]);
    const bool last_block = i + 1 == L;
    auto run = [block, mask, last, last_block](const torch::Tensor& in) { return last_block ? block->forward_last(in, last) : block->forward(in, mask); };
    x = gradient_checkpointing ? checkpoint(run, x, *block) : run(x);
  }
  return ln_f(x);  // [B,C]
}

GPT2ForSequenceClassificationImpl::GPT2ForSequenceClassificationImpl(const GPT2Config& cfg, bool init) : cfg_(cfg) {
  validate(cfg);
  transformer = register_module("transformer", Transformer(cfg));
  score = register_module("score", linear_module(torch::nn::LinearOptions(cfg.n_embd, cfg.num_labels).bias(false)));
  if (init) init_weights();
}

void GPT2ForSequenceClassificationImpl::init_weights() {
  torch::NoGradGuard no_grad;
  const double std = cfg_.initializer_range;
  const double proj_std = std / std::sqrt(2.0 * static_cast<double>(cfg_.n_layer));
  for (auto& item : named_parameters()) {
    const auto& name = item.key();
    auto& p = item.value();
    auto ends_with = [&](const std::string& s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    if (name.find(".ln_") != std::string::npos) {
      if (ends_with(".weight")) p.fill_(1.0); else p.zero_();
    } else if (ends_with(".bias")) {
      p.zero_();
    } else if (ends_with("c_proj.weight")) {
      init_normal(p, proj_std);
    } else {
      init_normal(p, std);  // wte, wpe, c_attn, c_fc, score
    }
  }
}

ParameterCounts parameter_counts(const GPT2Config& cfg) {
  torch::NoGradGuard no_grad;
  GPT2ForSequenceClassification model(cfg, /*init=*/false);
  ParameterCounts c;
  c.total = model->parameter_count();
  c.transformer = model->transformer_parameter_count();
  c.head = c.total - c.transformer;
  return c;
}

int64_t GPT2ForSequenceClassificationImpl::transformer_parameter_count() {
  int64_t n = 0;
  for (const auto& p : transformer->parameters()) n += p.numel();
  return n;
}

int64_t GPT2ForSequenceClassificationImpl::parameter_count() {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

torch::Tensor GPT2ForSequenceClassificationImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& lengths) {
  // Only each row's last real token reaches the head, so by default the last block runs for that
  // token alone (forward_last); HF computes every position and then picks this one.
  if (last_block_pruned()) return score(transformer->forward_last(input_ids, lengths));  // [B,K]
  auto hidden = transformer(input_ids, lengths);                    // [B,T,C]
  const auto B = input_ids.size(0);
  auto rows = torch::arange(B, lengths.options());
  // Only the last real token of each row reaches the head: HF computes the score on every
  // position and then picks this one; picking first gives the same logits for less work.
  auto last = hidden.index({rows, lengths - 1});                    // [B,C]
  return score(last);                                               // [B,K]
}

void check_batch(const GPT2Config& cfg, const torch::Tensor& input_ids, const torch::Tensor& lengths) {
  if (input_ids.dim() != 2) throw std::invalid_argument("input_ids must be [batch, seq]");
  const auto B = input_ids.size(0), T = input_ids.size(1);
  if (B < 1) throw std::invalid_argument("batch size must be at least 1");
  if (T < 1) throw std::invalid_argument("sequence length must be at least 1");
  if (T > cfg.n_positions)
    throw std::invalid_argument("sequence length " + std::to_string(T) + " exceeds the model's n_positions " +
                                std::to_string(cfg.n_positions) + ": truncate or lower --seq-len");
  if (lengths.dim() != 1 || lengths.size(0) != B) throw std::invalid_argument("lengths must be [batch]");
  if (lengths.min().item<int64_t>() < 1 || lengths.max().item<int64_t>() > T)
    throw std::invalid_argument("every row needs between 1 and seq_len real tokens");
  if (input_ids.min().item<int64_t>() < 0 || input_ids.max().item<int64_t>() >= cfg.vocab_size)
    throw std::invalid_argument("token ids must be in [0, vocab_size)");
}

}  // namespace ftplan
