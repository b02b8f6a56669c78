// benchmark.h — measure real training steps of a model on a device: warm-up steps, then timed
// steps (the device synchronized before every clock read), forward-only eval batches, and peak
// memory. Inputs are synthetic token ids of the requested shape: step time does not depend on
// token values or weight values, only on shapes, dtype, device and threads.
//
// It is not: a planner (no prices, no epochs), nor a data loader.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "trainer.h"

namespace ftplan {

struct BenchConfig {
  GPT2Config model;
  TrainConfig train;
  int64_t batch_size = 16;      // per micro-batch
  int64_t seq_len = 128;        // padded length of every row (when seq_lens is empty)
  // The data's padded batch lengths, a sample: timed step i uses seq_lens[i % size] (a run's batches
  // change length every step; timing a sample of them measures what the run will see).
  std::vector<int64_t> seq_lens;
  int64_t grad_accum = 1;       // micro-batches per optimizer step
  int64_t warmup_steps = 1;
  int64_t steps = 5;            // timed steps (at least)
  // More timed steps, up to max_steps, until the timed steps add up to min_timed_ms: fast models
  // get enough steps for a stable mean on a noisy machine, slow ones stay at `steps`.
  double min_timed_ms = 0;
  int64_t max_steps = 0;        // 0: steps
  int64_t eval_batch_size = 0;  // 0: no eval timing
  int64_t eval_steps = 2;
  // Memory probe: after the timed steps, one step at each of these batch sizes at probe_seq_len
  // (the data set's longest row: out-of-memory comes late in a run, on the longest batch).
  std::vector<int64_t> probe_batch_sizes;
  int64_t probe_seq_len = 0;
  // Step down: stop at the first probe size that fits (list them largest first to find the largest
  // batch that fits). Out of memory at a size is recorded, the cache freed, and the next size tried.
  bool probe_stop_at_fit = false;
};
// Whether an exception is an out-of-memory failure (CUDA caching allocator, CPU allocator, new).
bool is_out_of_memory(const std::exception_ptr& ep);

struct ProbePoint {
  int64_t batch_size = 0;
  int64_t seq_len = 0;
  int64_t peak_bytes = -1;        // tensors at the step's peak (weights, grads, moments, activations)
  int64_t activation_bytes = -1;  // peak minus what is held between steps
  bool out_of_memory = false;
};

struct BenchResult {
  std::vector<double> step_ms;    // timed optimizer steps
  std::vector<int64_t> step_seq_lens;  // the padded length of each timed step
  std::vector<double> losses;     // every step, warm-up included
  std::vector<double> eval_ms;    // timed forward-only eval batches
  double setup_ms = 0;            // model build + init + move to device
  int64_t parameters = 0;         // all trainable parameters
  int64_t transformer_parameters = 0;
  int64_t matmul_parameters = 0;  // N in 6N: the weights that take part in matmuls per token
  double flops_per_token = 0;     // 6N + 12 L C T (training: forward + backward)
  int64_t tokens_per_step = 0;      // at seq_len (the mean of seq_lens when given)
  int64_t samples_per_step = 0;
  int64_t peak_memory_bytes = 0;     // tensors: peak during the run minus what was held before
  int64_t static_memory_bytes = 0;   // tensors held between steps: weights, grads, AdamW moments
  std::string peak_memory_source;    // "cuda-caching-allocator" | "cpu-counting-allocator"
  int64_t rss_peak_bytes = -1;       // process peak resident set during the timed steps (CPU)
  int64_t rss_before_bytes = -1;     // process resident set before the model was built
  std::vector<ProbePoint> probe;
  std::string device;                // "cpu" | "cuda:0"
  std::string device_name;
  int64_t device_memory_bytes = -1;
};

BenchResult run_benchmark(const BenchConfig& cfg);

// Model FLOPs per trained token (forward + backward), PaLM appendix B / nanoGPT estimate_mfu.
// N counts matmul weights only: the embeddings are lookups and there is no LM head.
int64_t matmul_parameter_count(const GPT2Config& cfg);
double training_flops_per_token(const GPT2Config& cfg, int64_t seq_len);

}  // namespace ftplan
