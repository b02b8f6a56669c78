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
#include <stdexcept>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <unistd.h>
#include <vector>
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

// The block cache. LibTorch's default CPU allocator hands every tensor to malloc, and glibc serves
// blocks above its mmap threshold (at most 32 MiB) with fresh mmap()s and gives them back with
// munmap(): every training step then page-faults in gigabytes of activations and gradients, and
// the kernel zeroes every page (~230k minor faults per GPT-2 step at 8 x 128, seconds of system
// time). Steps repeat the same shapes, so large blocks are kept on free lists by size class and
// handed out again: no syscalls, no faults, warm pages. Small blocks go straight to malloc.
// Size classes are 8 per power of two (at most 12.5% slack), taken best-fit up to 2x (batches of
// varying length reuse each other's blocks); the cache holds at most a quarter of physical memory
// and 8 GiB (FTPLAN_CPU_CACHE_MAX_BYTES), is emptied by release_cpu_cache() and before an
// allocation is reported as out of memory. On by default (FTPLAN_CPU_CACHE=0 turns it off): where a page
// fault is expensive (virtual machines) a step without it spends much of its time faulting: side by
// side, a QLoRA step of two Llama-3.1-8B blocks took 7.8× as long without it, GPT-2 at batch 16
// 1.6×, a Qwen2.5-0.5B LoRA step 1.4× (`node bench/cpu-cache.mjs`, bench/RESULTS.md).
// Tensor byte counts (scopes, peaks) are the bytes requested, not the class: the cache does not
// change what is measured.
constexpr size_t kCacheMin = size_t{1} << 20;
constexpr int64_t kCacheCapDefault = int64_t{8} << 30;

size_t size_class(size_t n) {
  if (n < kCacheMin) return n;
  size_t p = size_t{1} << (63 - __builtin_clzll(static_cast<unsigned long long>(n)));
  const size_t step = p / 8;
  return (n + step - 1) / step * step;
}

struct BlockCache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free;  // size class -> blocks (base pointers)
  int64_t cached = 0;
  int64_t cap = kCacheCapDefault;
  std::atomic<bool> enabled{true};
  std::atomic<int64_t> hits{0}, misses{0};

  BlockCache() {
    // A quarter of physical memory, at most kCacheCapDefault.
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) cap = std::min<int64_t>(cap, static_cast<int64_t>(pages) * page / 4);
    if (const char* e = std::getenv("FTPLAN_CPU_CACHE")) enabled = std::string(e) != "0";
    if (const char* c = std::getenv("FTPLAN_CPU_CACHE_MAX_BYTES")) cap = std::max<int64_t>(0, std::atoll(c));
  }
  // Best fit: the smallest cached class that holds cls, at most twice its size (a batch a little
  // shorter than the last one reuses its blocks). Returns the block and its class.
  void* take(size_t cls, size_t* got) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = free.lower_bound(cls);
    if (it == free.end() || it->first > 2 * cls) return nullptr;
    void* b = it->second.back();
    it->second.pop_back();
    *got = it->first;
    cached -= static_cast<int64_t>(it->first);
    if (it->second.empty()) free.erase(it);
    return b;
  }
  bool put(void* base, size_t cls) {
    if (!enabled.load(std::memory_order_relaxed)) return false;
    std::lock_guard<std::mutex> lock(mu);
    if (cached + static_cast<int64_t>(cls) > cap) return false;
    free[cls].push_back(base);
    cached += static_cast<int64_t>(cls);
    return true;
  }
  int64_t clear() {
    std::map<size_t, std::vector<void*>> out;
    int64_t bytes;
    {
      std::lock_guard<std::mutex> lock(mu);
      out.swap(free);
      bytes = cached;
      cached = 0;
    }
    for (auto& kv : out)
      for (void* b : kv.second) c10::free_cpu(b);
    return bytes;
  }
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache();  // never destroyed: tensors may be freed at exit
  return *c;
}

// Header of every block: [0,8) requested bytes, [8,16) owning scope, [16,24) allocated size class.
void delete_tracked(void* data) {
  if (data == nullptr) return;
  auto* base = static_cast<char*>(data) - kHeader;
  int64_t bytes = 0;
  size_t cls = 0;
  CpuMemoryScope::Counters* scope = nullptr;
  std::memcpy(&bytes, base, sizeof(bytes));
  std::memcpy(&scope, base + sizeof(bytes), sizeof(scope));
  std::memcpy(&cls, base + 2 * sizeof(bytes), sizeof(cls));
  g_total.fetch_sub(bytes, std::memory_order_relaxed);
  if (scope != nullptr) {
    scope->current.fetch_sub(bytes, std::memory_order_relaxed);
    release(scope);
  }
  if (cls >= kCacheMin && cache().put(base, cls)) return;
  c10::free_cpu(base);
}

char* allocate_block(size_t n, size_t* cls_out) {
  BlockCache& c = cache();
  const size_t cls = c.enabled.load(std::memory_order_relaxed) ? size_class(n) : n;
  *cls_out = cls;
  if (cls >= kCacheMin && c.enabled.load(std::memory_order_relaxed)) {
    if (void* b = c.take(cls, cls_out)) {
      c.hits.fetch_add(1, std::memory_order_relaxed);
      return static_cast<char*>(b);
    }
    c.misses.fetch_add(1, std::memory_order_relaxed);
  }
  try {
    return static_cast<char*>(c10::alloc_cpu(cls + kHeader));
  } catch (const c10::Error&) {
    if (c.clear() == 0) throw;  // nothing cached to give back: a real out-of-memory
    return static_cast<char*>(c10::alloc_cpu(cls + kHeader));
  }
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
    size_t cls = 0;
    char* base = nullptr;
    try {
      base = allocate_block(n, &cls);  // throws c10::Error when out of memory
    } catch (...) {
      g_total.fetch_sub(bytes, std::memory_order_relaxed);
      throw;
    }
    CpuMemoryScope::Counters* scope = t_scope;
    std::memcpy(base, &bytes, sizeof(bytes));
    std::memcpy(base + sizeof(bytes), &scope, sizeof(scope));
    std::memcpy(base + 2 * sizeof(bytes), &cls, sizeof(cls));
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
void set_cpu_memory_limit(int64_t bytes) {
  if (bytes < 0) throw std::invalid_argument("a CPU memory limit is a number of bytes >= 0 (0: no limit)");
  g_limit = bytes;
}
int64_t cpu_memory_limit() { return g_limit.load(); }
int64_t cpu_allocated_bytes() { return g_total.load(); }
CpuMemoryUse cpu_memory_use() {
  CpuMemoryUse u;
  u.limit_bytes = cpu_memory_limit();
  u.allocated_bytes = cpu_allocated_bytes();
  return u;
}

CpuCacheStats cpu_cache_stats() {
  BlockCache& c = cache();
  CpuCacheStats st;
  st.enabled = c.enabled.load();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    st.cached_bytes = c.cached;
    st.cap_bytes = c.cap;
  }
  st.hits = c.hits.load();
  st.misses = c.misses.load();
  return st;
}

void set_cpu_cache_enabled(bool on) {
  cache().enabled = on;
  if (!on) cache().clear();
}

int64_t release_cpu_cache() { return cache().clear(); }

CpuMemoryScope::CpuMemoryScope() : counters_(new Counters()), previous_(t_scope), attached_(true) { t_scope = counters_; }
CpuMemoryScope::CpuMemoryScope(Detached) : counters_(new Counters()), previous_(nullptr), attached_(false) {}
CpuMemoryScope::~CpuMemoryScope() {
  if (attached_) t_scope = previous_;
  release(counters_);
}
CpuMemoryScope::Attach::Attach(CpuMemoryScope& scope) : previous_(t_scope) { t_scope = scope.counters_; }
CpuMemoryScope::Attach::~Attach() { t_scope = previous_; }
CpuMemoryScope::Unscoped::Unscoped() : previous_(t_scope) { t_scope = nullptr; }
CpuMemoryScope::Unscoped::~Unscoped() { t_scope = previous_; }
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
