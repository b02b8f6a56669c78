// synthetic_init.h — models built for a measurement, whose weights' values nothing reads.
//
// A step's time and memory depend on the model's shapes, not on its weights' values, yet drawing
// every weight from the generator one value at a time (twice: the module's own initialiser, then
// the model's) is most of building a large model on a CPU — a Llama-3.1-8B block took longer to
// initialise than to train a step. Inside a SyntheticInit scope (on this thread) the modules leave
// their weights unfilled and each is filled from one tile of normally distributed values, drawn
// once and repeated — the same scale as the real initialisation, finite, at memory-copy speed — in
// the dtype it is finally held in. (The padding row HF zeroes is filled too: no value is read.) Only measurements (the benchmark, the activation probe, sessions timed by
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

// The models' initialisation of a weight: p.normal_(0, std); in a synthetic scope the weight is
// left pending with its scale and filled (fill_synthetic) where it ends up: by synthetic_to when it
// is cast, by fill_pending_prefix when only its first values are read (NF4 of a repeated tile), and
// by fill_pending at the end of the build for the rest.
void init_normal(torch::Tensor& p, double std);

// p.to(dtype); a pending p comes out filled in `dtype` without p itself ever being written.
torch::Tensor synthetic_to(const torch::Tensor& p, at::ScalarType dtype);

// A pending p's first `count` values filled (and p no longer pending); others untouched.
void fill_pending_prefix(torch::Tensor& p, int64_t count);

// Every pending parameter of m filled; then nothing is pending (a build's last step).
void fill_pending(torch::nn::Module& m);

// torch::nn::Linear / Embedding as the model declares them; in a synthetic scope their weights are
// allocated but not drawn (the model's initialisation fills them).
torch::nn::Linear linear_module(const torch::nn::LinearOptions& options);
torch::nn::Embedding embedding_module(torch::nn::EmbeddingOptions options);

}  // namespace ftplan
