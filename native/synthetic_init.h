// synthetic_init.h — models built for a measurement, whose weights' values nothing reads.
//
// A step's time and memory depend on the model's shapes, not on its weights' values, yet drawing
// every weight from the generator one value at a time (twice: the module's own initialiser, then
// the model's) is most of building a large model on a CPU — a Llama-3.1-8B block took longer to
// initialise than to train a step. Inside a SyntheticInit scope (on this thread) the modules leave
// their weights unfilled and the model's initialisation fills each from one tile of normally
// distributed values, drawn once and repeated: the same scale as the real initialisation, finite,
// at memory-copy speed. Only measurements (the benchmark, the activation probe, sessions timed by
// `estimate`) ask for it; training and checkpoints never do.
#pragma once

#include <torch/torch.h>

namespace ftplan {

class SyntheticInit {
 public:
  explicit SyntheticInit(bool on);
  ~SyntheticInit();
  SyntheticInit(const SyntheticInit&) = delete;
  SyntheticInit& operator=(const SyntheticInit&) = delete;

 private:
  bool previous_;
};

// The tile's length: fill_synthetic's values repeat every kSyntheticPeriod (a multiple of NF4's
// block of 64, so that a synthetic weight's quantisation repeats too: nf4_quantize_periodic).
constexpr int64_t kSyntheticPeriod = 65536;

// Whether this thread is inside a SyntheticInit(true) scope.
bool synthetic_init();

// p (contiguous) filled with the tile scaled to `std`: N(0, std²)-distributed values, repeated.
void fill_synthetic(torch::Tensor& p, double std);

// The models' initialisation of a weight: p.normal_(0, std), or in a synthetic scope fill_synthetic.
void init_normal(torch::Tensor& p, double std);

// torch::nn::Linear / Embedding as the model declares them; in a synthetic scope their weights are
// allocated but not drawn (the model's initialisation fills them).
torch::nn::Linear linear_module(const torch::nn::LinearOptions& options);
torch::nn::Embedding embedding_module(torch::nn::EmbeddingOptions options);

}  // namespace ftplan
