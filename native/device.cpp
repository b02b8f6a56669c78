// device.cpp — see device.h.
#include "device.h"

#include <algorithm>

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <atomic>
#include <fstream>
#include <stdexcept>

#include "compat.h"
#include "distributed.h"
#include "memory.h"
#include "switch.h"

namespace ftplan {

FTPLAN_SWITCH_ACCESSORS(flush_denormal_enabled, set_flush_denormal_enabled, "FTPLAN_KEEP_DENORMALS")

void apply_flush_denormal() {
  const bool on = flush_denormal_enabled();
  at::globalContext().setFlushDenormal(on);
  const int64_t n = at::get_num_threads();
  // one index per intra-op thread: each sets its own MXCSR
  if (n > 1) at::parallel_for(0, n, 1, [on](int64_t, int64_t) { at::globalContext().setFlushDenormal(on); });
}

namespace {
bool product_flushed() {
  volatile float a = 1e-30f;
  volatile float b = 1e-10f;
  const float c = a * b;  // 1e-40: a denormal unless flushed
  return c == 0.0f;
}
}  // namespace

DenormalState denormal_state() {
  DenormalState d;
  d.enabled = flush_denormal_enabled();
  d.this_thread = product_flushed();
  d.threads = at::get_num_threads();
  std::atomic<int> flushed{0};
  std::atomic<int> seen{0};
  at::parallel_for(0, d.threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      seen++;
      if (product_flushed()) flushed++;
    }
  });
  d.intra_op_threads = seen.load() == d.threads && flushed.load() == d.threads;
  return d;
}

void apply_threads(int n) {
  thread_local int current = 0;
  thread_local int flushed = -1;  // the flush setting last applied (-1: never)
  bool changed = false;
  if (n > 0 && n != current) {
    at::set_num_threads(n);
    current = n;
    changed = true;
  }
  // New intra-op threads start with the IEEE default: apply the setting again whenever the pool
  // was rebuilt or the setting changed.
  const int want = flush_denormal_enabled() ? 1 : 0;
  if (changed || want != flushed) {
    apply_flush_denormal();
    flushed = want;
  }
}

RuntimeInfo runtime_info() {
  RuntimeInfo r;
  r.torch_version = TORCH_VERSION;
  r.torch_version_major = TORCH_VERSION_MAJOR;
  r.torch_version_minor = TORCH_VERSION_MINOR;
  r.cuda_compiled = cuda_compiled();
  r.cuda_available = cuda_available();
  r.cuda_device_count = cuda_device_count();
  r.has_sdpa = FTPLAN_HAS_SDPA != 0;
  r.default_threads = at::get_num_threads();
  r.parallel_info = at::get_parallel_info();
  r.build_config = at::show_config();
  r.cpu_tracking_allocator = cpu_tracking_installed();
  r.c10d = c10d_compiled();
  r.nccl = nccl_compiled();
  r.devices.push_back("cpu");
  for (int64_t d = 0; d < r.cuda_device_count; ++d) r.devices.push_back("cuda:" + std::to_string(d));
  return r;
}

bool cuda_compiled() {
#ifdef FTPLAN_WITH_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_available() { return cuda_compiled() && torch::cuda::is_available(); }
int64_t cuda_device_count() { return cuda_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0; }

c10::Device parse_device(const std::string& spec) {
  if (spec == "cpu") return c10::Device(c10::DeviceType::CPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(spec.substr(5), &used);
        if (used != spec.size() - 5 || index < 0) throw std::invalid_argument("bad index");
      } catch (const std::exception&) {
        throw std::invalid_argument("device '" + spec + "' is not of the form cuda:N");
      }
    }
    if (!cuda_compiled())
      throw std::invalid_argument("device '" + spec + "' asked for, but this addon was built against a CPU-only libtorch; "
                                  "rebuild with a CUDA libtorch (LIBTORCH or LIBTORCH_USE_PYTORCH=1) or use --device cpu");
    if (!torch::cuda::is_available())
      throw std::invalid_argument("device '" + spec + "' asked for, but no CUDA GPU is visible; use --device cpu");
    if (index >= static_cast<int>(torch::cuda::device_count()))
      throw std::invalid_argument("device '" + spec + "': only " + std::to_string(torch::cuda::device_count()) +
                                  " CUDA device(s) visible");
    return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw std::invalid_argument("device '" + spec + "' is not one of cpu, cuda, cuda:N");
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

namespace {
std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(pos + 2);
    }
  }
  return "cpu";
}
int64_t mem_total_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * 1024;
  }
  return -1;
}
}  // namespace

std::string device_name(const c10::Device& device) {
  if (device.is_cuda()) return cuda::name(device.index());
  return cpu_model_name();
}

int64_t device_total_memory(const c10::Device& device) {
  if (device.is_cuda()) return cuda::total_memory(device.index());
  return mem_total_bytes();
}

int64_t MemoryMeter::current() const {
  return device_.is_cuda() ? cuda::current_allocated(device_.index()) : cpu_.current();
}

int64_t MemoryMeter::peak() const { return device_.is_cuda() ? cuda::peak_allocated(device_.index()) : cpu_.peak(); }

void MemoryMeter::reset_peak() {
  if (device_.is_cuda()) cuda::reset_peak(device_.index());
  else cpu_.reset_peak();
}

JobMeter::JobMeter(const c10::Device& device) : device_(device) {}

int64_t JobMeter::current() const { return device_.is_cuda() ? cuda_current_ : cpu_.current(); }
int64_t JobMeter::peak() const { return device_.is_cuda() ? cuda_peak_ : cpu_.peak(); }
void JobMeter::reset_peak() {
  if (device_.is_cuda()) cuda_peak_ = cuda_current_;
  else cpu_.reset_peak();
}

JobMeter::Job::Job(JobMeter& meter) : m_(meter) {
  if (m_.device_.is_cuda()) {
    start_ = cuda::current_allocated(m_.device_.index());
    cuda::reset_peak(m_.device_.index());
  } else {
    attach_.emplace(m_.cpu_);
  }
}

JobMeter::Job::~Job() {
  if (!m_.device_.is_cuda()) return;
  const int index = m_.device_.index();
  const int64_t peak = cuda::peak_allocated(index), now = cuda::current_allocated(index);
  m_.cuda_peak_ = std::max(m_.cuda_peak_, m_.cuda_current_ + peak - start_);
  m_.cuda_current_ += now - start_;
}

void release_cached_memory(const c10::Device& device) {
  if (device.is_cuda()) cuda::empty_cache();
  else release_cpu_cache();
}

}  // namespace ftplan
