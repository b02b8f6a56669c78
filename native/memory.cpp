// memory.cpp — see memory.h.
#include "memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>

#include "compat.h"

namespace ftplan {

struct CpuMemoryScope::Counters {
  std::atomic<int64_t> current{0};
  std::atomic<int64_t> peak{0};
  std::atomic<int64_t> refs{1};  // the scope itself + one per live allocation
};

namespace {

thread_local CpuMemoryScope::Counters* t_scope = nullptr;

void release(CpuMemoryScope::Counters* c) {
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete c;
}

void raise_peak(std::atomic<int64_t>& peak, int64_t now) {
  int64_t p = peak.load(std::memory_order_relaxed);
  while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
  }
}

std::atomic<bool> g_installed{false};
// Bytes held by every tensor this allocator gave out, and the limit (0: none) past which it fails the
// way LibTorch's own CPU allocator does when malloc fails: FTPLAN_CPU_MEMORY_LIMIT, or
// setCpuMemoryLimit() — how the out-of-memory paths are tested on a machine with memory to spare.
std::atomic<int64_t> g_total{0};
std::atomic<int64_t> g_limit{0};


// Each block carries its size and its scope in a 64-byte header in front of the data (64 keeps
// LibTorch's alignment). The data pointer is also the deleter's context, as raw_allocate() (used by oneDNN,
// e.g. for bf16 kernels) requires.
constexpr size_t kHeader = 64;

void delete_tracked(void* data) {
  if (data == nullptr) return;
  auto* base = static_cast<char*>(data) - kHeader;
  int64_t bytes = 0;
  CpuMemoryScope::Counters* scope = nullptr;
  std::memcpy(&bytes, base, sizeof(bytes));
  std::memcpy(&scope, base + sizeof(bytes), sizeof(scope));
  g_total.fetch_sub(bytes, std::memory_order_relaxed);
  if (scope != nullptr) {
    scope->current.fetch_sub(bytes, std::memory_order_relaxed);
    release(scope);
  }
  c10::free_cpu(base);
}

class CountingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) FTPLAN_ALLOCATOR_CONST override {
    const int64_t bytes = static_cast<int64_t>(n);
    const int64_t limit = g_limit.load(std::memory_order_relaxed);
    const int64_t held = g_total.fetch_add(bytes, std::memory_order_relaxed);
    if (limit > 0 && held + bytes > limit) {
      g_total.fetch_sub(bytes, std::memory_order_relaxed);
      // The message of c10::alloc_cpu's own failure, so every caller treats both alike.
      TORCH_CHECK(false, "DefaultCPUAllocator: can't allocate memory: you tried to allocate ", bytes, " bytes (", held,
                  " held; the CPU memory limit is ", limit, " bytes: FTPLAN_CPU_MEMORY_LIMIT)");
    }
    char* base = nullptr;
    try {
      base = static_cast<char*>(c10::alloc_cpu(n + kHeader));  // throws c10::Error when out of memory
    } catch (...) {
      g_total.fetch_sub(bytes, std::memory_order_relaxed);
      throw;
    }
    CpuMemoryScope::Counters* scope = t_scope;
    std::memcpy(base, &bytes, sizeof(bytes));
    std::memcpy(base + sizeof(bytes), &scope, sizeof(scope));
    void* data = base + kHeader;
    if (scope != nullptr) {
      scope->refs.fetch_add(1, std::memory_order_relaxed);
      raise_peak(scope->peak, scope->current.fetch_add(bytes, std::memory_order_relaxed) + bytes);
    }
    return c10::DataPtr(data, data, &delete_tracked, c10::Device(c10::DeviceType::CPU));
  }

  c10::DeleterFnPtr raw_deleter() const override { return &delete_tracked; }

#if FTPLAN_ALLOCATOR_HAS_COPY_DATA
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    if (count > 0) std::memcpy(dest, src, count);
  }
#endif
};

int64_t status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  }
  return -1;
}

}  // namespace

void install_cpu_tracking_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    static CountingAllocator alloc;
    // Priority above the default (0) so later registrations at default priority do not replace it.
    c10::SetCPUAllocator(&alloc, /*priority=*/10);
    if (const char* env = std::getenv("FTPLAN_CPU_MEMORY_LIMIT")) {
      char* end = nullptr;
      const long long v = std::strtoll(env, &end, 10);
      if (end != env && *end == '\0' && v > 0) g_limit = v;
    }
    g_installed = true;
  });
}

bool cpu_tracking_installed() { return g_installed.load(); }
void set_cpu_memory_limit(int64_t bytes) { g_limit = bytes > 0 ? bytes : 0; }
int64_t cpu_memory_limit() { return g_limit.load(); }
int64_t cpu_allocated_bytes() { return g_total.load(); }

CpuMemoryScope::CpuMemoryScope() : counters_(new Counters()), previous_(t_scope) { t_scope = counters_; }
CpuMemoryScope::~CpuMemoryScope() {
  t_scope = previous_;
  release(counters_);
}
int64_t CpuMemoryScope::current() const { return counters_->current.load(); }
int64_t CpuMemoryScope::peak() const { return counters_->peak.load(); }
void CpuMemoryScope::reset_peak() { counters_->peak.store(counters_->current.load()); }

RssInfo read_rss() {
  RssInfo info;
  const int64_t rss = status_kib("VmRSS"), hwm = status_kib("VmHWM");
  if (rss >= 0) info.rss_bytes = rss * 1024;
  if (hwm >= 0) info.peak_bytes = hwm * 1024;
  return info;
}

bool reset_rss_peak() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";  // Linux >= 4.0: reset the peak RSS (VmHWM) to the current RSS
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace ftplan
