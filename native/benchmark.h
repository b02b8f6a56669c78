// benchmark.h — measure real training steps of a model on a device: warm-up steps, then timed
// steps (the device synchronized before every clock read), forward-only eval batches, and peak
// memory. Inputs are synthetic token ids of the requested shape: step time does not depend on
// token values or weight values, only on shapes, dtype, device and threads.
//
// It is not: a planner (no prices, no epochs), nor a data loader.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "config.h"
#include "model.h"
#include "record.h"
#include "trainer.h"

namespace ftplan {

// X(type, name, jsName, default): see record.h. The training options (train) are fields of the
// benchmark options object itself.
#define FTPLAN_BENCH_CONFIG(X)                                                                        \
  X(ModelSpec, model, model, {})                                                                      \
  X(TrainConfig, train, , {})                                                                         \
  X(int64_t, batch_size, batchSize, 16) /* per micro-batch */                                         \
  X(int64_t, seq_len, seqLen, 128)      /* padded length of every row (when seq_lens is empty) */     \
  /* The data's padded batch lengths, a sample: timed step i uses seq_lens[i % size] (a run's         \
     batches change length every step; timing a sample of them measures what the run will see). */   \
  X(std::vector<int64_t>, seq_lens, seqLens, {})                                                      \
  X(int64_t, grad_accum, gradAccum, 1) /* micro-batches per optimizer step */                         \
  X(int64_t, warmup_steps, warmupSteps, 1)                                                            \
  X(int64_t, steps, steps, 5)          /* timed steps (at least) */                                   \
  /* More timed steps, up to max_steps, until the timed steps add up to min_timed_ms: fast models     \
     get enough steps for a stable mean on a noisy machine, slow ones stay at `steps`. */             \
  X(double, min_timed_ms, minTimedMs, 0)                                                              \
  X(int64_t, max_steps, maxSteps, 0)             /* 0: steps */                                       \
  X(int64_t, eval_batch_size, evalBatchSize, 0)  /* 0: no eval timing */                              \
  X(int64_t, eval_steps, evalSteps, 2)                                                                \
  /* Memory probe: after the timed steps, one step at each of these batch sizes at probe_seq_len      \
     (the data set's longest row: out-of-memory comes late in a run, on the longest batch). */        \
  X(std::vector<int64_t>, probe_batch_sizes, probeBatchSizes, {})                                     \
  X(int64_t, probe_seq_len, probeSeqLen, 0)      /* 0: seq_len */                                     \
  /* Step down: stop at the first probe size that fits (list them largest first to find the largest   \
     batch that fits). Out of memory at a size is recorded, the cache freed, and the next size tried. */ \
  X(bool, probe_stop_at_fit, probeStopAtFit, false)

struct BenchConfig {
  FTPLAN_BENCH_CONFIG(FTPLAN_FIELD)
};

// The step the benchmark times: a model that can be built (validate(ModelSpec)), at least one row
// per micro-batch and one micro-batch per step. Checked where the options are read, so a call
// without a step fails at once; run_benchmark also checks the schedule (steps, lengths against the
// model's positions, probe sizes) before it builds anything.
void validate(const BenchConfig& cfg);

// Whether an exception is an out-of-memory failure (CUDA caching allocator, CPU allocator, new).
bool is_out_of_memory(const std::exception_ptr& ep);

#define FTPLAN_PROBE_POINT(X)                                                                          \
  X(int64_t, batch_size, batchSize, 0)                                                                 \
  X(int64_t, seq_len, seqLen, 0)                                                                       \
  X(int64_t, peak_bytes, peakBytes, -1) /* tensors at the step's peak (weights, grads, moments, activations) */ \
  X(int64_t, activation_bytes, activationBytes, -1) /* peak minus what is held between steps */        \
  X(bool, out_of_memory, outOfMemory, false)

struct ProbePoint {
  FTPLAN_PROBE_POINT(FTPLAN_FIELD)
};

// What was measured, and only that: what the caller asked for (batch size, accumulation, lengths)
// it knows already.
#define FTPLAN_BENCH_RESULT(X)                                                                         \
  X(std::vector<double>, step_ms, stepMs, {})             /* timed optimizer steps */                  \
  X(std::vector<int64_t>, step_seq_lens, stepSeqLens, {}) /* the padded length of each timed step */   \
  X(std::vector<double>, losses, losses, {})              /* every step, warm-up included */           \
  X(std::vector<double>, eval_ms, evalMs, {})             /* timed forward-only eval batches */        \
  X(double, setup_ms, setupMs, 0)                         /* model build + init + move to device */    \
  X(int64_t, parameters, parameters, 0)                   /* all trainable parameters */               \
  X(int64_t, transformer_parameters, transformerParameters, 0) /* the trunk: all but the head */      \
  X(int64_t, matmul_parameters, matmulParameters, 0) /* N in 6N: the weights in matmuls per token */   \
  X(double, flops_per_token, flopsPerToken, 0)       /* 6N + attention at seq_len (training_flops_per_token) */ \
  X(int64_t, peak_memory_bytes, peakMemoryBytes, 0)  /* tensors: peak during the run minus what was held before */ \
  X(int64_t, static_memory_bytes, staticMemoryBytes, 0) /* tensors held between steps: weights, grads, AdamW moments */ \
  X(std::string, peak_memory_source, peakMemorySource, {}) /* "cuda-caching-allocator" | "cpu-counting-allocator" */ \
  X(int64_t, rss_peak_bytes, rssPeakBytes, -1)   /* process peak resident set during the timed steps (CPU) */ \
  X(int64_t, rss_before_bytes, rssBeforeBytes, -1) /* process resident set before the model was built */ \
  X(std::string, device, device, {})             /* "cpu" | "cuda:0" */                                \
  X(std::string, device_name, deviceName, {})                                                          \
  X(int64_t, device_memory_bytes, deviceMemoryBytes, -1)                                               \
  X(int, threads, threads, 0)                    /* intra-op threads the steps ran with */             \
  X(std::vector<ProbePoint>, probe, probe, {})                                                         \
  /* What trained (peft.h) and the timed steps' peak split in three: */                               \
  X(std::string, method, method, "full")                                                               \
  X(bool, gradient_checkpointing, gradientCheckpointing, false)                                        \
  X(int64_t, trainable_parameters, trainableParameters, 0)                                             \
  X(int64_t, weight_bytes, weightBytes, 0)       /* every weight as held: fp32, bf16, NF4 codes + scales */ \
  X(int64_t, trainable_state_bytes, trainableStateBytes, 0) /* the trainable parameters' grads + AdamW moments */ \
  X(int64_t, activation_bytes, activationBytes, 0) /* peakMemoryBytes minus the two */

struct BenchResult {
  FTPLAN_BENCH_RESULT(FTPLAN_FIELD)
};

BenchResult run_benchmark(const BenchConfig& cfg);

// Model FLOPs per trained token (forward + backward), PaLM appendix B / nanoGPT estimate_mfu.
// GPT-2: N counts matmul weights only (the embeddings are lookups, there is no LM head), plus
// 12·L·C·T for attention. Decoders: decoder.h (the LM head counted for causal-LM).
int64_t matmul_parameter_count(const GPT2Config& cfg);
double training_flops_per_token(const GPT2Config& cfg, int64_t seq_len);
int64_t matmul_parameter_count(const ModelSpec& spec);
double training_flops_per_token(const ModelSpec& spec, int64_t seq_len);

#define FTPLAN_FLOPS_ESTIMATE(X)                   \
  X(double, flops_per_token, flopsPerToken, 0)     \
  X(int64_t, matmul_parameters, matmulParameters, 0)

struct FlopsEstimate {
  FTPLAN_FLOPS_ESTIMATE(FTPLAN_FIELD)
};
FlopsEstimate flops_estimate(const ModelSpec& spec, int64_t seq_len);

}  // namespace ftplan
