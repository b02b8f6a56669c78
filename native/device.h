// device.h — which device to run on, and what it can tell us: name, sync, memory statistics.
//
// CUDA code lives in cuda_device.cpp and is compiled only when the libtorch found at build time
// carries CUDA (FTPLAN_WITH_CUDA); whether a GPU is actually usable is asked at run time.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "memory.h"
#include "record.h"

namespace ftplan {

// "cpu", "cuda", "cuda:N". Throws std::invalid_argument (with the fix) when unavailable.
c10::Device parse_device(const std::string& spec);

bool cuda_compiled();        // this addon was built against a CUDA libtorch
bool cuda_available();       // ... and a GPU is visible now
int64_t cuda_device_count();

// Denormal floats (below 1.2e-38) flushed to zero on the calling thread and on every intra-op
// (OpenMP) thread: FTZ + DAZ in MXCSR on x86, as torch.set_flush_denormal(True) does for one
// thread. Training produces denormals as it goes: AdamW's first moment of an embedding row seen
// once decays by β1 = 0.9 a step into the denormal range ~700 steps later (and the softmax of a
// peaked attention row); arithmetic on them is many times slower, and a `tiny` run slowed to 1.5–2×
// its estimate from step ~500 on (bench/RESULTS.md). On by default; FTPLAN_KEEP_DENORMALS=1 at
// load, or set_flush_denormal(false), keeps IEEE denormals. Call on the thread that runs LibTorch
// work, after its thread count is set (new OpenMP threads inherit the creating thread's MXCSR).
bool flush_denormal_enabled();
void set_flush_denormal_enabled(bool on);
void apply_flush_denormal();  // to this thread and its intra-op threads, as enabled
// For tests: the setting, and whether 1e-30f · 1e-10f gives 0 (flushed) on the calling thread (the
// compute thread, when called there) and on every one of its intra-op threads.
#define FTPLAN_DENORMAL_STATE(X)                      \
  X(bool, enabled, enabled, false)                    \
  X(bool, this_thread, computeThread, false)          \
  X(bool, intra_op_threads, intraOpThreads, false)    \
  X(int64_t, threads, threads, 0)

struct DenormalState {
  FTPLAN_DENORMAL_STATE(FTPLAN_FIELD)
};
DenormalState denormal_state();

// Sets the calling thread's intra-op thread count (n > 0; 0 leaves it) and its denormal flushing,
// each only when it changed: at::set_num_threads rebuilds LibTorch's thread pool. OpenMP settings
// belong to the calling thread, so the thread that runs LibTorch work calls this before each task.
void apply_threads(int n);

// What this build of the addon and this machine offer (runtimeInfo() in JS).
#define FTPLAN_RUNTIME_INFO(X)                                                           \
  X(std::string, torch_version, torchVersion, {})                                        \
  X(int, torch_version_major, torchVersionMajor, 0)                                      \
  X(int, torch_version_minor, torchVersionMinor, 0)                                      \
  X(bool, cuda_compiled, cudaCompiled, false)                                            \
  X(bool, cuda_available, cudaAvailable, false)                                          \
  X(int64_t, cuda_device_count, cudaDeviceCount, 0)                                      \
  X(bool, has_sdpa, hasSdpa, false)                                                      \
  X(int, default_threads, defaultThreads, 0)  /* intra-op threads of the calling thread */ \
  X(std::string, parallel_info, parallelInfo, {})                                        \
  X(std::string, build_config, buildConfig, {})                                          \
  X(bool, cpu_tracking_allocator, cpuTrackingAllocator, false)                           \
  X(bool, c10d, c10d, false) /* data-parallel runs available (distributed.h) */          \
  X(bool, nccl, nccl, false)                                                             \
  X(std::vector<std::string>, devices, devices, {}) /* "cpu", then "cuda:N" for each GPU */

struct RuntimeInfo {
  FTPLAN_RUNTIME_INFO(FTPLAN_FIELD)
};
RuntimeInfo runtime_info();

void synchronize(const c10::Device& device);
std::string device_name(const c10::Device& device);
int64_t device_total_memory(const c10::Device& device);  // bytes; CPU: MemTotal

// Bytes held by tensors on one device during a measured region: the caching allocator's statistics
// on CUDA; on CPU a CpuMemoryScope, i.e. what the constructing thread allocates from then on.
class MemoryMeter {
 public:
  explicit MemoryMeter(const c10::Device& device) : device_(device) {}
  int64_t current() const;
  int64_t peak() const;  // since construction or the last reset_peak()
  void reset_peak();

 private:
  c10::Device device_;
  CpuMemoryScope cpu_;
};

void release_cached_memory(const c10::Device& device);

// CUDA-only pieces (cuda_device.cpp); callers check cuda_compiled() first.
namespace cuda {
std::string name(int index);
int64_t total_memory(int index);
void reset_peak(int index);
int64_t peak_allocated(int index);
int64_t current_allocated(int index);
void empty_cache();
torch::Tensor rng_state(int index);
void set_rng_state(int index, const torch::Tensor& state);
}  // namespace cuda

}  // namespace ftplan
