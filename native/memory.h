// memory.h — peak memory during a measured region, on CPU and CUDA.
//
// CPU: a counting wrapper around LibTorch's default CPU allocator (installed once, when the addon
// loads) gives the bytes held by tensors: current and peak, exact, resettable — the CPU twin of the
// CUDA caching allocator's "allocated bytes" statistics. A CpuMemoryScope attributes to itself what
// its thread allocates (wherever it is freed later), so a measurement is not disturbed by other
// work in the process (another session's tensors freed by the JS garbage collector, say); outside a
// scope nothing is counted. It does not see BLAS/oneDNN scratch
// buffers or the runtime itself; the process's peak resident set (VmHWM, reset through
// /proc/self/clear_refs) is reported beside it for that.
// CUDA: the caching allocator's allocated_bytes peak (see device.h).
#pragma once

#include <cstdint>

#include "record.h"

namespace ftplan {

void install_cpu_tracking_allocator();
bool cpu_tracking_installed();
// Fail CPU tensor allocations past this many bytes held (0: no limit), with LibTorch's own
// out-of-memory error. Set from FTPLAN_CPU_MEMORY_LIMIT when the addon loads.
void set_cpu_memory_limit(int64_t bytes);
int64_t cpu_memory_limit();
int64_t cpu_allocated_bytes();  // bytes held by all CPU tensors now

// X(type, name, jsName, default): see record.h.
#define FTPLAN_CPU_MEMORY_USE(X)                                  \
  X(int64_t, limit_bytes, limitBytes, 0) /* 0: no limit */        \
  X(int64_t, allocated_bytes, allocatedBytes, 0)

struct CpuMemoryUse {
  FTPLAN_CPU_MEMORY_USE(FTPLAN_FIELD)
};
CpuMemoryUse cpu_memory_use();

// The CPU allocator keeps freed blocks of 1 MiB and more for reuse (see memory.cpp): training steps
// repeat their shapes, and reusing warm blocks avoids mmap/munmap and page faults every step.
#define FTPLAN_CPU_CACHE_STATS(X)                                                   \
  X(bool, enabled, cache, false)                                                    \
  X(int64_t, cached_bytes, cachedBytes, 0) /* held for reuse, not in any tensor */  \
  X(int64_t, cap_bytes, capBytes, 0)                                                \
  X(int64_t, hits, hits, 0)     /* large allocations served from the cache */       \
  X(int64_t, misses, misses, 0) /* large allocations that went to malloc */

struct CpuCacheStats {
  FTPLAN_CPU_CACHE_STATS(FTPLAN_FIELD)
};
CpuCacheStats cpu_cache_stats();
void set_cpu_cache_enabled(bool on);  // off: empties the cache
int64_t release_cpu_cache();          // frees every cached block; returns the bytes given back

// While alive, allocations made on the constructing thread are counted in this scope (and still in
// the process totals). Frees are credited to the scope that allocated, from any thread.
class CpuMemoryScope {
 public:
  CpuMemoryScope();
  // A scope no thread counts into until an Attach names it: one that spans several jobs of a
  // long-lived owner (a Session), each attached for its run on the compute thread.
  struct Detached {};
  explicit CpuMemoryScope(Detached);
  ~CpuMemoryScope();
  CpuMemoryScope(const CpuMemoryScope&) = delete;
  CpuMemoryScope& operator=(const CpuMemoryScope&) = delete;
  int64_t current() const;
  int64_t peak() const;
  void reset_peak();

  struct Counters;  // shared with live allocations; freed when the last one goes

  // While alive, the calling thread's allocations count in `scope` (then in the scope before).
  class Attach {
   public:
    explicit Attach(CpuMemoryScope& scope);
    ~Attach();
    Attach(const Attach&) = delete;
    Attach& operator=(const Attach&) = delete;

   private:
    Counters* previous_;
  };

  // While alive, the calling thread's allocations count in no scope (process-lifetime caches).
  class Unscoped {
   public:
    Unscoped();
    ~Unscoped();
    Unscoped(const Unscoped&) = delete;
    Unscoped& operator=(const Unscoped&) = delete;

   private:
    Counters* previous_;
  };

 private:
  Counters* counters_;
  Counters* previous_;
  bool attached_;
};

struct RssInfo {
  int64_t rss_bytes = -1;   // VmRSS now
  int64_t peak_bytes = -1;  // VmHWM since the last reset (or process start)
  bool peak_resettable = false;
};
RssInfo read_rss();
// Resets VmHWM to the current RSS. Returns false where the kernel does not allow it.
bool reset_rss_peak();

}  // namespace ftplan
