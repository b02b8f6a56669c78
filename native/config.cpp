// config.cpp — validation of GPT2Config (see config.h).
#include "config.h"

#include <stdexcept>

namespace ftplan {

namespace {
void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}
void require_prob(double p, const char* name) {
  require(p >= 0.0 && p < 1.0, std::string(name) + " must be in [0, 1), got " + std::to_string(p));
}
}  // namespace

void validate(const GPT2Config& cfg) {
  require(cfg.vocab_size > 0, "vocab_size must be positive");
  require(cfg.n_positions > 0, "n_positions must be positive");
  require(cfg.n_embd > 0, "n_embd must be positive");
  require(cfg.n_layer > 0, "n_layer must be positive");
  require(cfg.n_head > 0, "n_head must be positive");
  require(cfg.n_embd % cfg.n_head == 0,
          "n_embd (" + std::to_string(cfg.n_embd) + ") must be divisible by n_head (" +
              std::to_string(cfg.n_head) + "): pick n_head among the divisors of n_embd");
  require(cfg.n_inner >= 0, "n_inner must be 0 (meaning 4 * n_embd) or positive");
  require(cfg.num_labels >= 2, "num_labels must be at least 2");
  require(cfg.pad_token_id >= 0 && cfg.pad_token_id < cfg.vocab_size,
          "pad_token_id must be a token id below vocab_size");
  require(cfg.layer_norm_epsilon > 0.0, "layer_norm_epsilon must be positive");
  require(cfg.initializer_range > 0.0, "initializer_range must be positive");
  require_prob(cfg.embd_pdrop, "embd_pdrop");
  require_prob(cfg.attn_pdrop, "attn_pdrop");
  require_prob(cfg.resid_pdrop, "resid_pdrop");
}

}  // namespace ftplan
