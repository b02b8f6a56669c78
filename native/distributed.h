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

namespace ftplan {

struct DistOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::milliseconds timeout{300000};
  std::string device = "cpu";     // "cpu" -> Gloo; "cuda:N" -> NCCL (CUDA builds)
  int64_t bucket_bytes = 25 << 20;  // DDP's default bucket_cap_mb = 25
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

  // Sum in place across ranks, one tensor (contiguous, on the group's device).
  void allreduce_sum_(torch::Tensor& t);
  // Sum every gradient in place across ranks, in flat buckets of at most bucket_bytes (a gradient
  // larger than a bucket is its own bucket). Undefined gradients are zero-filled first.
  // Returns the number of buckets.
  int64_t allreduce_grads_(const std::vector<torch::Tensor>& params);
  void barrier();

 private:
  struct Impl;
  DistOptions opts_;
  std::string backend_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ftplan
