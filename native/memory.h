// memory.h — peak memory during a measured region, on CPU and CUDA.
//
// CPU: a counting wrapper around LibTorch's default CPU allocator (installed once, when the addon
// loads) gives the bytes held by tensors: current and peak, exact, resettable — the CPU twin of the
// CUDA caching allocator's "allocated bytes" statistics. It does not see BLAS/oneDNN scratch
// buffers or the runtime itself; the process's peak resident set (VmHWM, reset through
// /proc/self/clear_refs) is reported beside it for that.
// CUDA: the caching allocator's allocated_bytes peak (see device.h).
#pragma once

#include <cstdint>

namespace ftplan {

void install_cpu_tracking_allocator();
bool cpu_tracking_installed();
int64_t cpu_tensor_bytes_current();
int64_t cpu_tensor_bytes_peak();
void cpu_tensor_bytes_reset_peak();

struct RssInfo {
  int64_t rss_bytes = -1;   // VmRSS now
  int64_t peak_bytes = -1;  // VmHWM since the last reset (or process start)
  bool peak_resettable = false;
};
RssInfo read_rss();
// Resets VmHWM to the current RSS. Returns false where the kernel does not allow it.
bool reset_rss_peak();

}  // namespace ftplan
