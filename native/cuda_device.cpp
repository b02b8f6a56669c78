// cuda_device.cpp — the CUDA half of device.h. Compiled to stubs unless the libtorch found at
// build time has CUDA (CMake defines FTPLAN_WITH_CUDA), because c10/cuda headers need the CUDA
// toolkit's headers.
#include "device.h"

#include <stdexcept>

#ifdef FTPLAN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <mutex>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace ftplan {
namespace cuda {

#ifdef FTPLAN_WITH_CUDA
std::string name(int index) { return at::cuda::getDeviceProperties(index)->name; }
int64_t total_memory(int index) { return static_cast<int64_t>(at::cuda::getDeviceProperties(index)->totalGlobalMem); }
void reset_peak(int index) { c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(index)); }
int64_t peak_allocated(int index) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  return stats.allocated_bytes[0].peak;  // [0] = StatType::AGGREGATE (small + large pools)
}
int64_t current_allocated(int index) {
  return c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index)).allocated_bytes[0].current;
}
void empty_cache() { c10::cuda::CUDACachingAllocator::emptyCache(); }
torch::Tensor rng_state(int index) {
  auto gen = at::cuda::detail::getDefaultCUDAGenerator(static_cast<c10::DeviceIndex>(index));
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}
void set_rng_state(int index, const torch::Tensor& state) {
  auto gen = at::cuda::detail::getDefaultCUDAGenerator(static_cast<c10::DeviceIndex>(index));
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}
#else
[[noreturn]] static void no_cuda() { throw std::runtime_error("this addon was built without CUDA"); }
std::string name(int) { no_cuda(); }
int64_t total_memory(int) { no_cuda(); }
void reset_peak(int) { no_cuda(); }
int64_t peak_allocated(int) { no_cuda(); }
int64_t current_allocated(int) { no_cuda(); }
void empty_cache() {}
torch::Tensor rng_state(int) { no_cuda(); }
void set_rng_state(int, const torch::Tensor&) { no_cuda(); }
#endif

}  // namespace cuda
}  // namespace ftplan
