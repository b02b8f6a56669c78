// decoder.cpp — see decoder.h for what this is and the shape glossary.
#include "decoder.h"

#include <algorithm>
#include <stdexcept>

#include "checkpoint.h"
#include "compat.h"
#include "lm_loss.h"
#include "nf4.h"
#include "synthetic_init.h"

namespace ftplan {

DecoderTrunkImpl::DecoderTrunkImpl(const DecoderConfig& cfg) : cfg_(cfg), rope_(cfg) {
  // padding_idx as HF builds it: the pad row gets no gradient from its lookups (tied, it still gets the head's)
  embed_tokens = register_module("embed_tokens", embedding_module(torch::nn::EmbeddingOptions(cfg.vocab_size, cfg.hidden_size).padding_idx(cfg.pad_token_id)));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) layers->push_back(DecoderLayer(cfg));
  norm = register_module("norm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
}

torch::Tensor DecoderTrunkImpl::mask(int64_t T, const c10::Device& device) const {
  // A window at least T long never hides a key: causal only, the fused / flash paths stay eligible.
  if (cfg_.sliding_window > 0 && cfg_.sliding_window < T) return sliding_window_mask(T, cfg_.sliding_window, device);
  return {};
}

torch::Tensor DecoderTrunkImpl::forward(const torch::Tensor& input_ids) {
  const auto T = input_ids.size(1);
  // fp32 residual stream: a frozen embedding may be held in bf16 (peft.h)
  auto x = embed_tokens(input_ids).to(torch::kFloat);  // [B,T,C]
  const auto rope = rope_.get(T, input_ids.device());
  const auto m = mask(T, input_ids.device());
  for (const auto& l : *layers) {
    const auto layer = std::dynamic_pointer_cast<DecoderLayerImpl>(l);
    if (gradient_checkpointing) x = checkpoint([layer, rope, m](const torch::Tensor& in) { return layer->forward(in, rope, m); }, x, *layer);
    else x = layer->forward(x, rope, m);
  }
  return norm(x);
}

torch::Tensor DecoderTrunkImpl::forward_last(const torch::Tensor& input_ids, const torch::Tensor& last) {
  const auto T = input_ids.size(1);
  auto x = embed_tokens(input_ids).to(torch::kFloat);
  const auto rope = rope_.get(T, input_ids.device());
  const auto m = mask(T, input_ids.device());
  const size_t L = layers->size();
  for (size_t i = 0; i < L; ++i) {
    const auto layer = std::dynamic_pointer_cast<DecoderLayerImpl>(layers[i]);
    const bool last_layer = i + 1 == L;
    auto run = [layer, rope, m, last, last_layer](const torch::Tensor& in) {
      return last_layer ? layer->forward_last(in, rope, last) : layer->forward(in, rope, m);
    };
    x = gradient_checkpointing ? checkpoint(run, x, *layer) : run(x);
  }
  return norm(x);  // [B,C]
}

DecoderImpl::DecoderImpl(const DecoderConfig& cfg, bool init) : cfg_(cfg) {
  validate(cfg);
  model = register_module("model", DecoderTrunk(cfg));
  if (cfg.task == Task::classification) {
    score = register_module("score", linear_module(torch::nn::LinearOptions(cfg.hidden_size, cfg.num_labels).bias(false)));
  } else if (!cfg.tie_word_embeddings) {
    lm_head = register_module("lm_head", linear_module(torch::nn::LinearOptions(cfg.hidden_size, cfg.vocab_size).bias(false)));
  }
  if (init) init_weights();
}

void DecoderImpl::init_weights() {
  torch::NoGradGuard no_grad;
  for (auto& item : named_parameters()) {
    const auto& name = item.key();
    auto& p = item.value();
    const bool bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (name.find("norm.weight") != std::string::npos) p.fill_(1.0);  // every RMSNorm: *_layernorm, q_norm, k_norm, norm
    else if (bias) p.zero_();
    else init_normal(p, cfg_.initializer_range);  // embed_tokens, every linear, score, lm_head
  }
  model->embed_tokens->weight[cfg_.pad_token_id].zero_();  // HF zeroes the padding_idx row
}

torch::Tensor DecoderImpl::lm_weight() const { return cfg_.tie_word_embeddings ? model->embed_tokens->weight : lm_head->weight; }

namespace {

class DecoderModel final : public Model {
 public:
  DecoderModel(const ModelSpec& spec, bool init) : Model(spec), m_(spec.decoder, init) {}
  torch::nn::Module& module() override { return *m_; }
  void set_gradient_checkpointing(bool on) override { m_->model->gradient_checkpointing = on; }

  int64_t trunk_parameter_count() override {
    int64_t n = 0;
    for (const auto& p : m_->model->parameters()) n += p.numel();
    return n;
  }

  torch::Tensor loss(const Batch& b, bool bf16) override {
    if (!causal_lm()) {
      torch::Tensor logits;
      {
        AutocastGuard autocast(bf16, b.input_ids.device().type());
        logits = classify(b);  // [B,K]
      }
      return torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), b.labels);
    }
    const auto c = counted(b, bf16);
    return lm_cross_entropy(c.h, m_->lm_weight(), c.y, compute(bf16));
  }

  torch::Tensor logits(const Batch& b, bool bf16) override {
    AutocastGuard autocast(bf16, b.input_ids.device().type());
    if (!causal_lm()) return classify(b);
    const auto h = m_->model(b.input_ids);
    auto w = m_->lm_weight();  // a frozen head may be held in bf16 (peft.h)
    if (w.scalar_type() != h.scalar_type() && !autocast_on(h.device().type())) w = w.to(h.scalar_type());
    return torch::nn::functional::linear(h, w);  // [B,T,V]
  }

  LmEval lm_eval(const Batch& b, bool bf16) override {
    if (!causal_lm()) return Model::lm_eval(b, bf16);
    const auto c = counted(b, bf16);
    auto [loss, hit] = lm_token_losses(c.h, m_->lm_weight(), c.y, compute(bf16));
    const auto B = b.input_ids.size(0);
    const auto opts = c.row.options();
    auto sums = torch::zeros({B}, opts.dtype(torch::kFloat64)).index_add_(0, c.row, loss).to(torch::kCPU);
    auto targets = torch::zeros({B}, opts.dtype(torch::kLong)).index_add_(0, c.row, torch::ones_like(c.row)).to(torch::kCPU);
    auto correct = torch::zeros({B}, opts.dtype(torch::kLong)).index_add_(0, c.row, hit.to(torch::kLong)).to(torch::kCPU);
    LmEval r;
    r.loss_sum.assign(sums.data_ptr<double>(), sums.data_ptr<double>() + B);
    r.targets.assign(targets.data_ptr<int64_t>(), targets.data_ptr<int64_t>() + B);
    r.correct.assign(correct.data_ptr<int64_t>(), correct.data_ptr<int64_t>() + B);
    return r;
  }

 private:
  bool causal_lm() const { return spec_.decoder.causal_lm(); }
  static at::ScalarType compute(bool bf16) { return bf16 ? torch::kBFloat16 : torch::kFloat; }

  // [B,K] at each row's last real token (call under the autocast guard).
  torch::Tensor classify(const Batch& b) {
    const auto last = b.lengths - 1;
    if (last_block_pruned()) return m_->score(m_->model->forward_last(b.input_ids, last));
    auto hidden = m_->model(b.input_ids);  // [B,T,C]
    return m_->score(hidden.index({torch::arange(hidden.size(0), last.options()), last}));
  }

  // The hidden states whose next token counts, their targets, and their rows: HF's shift
  // (logits[:, :-1] against labels[:, 1:]) with the ignored positions dropped before the LM head.
  struct Counted {
    torch::Tensor h, y, row;  // [N,C], [N], [N]
  };
  Counted counted(const Batch& b, bool bf16) {
    torch::Tensor hidden;
    {
      AutocastGuard autocast(bf16, b.input_ids.device().type());
      hidden = m_->model(b.input_ids);  // [B,T,C]
    }
    const auto B = hidden.size(0), T = hidden.size(1), C = hidden.size(2);
    const auto where = b.lm_labels.narrow(1, 1, T - 1).ne(kIgnoreIndex).nonzero();  // [N,2]: (row, t) with lm_labels[row, t+1] counted
    const auto row = where.select(1, 0).contiguous();
    const auto flat = row * T + where.select(1, 1);
    return {hidden.reshape({B * T, C}).index_select(0, flat), b.lm_labels.reshape({B * T}).index_select(0, flat + 1), row};
  }

  Decoder m_;
};

}  // namespace

std::unique_ptr<Model> make_decoder_model(const ModelSpec& spec, bool init) { return std::make_unique<DecoderModel>(spec, init); }

ParameterCounts decoder_parameter_counts(const DecoderConfig& c) {
  const int64_t C = c.hidden_size, H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim, F = c.intermediate_size;
  const int64_t attention = C * H * D + 2 * C * KV * D + H * D * C + (c.qkv_bias ? H * D + 2 * KV * D : 0) + (c.o_bias ? C : 0) + (c.qk_norm ? 2 * D : 0);
  const int64_t mlp = 3 * C * F + (c.mlp_bias ? 2 * F + C : 0);
  ParameterCounts r;
  r.transformer = c.vocab_size * C + c.num_hidden_layers * (attention + mlp + 2 * C) + C;
  r.head = c.causal_lm() ? (c.tie_word_embeddings ? 0 : c.vocab_size * C) : c.num_labels * C;
  r.total = r.transformer + r.head;
  return r;
}

int64_t decoder_matmul_parameters(const DecoderConfig& c) {
  const int64_t C = c.hidden_size, H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim, F = c.intermediate_size;
  const int64_t per_layer = C * H * D + 2 * C * KV * D + H * D * C + 3 * C * F;
  return c.num_hidden_layers * per_layer + (c.causal_lm() ? c.vocab_size : c.num_labels) * C;
}

double decoder_training_flops_per_token(const DecoderConfig& c, int64_t seq_len) {
  const int64_t span = c.sliding_window > 0 ? std::min(seq_len, c.sliding_window) : seq_len;
  return 6.0 * static_cast<double>(decoder_matmul_parameters(c)) +
         12.0 * static_cast<double>(c.num_hidden_layers) * static_cast<double>(c.num_attention_heads * c.head_dim) * static_cast<double>(span);
}

}  // namespace ftplan
