// distributed.h — data-parallel gradients over libtorch's own c10d: a TCPStore for the rendezvous
// (rank 0 hosts it) and ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA tensors) for the
// collectives. Gradients are flattened into buckets (DDP's 25 MB by default) and all-reduced (sum).
//
// Compiled in only when the libtorch headers carry c10d with Gloo and the gloo headers are present
// (Debian: libgloo-dev); FTPLAN_WITH_C10D says which. Without it every entry point throws
// std::invalid_argument saying so, and `ftplan run --nproc N` (N > 1) stops with that message.
//
// Failure: every collective runs under the group's timeout (gloo's context timeout; NCCL's watchdog):
// a lost peer (connection reset) or a peer that stops answering raises an exception in the others
// within the timeout, never a hang.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compat.h"
#include "record.h"

namespace ftplan {

// X(type, name, jsName, default): see record.h.
#define FTPLAN_DIST_OPTIONS(X)                                                        \
  X(int, rank, rank, 0)                                                               \
  X(int, world_size, worldSize, 1)                                                    \
  X(std::string, master_addr, masterAddr, "127.0.0.1")                                \
  X(int, master_port, masterPort, 29500)                                              \
  X(std::chrono::milliseconds, timeout, timeoutMs, std::chrono::milliseconds(300000)) \
  X(int64_t, bucket_bytes, bucketBytes, 25 << 20) /* DDP's default bucket_cap_mb = 25 */ \
  /* "cpu" -> Gloo; "cuda:N" -> NCCL (CUDA builds); a session sets its trainer's device */ \
  X(std::string, device, device, "cpu")

struct DistOptions {
  FTPLAN_DIST_OPTIONS(FTPLAN_FIELD)
};

#define FTPLAN_DIST_INFO(X)                              \
  X(std::string, backend, backend, {}) /* gloo | nccl */ \
  X(int, rank, rank, 0)                                  \
  X(int, world_size, worldSize, 0)

struct DistInfo {
  FTPLAN_DIST_INFO(FTPLAN_FIELD)
};

// Timing of the collective itself: an all-reduce (sum) of each size of float32, `iters` timed
// calls after two warm-up calls, every rank calling with the same sizes.
#define FTPLAN_ALLREDUCE_TIMING(X)              \
  X(std::vector<int64_t>, bytes, bytes, {})     \
  X(int64_t, iters, iters, 10)

struct AllreduceTiming {
  FTPLAN_ALLREDUCE_TIMING(FTPLAN_FIELD)
};

bool c10d_compiled();  // FTPLAN_WITH_C10D
bool nccl_compiled();

class DistGroup {
 public:
  explicit DistGroup(const DistOptions& opts);  // rendezvous; throws on timeout
  ~DistGroup();
  DistGroup(const DistGroup&) = delete;
  DistGroup& operator=(const DistGroup&) = delete;

  int rank() const { return opts_.rank; }
  int world_size() const { return opts_.world_size; }
  const std::string& backend() const { return backend_; }
  DistInfo info() const { return {backend_, opts_.rank, opts_.world_size}; }

  // Sum in place across ranks, one tensor (contiguous, on the group's device).
  void allreduce_sum_(torch::Tensor& t);
  // Sum every gradient in place across ranks, in flat buckets of at most bucket_bytes (a gradient
  // larger than a bucket is its own bucket). Undefined gradients are zero-filled first.
  // Returns the number of buckets.
  int64_t allreduce_grads_(const std::vector<torch::Tensor>& params);
  void barrier();

  // The element-wise sum across ranks of a small CPU tensor (agreement on stopping, metrics),
  // returned on the CPU.
  torch::Tensor allreduce_sum(const torch::Tensor& host_values);
  // Median milliseconds of an all-reduce of each size in t.bytes (barrier before each call, the
  // device synchronized before the clock stops).
  std::vector<double> time_allreduce(const AllreduceTiming& t);

 private:
  struct Impl;
  DistOptions opts_;
  std::string backend_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ftplan
