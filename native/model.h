// model.h — the models the trainer trains, behind one interface, so one Trainer, Session,
// benchmark and memory probe serve them all: GPT-2 with its classification head (gpt2.h, as it
// was: the adapter only calls it) and the Llama-family decoders (decoder.h) with a classification
// or a causal-LM head.
//
// The record that crosses the boundary is ModelSpec: the family, and that family's own shape
// record (config.h's GPT2Config or decoder_config.h's DecoderConfig). JS sends one flat object, the
// GPT-2 fields or the decoder's; `modelType` says which (absent or "gpt2": GPT-2). The other
// family's record keeps its defaults and is never read.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "decoder_config.h"
#include "gpt2.h"
#include "record.h"

namespace ftplan {

enum class Family { gpt2, decoder };

// Precision: of training (fp32, or bf16 autocast over fp32 master weights: trainer.h) and of how
// frozen weights are held (peft.h).
enum class Dtype { fp32, bf16 };

struct ModelSpec {
  Family family = Family::gpt2;
  GPT2Config gpt2;
  DecoderConfig decoder;

  bool is_gpt2() const { return family == Family::gpt2; }
  Task task() const { return is_gpt2() ? Task::classification : decoder.task; }
  const std::string& model_type() const;
  int64_t vocab_size() const { return is_gpt2() ? gpt2.vocab_size : decoder.vocab_size; }
  int64_t max_positions() const { return is_gpt2() ? gpt2.n_positions : decoder.max_position_embeddings; }
  int64_t num_labels() const { return is_gpt2() ? gpt2.num_labels : decoder.num_labels; }
  int64_t pad_token_id() const { return is_gpt2() ? gpt2.pad_token_id : decoder.pad_token_id; }
  int64_t layers() const { return is_gpt2() ? gpt2.n_layer : decoder.num_hidden_layers; }
  // The config field that bounds the sequence length, named in messages.
  const char* positions_field() const { return is_gpt2() ? "n_positions" : "max_position_embeddings"; }
};

// The family's own validation (config.h, decoder_config.h).
void validate(const ModelSpec& spec);

// One micro-batch, right padded. CPU tensors; the trainer moves them to its device.
struct Batch {
  torch::Tensor input_ids;  // [B,T] int64
  torch::Tensor lengths;    // [B] int64, real tokens per row (>= 1)
  torch::Tensor labels;     // classification: [B] int64 in [0, K)
  // causal-lm: [B,T] int64, Hugging Face's `labels`: the token at each position, or -100 where it
  // does not count (prompt, padding). The model shifts: logits at t are scored against lm_labels at t+1.
  torch::Tensor lm_labels;
};

constexpr int64_t kIgnoreIndex = -100;  // HF's ignore_index

// causal-lm evaluation of one batch, per row, from chunked logits (lm_loss.h).
#define FTPLAN_LM_EVAL(X)                                                                          \
  X(std::vector<double>, loss_sum, lossSum, {}) /* summed cross-entropy of the row's counted targets */ \
  X(std::vector<int64_t>, targets, targets, {}) /* counted targets (lm_labels != -100 after the shift) */ \
  X(std::vector<int64_t>, correct, correct, {}) /* targets the argmax predicts: all of them = greedy decoding reproduces the row */

struct LmEval {
  FTPLAN_LM_EVAL(FTPLAN_FIELD)
};

class Model {
 public:
  virtual ~Model() = default;
  const ModelSpec& spec() const { return spec_; }
  // The torch module: parameters under Hugging Face's names, train()/eval(), to(device).
  virtual torch::nn::Module& module() = 0;

  // Throws std::invalid_argument when the batch does not fit the model: ids, lengths, and (with
  // targets) the task's labels — classification: labels [B] in [0, K); causal-lm: lm_labels [B,T],
  // each -100 or a token id, -100 at every padding position, at least one counted target.
  void check_batch(const Batch& b, bool with_targets) const;
  // Targets a batch's loss averages over: rows (classification) or counted tokens (causal-lm).
  int64_t count_targets(const Batch& b) const;

  // A batch already on the model's device, bf16 autocast when asked (fp32 master weights):
  // the mean loss over the batch's targets, fp32 scalar; autograd graph kept in grad mode.
  virtual torch::Tensor loss(const Batch& b, bool bf16) = 0;
  // Logits: classification [B,K] at each row's last real token; causal-lm [B,T,V] (every position
  // at once: for tests and small vocabularies; evaluation uses lm_eval).
  virtual torch::Tensor logits(const Batch& b, bool bf16) = 0;
  // causal-lm only: per-row loss sums, targets and argmax hits, without [B,T,V] logits at once.
  virtual LmEval lm_eval(const Batch& b, bool bf16);

  // Parameters of the trunk (HF's GPT2Model / LlamaModel: all but the head) and of the whole model
  // (NF4-quantised weights counted by element, adapters included).
  virtual int64_t trunk_parameter_count();
  int64_t parameter_count();

  // Recompute each block's activations in backward (checkpoint.h) instead of keeping them.
  virtual void set_gradient_checkpointing(bool on) = 0;

 protected:
  explicit Model(ModelSpec spec) : spec_(std::move(spec)) {}
  ModelSpec spec_;
};

// Builds the model (validated) with Hugging Face's initialisation, on the CPU; init=false keeps
// LibTorch's default initialisation (cheaper, for counting).
std::unique_ptr<Model> build_model(const ModelSpec& spec, bool init = true);

// A synthetic batch of B full rows of length T: random real-token ids (the pad id excluded) and the
// task's targets (random labels; causal-lm: lm_labels = input_ids, every next token counted).
Batch synthetic_batch(const ModelSpec& spec, int64_t B, int64_t T, torch::Generator& gen);

// The parameters of a model of this shape (gpt2.h's record: total, trunk as `transformer`, head).
// GPT-2: counted on the real module; decoders: arithmetic (a 70B model is not built to be counted),
// tested equal to the module's count.
ParameterCounts parameter_counts(const ModelSpec& spec);

}  // namespace ftplan
