// compat.h — the few places where LibTorch 1.13 (Debian's libtorch-dev, CPU) and LibTorch 2.x
// (the PyTorch wheel, CUDA) differ, behind small shims. Nothing else in native/ tests versions.
//
// What differs, and where it is used:
//   - autocast switches: 1.13 has set_cpu_enabled/set_enabled + per-device dtype setters;
//     2.4+ has set_autocast_enabled(device, bool) / set_autocast_dtype(device, dtype).  (AutocastGuard)
//   - scaled_dot_product_attention is public from 2.0 (flash/efficient kernels on CUDA);
//     1.13 only has a private math variant, so gpt2.cpp uses its manual path there. (FTPLAN_HAS_SDPA)
//   - the Allocator interface: allocate() lost its const and copy_data() became pure virtual in 2.3.
//   - c10d (distributed.cpp): in 1.13 ProcessGroupGloo/ProcessGroupNCCL derive from ProcessGroup and
//     their Options from ProcessGroup::Options; from 2.0 they derive from Backend (Backend::Options,
//     kBackendDefaultTimeout), createDevice*() gained a defaulted `lazyInit` argument (2.6+), and
//     TCPStoreOptions gained fields with defaults (masterListenFd, useLibUV). distributed.cpp holds
//     the concrete classes and uses only what both share: the (store, rank, size, options)
//     constructor, Options::create(), options->timeout/devices/threads, allreduce(tensors, opts)->wait(),
//     TCPStoreOptions{port, isServer, numWorkers, waitWorkers, timeout} — so no version branch is
//     needed there. Read from the 2.x headers; compiled here against 1.13 only.
//     Both versions compile the headers' bodies only under USE_C10D_GLOO / USE_C10D_NCCL, which a
//     libtorch consumer must define itself: FTPLAN_WITH_C10D (below) does, when the headers exist.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#define FTPLAN_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

#if FTPLAN_TORCH_AT_LEAST(2, 0)
#define FTPLAN_HAS_SDPA 1
#else
#define FTPLAN_HAS_SDPA 0
#endif

#if FTPLAN_TORCH_AT_LEAST(2, 3)
#define FTPLAN_ALLOCATOR_CONST
#define FTPLAN_ALLOCATOR_HAS_COPY_DATA 1
#else
#define FTPLAN_ALLOCATOR_CONST const
#define FTPLAN_ALLOCATOR_HAS_COPY_DATA 0
#endif

// Data-parallel (distributed.cpp): libtorch's c10d Gloo headers and the gloo headers they include
// (Debian ships the latter in libgloo-dev, not libtorch-dev). NCCL only in a CUDA build.
#ifndef FTPLAN_WITH_C10D
#if defined(__has_include)
#if __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>) && __has_include(<torch/csrc/distributed/c10d/TCPStore.hpp>) && \
    __has_include(<gloo/algorithm.h>) && __has_include(<gloo/transport/device.h>)
#define FTPLAN_WITH_C10D 1
#else
#define FTPLAN_WITH_C10D 0
#endif
#else
#define FTPLAN_WITH_C10D 0
#endif
#endif

#if FTPLAN_WITH_C10D && !defined(USE_C10D_GLOO)
#define USE_C10D_GLOO
#endif

#ifndef FTPLAN_WITH_NCCL
#if FTPLAN_WITH_C10D && defined(FTPLAN_WITH_CUDA) && defined(__has_include)
#if __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>) && __has_include(<nccl.h>)
#define FTPLAN_WITH_NCCL 1
#endif
#endif
#endif
#ifndef FTPLAN_WITH_NCCL
#define FTPLAN_WITH_NCCL 0
#endif
#if FTPLAN_WITH_NCCL && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL
#endif

namespace ftplan {

// RAII: bf16 autocast on one device type for the current thread (autocast state is thread-local,
// so it is set where the step runs, on the compute thread). Weights stay fp32 (master weights);
// matmuls and linears run in bf16, reductions/softmax/layernorm in fp32 per autocast's op lists.
class AutocastGuard {
 public:
  AutocastGuard(bool enabled, c10::DeviceType device) : enabled_(enabled), device_(device) {
    if (!enabled_) return;
#if FTPLAN_TORCH_AT_LEAST(2, 4)
    prev_enabled_ = at::autocast::is_autocast_enabled(device_);
    prev_dtype_ = at::autocast::get_autocast_dtype(device_);
    at::autocast::set_autocast_enabled(device_, true);
    at::autocast::set_autocast_dtype(device_, at::kBFloat16);
#else
    if (device_ == c10::DeviceType::CUDA) {
      prev_enabled_ = at::autocast::is_enabled();
      prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    } else {
      prev_enabled_ = at::autocast::is_cpu_enabled();
      prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
#endif
    at::autocast::increment_nesting();
  }

  ~AutocastGuard() {
    if (!enabled_) return;
    // Casted-weight cache lives for the outermost autocast region only.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if FTPLAN_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(device_, prev_enabled_);
    at::autocast::set_autocast_dtype(device_, prev_dtype_);
#else
    if (device_ == c10::DeviceType::CUDA) {
      at::autocast::set_enabled(prev_enabled_);
      at::autocast::set_autocast_gpu_dtype(prev_dtype_);
    } else {
      at::autocast::set_cpu_enabled(prev_enabled_);
      at::autocast::set_autocast_cpu_dtype(prev_dtype_);
    }
#endif
  }

  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_;
  c10::DeviceType device_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace ftplan
