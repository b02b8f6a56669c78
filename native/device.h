// device.h — which device to run on, and what it can tell us: name, sync, memory statistics.
//
// CUDA code lives in cuda_device.cpp and is compiled only when the libtorch found at build time
// carries CUDA (FTPLAN_WITH_CUDA); whether a GPU is actually usable is asked at run time.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
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

// Bytes held by one owner's tensors (a Session's) across the jobs it runs on the compute thread, one
// at a time. CPU: a CpuMemoryScope of its own, attached for each job (exact, as MemoryMeter). CUDA:
// the caching allocator counts every tensor on the device, so each job's change and peak are read
// around it and summed; nothing else runs on the device meanwhile (all LibTorch work is on the one
// compute thread). What the owner frees outside its jobs (a tensor the JS garbage collector drops)
// is missed on CUDA.
class JobMeter {
 public:
  explicit JobMeter(const c10::Device& device);
  int64_t current() const;
  int64_t peak() const;  // since construction or the last reset_peak()
  void reset_peak();
  const c10::Device& device() const { return device_; }

  // Counts one job: alive while it runs, on the thread that runs it.
  class Job {
   public:
    explicit Job(JobMeter& meter);
    ~Job();
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;

   private:
    JobMeter& m_;
    int64_t start_ = 0;
    std::optional<CpuMemoryScope::Attach> attach_;
  };

 private:
  c10::Device device_;
  CpuMemoryScope cpu_{CpuMemoryScope::Detached{}};
  int64_t cuda_current_ = 0, cuda_peak_ = 0;
};

// What a Session's tensors hold (js/session.cpp memory()).
#define FTPLAN_SESSION_MEMORY(X)                                                                        \
  X(std::string, device, device, {})                                                                    \
  X(std::string, device_name, deviceName, {})                                                           \
  X(int64_t, device_memory_bytes, deviceMemoryBytes, 0)                                                 \
  X(int, threads, threads, 0)                                                                           \
  X(std::string, source, source, {}) /* cpu-counting-allocator | cuda-caching-allocator */              \
  X(double, setup_ms, setupMs, 0)    /* init(): building the model and its optimizer */                 \
  X(int64_t, current_bytes, currentBytes, 0) /* now; between steps: weights, gradients, optimizer state */ \
  X(int64_t, peak_bytes, peakBytes, 0) /* the most since init() built the model (not the build's own) */ \
  X(int64_t, trainable_state_bytes, trainableStateBytes, 0) /* gradients + AdamW moments of what trains */

struct SessionMemory {
  FTPLAN_SESSION_MEMORY(FTPLAN_FIELD)
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
