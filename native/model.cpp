// model.cpp — see model.h. The GPT-2 adapter lives here; the decoders' is decoder.cpp's.
#include "model.h"

#include <stdexcept>

#include "compat.h"
#include "decoder.h"
#include "peft.h"

namespace ftplan {

const std::string& ModelSpec::model_type() const {
  static const std::string gpt2_name = "gpt2";
  return is_gpt2() ? gpt2_name : decoder.model_type;
}

void validate(const ModelSpec& spec) {
  if (spec.is_gpt2()) validate(spec.gpt2);
  else validate(spec.decoder);
}

void Model::check_batch(const Batch& b, bool with_targets) const {
  const auto& ids = b.input_ids;
  if (!ids.defined() || ids.dim() != 2) throw std::invalid_argument("input_ids must be [batch, seq]");
  const auto B = ids.size(0), T = ids.size(1);
  if (B < 1) throw std::invalid_argument("batch size must be at least 1");
  if (T < 1) throw std::invalid_argument("sequence length must be at least 1");
  if (T > spec_.max_positions())
    throw std::invalid_argument("sequence length " + std::to_string(T) + " exceeds the model's " + spec_.positions_field() + " " +
                                std::to_string(spec_.max_positions()) + ": truncate or lower --seq-len");
  if (!b.lengths.defined() || b.lengths.dim() != 1 || b.lengths.size(0) != B) throw std::invalid_argument("lengths must be [batch]");
  if (b.lengths.min().item<int64_t>() < 1 || b.lengths.max().item<int64_t>() > T)
    throw std::invalid_argument("every row needs between 1 and seq_len real tokens");
  if (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= spec_.vocab_size()) throw std::invalid_argument("token ids must be in [0, vocab_size)");
  if (!with_targets) return;
  if (spec_.task() == Task::classification) {
    if (!b.labels.defined()) throw std::invalid_argument("a classification batch needs labels [batch], one per row");
    if (b.labels.dim() != 1 || b.labels.size(0) != B) throw std::invalid_argument("labels must be [batch], one per row");
    if (b.labels.min().item<int64_t>() < 0 || b.labels.max().item<int64_t>() >= spec_.num_labels())
      throw std::invalid_argument("labels must be in [0, num_labels)");
    return;
  }
  const auto& y = b.lm_labels;
  if (!y.defined()) throw std::invalid_argument("a causal-lm batch needs lmLabels [batch × seq] (-100 where a token does not count)");
  if (y.dim() != 2 || y.size(0) != B || y.size(1) != T) throw std::invalid_argument("lmLabels must be [batch, seq], like input_ids");
  const auto ignored = y.eq(kIgnoreIndex);
  if (ignored.logical_not().logical_and(y.lt(0).logical_or(y.ge(spec_.vocab_size()))).any().item<bool>())
    throw std::invalid_argument("lmLabels must be -100 or token ids in [0, vocab_size)");
  const auto padding = torch::arange(T, b.lengths.options()).unsqueeze(0).ge(b.lengths.unsqueeze(1));  // [B,T]
  if (padding.logical_and(ignored.logical_not()).any().item<bool>())
    throw std::invalid_argument("lmLabels must be -100 at every padding position (at or past a row's length)");
  if (count_targets(b) < 1)
    throw std::invalid_argument("a causal-lm batch needs at least one counted target (an lmLabels entry other than -100 after the first position)");
}

int64_t Model::count_targets(const Batch& b) const {
  if (spec_.task() == Task::classification) return b.input_ids.size(0);
  const auto T = b.lm_labels.size(1);
  return T < 2 ? 0 : b.lm_labels.narrow(1, 1, T - 1).ne(kIgnoreIndex).sum().item<int64_t>();
}

LmEval Model::lm_eval(const Batch&, bool) { throw std::invalid_argument("lmEval() is for causal-lm models; this one is " + spec_.model_type() + " for classification"); }

int64_t Model::trunk_parameter_count() { return parameter_count(); }

int64_t Model::parameter_count() { return parameter_info(*this).total; }

namespace {

// GPT-2 as it is (gpt2.h): the adapter adds the loss the trainer used to compute.
class Gpt2Model final : public Model {
 public:
  Gpt2Model(const ModelSpec& spec, bool init) : Model(spec), m_(spec.gpt2, init) {}
  torch::nn::Module& module() override { return *m_; }
  void set_gradient_checkpointing(bool on) override { m_->transformer->gradient_checkpointing = on; }

  torch::Tensor loss(const Batch& b, bool bf16) override {
    torch::Tensor logits;
    {
      AutocastGuard autocast(bf16, b.input_ids.device().type());
      logits = m_->forward(b.input_ids, b.lengths);  // [B,K]
    }
    return torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), b.labels);
  }

  torch::Tensor logits(const Batch& b, bool bf16) override {
    AutocastGuard autocast(bf16, b.input_ids.device().type());
    return m_->forward(b.input_ids, b.lengths);
  }

  int64_t trunk_parameter_count() override { return m_->transformer_parameter_count(); }

 private:
  GPT2ForSequenceClassification m_;
};

}  // namespace

std::unique_ptr<Model> build_model(const ModelSpec& spec, bool init) {
  validate(spec);
  if (spec.is_gpt2()) return std::make_unique<Gpt2Model>(spec, init);
  return make_decoder_model(spec, init);
}

Batch synthetic_batch(const ModelSpec& spec, int64_t B, int64_t T, torch::Generator& gen) {
  Batch b;
  // Ids below vocab_size - 1 (GPT-2's pad id; step time does not depend on the values), every row
  // full: the step cost of a padded length T.
  b.input_ids = torch::randint(0, spec.vocab_size() - 1, {B, T}, gen, torch::kLong);
  b.lengths = torch::full({B}, T, torch::kLong);
  if (spec.task() == Task::classification) b.labels = torch::randint(0, spec.num_labels(), {B}, gen, torch::kLong);
  else b.lm_labels = b.input_ids.clone();  // every next token counts: the LM head's full cost
  return b;
}

ParameterCounts parameter_counts(const ModelSpec& spec) {
  if (spec.is_gpt2()) return parameter_counts(spec.gpt2);
  validate(spec);
  return decoder_parameter_counts(spec.decoder);
}

}  // namespace ftplan
