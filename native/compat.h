// compat.h — the few places where LibTorch 1.13 (Debian's libtorch-dev, CPU) and LibTorch 2.x
// (the PyTorch wheel, CUDA) differ, behind small shims. Nothing else in native/ tests versions.
//
// What differs, and where it is used:
//   - autocast switches: 1.13 has set_cpu_enabled/set_enabled + per-device dtype setters;
//     2.4+ has set_autocast_enabled(device, bool) / set_autocast_dtype(device, dtype).  (AutocastGuard)
//   - scaled_dot_product_attention is public from 2.0 (flash/efficient kernels on CUDA);
//     1.13 only has a private math variant, so gpt2.cpp uses its manual path there. (FTPLAN_HAS_SDPA)
//   - the Allocator interface: allocate() lost its const and copy_data() became pure virtual in 2.3.
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

namespace ftplan {

// RAII: bf16 autocast on one device type for the current thread (autocast state is thread-local,
// so this must live inside the worker thread's Execute()). Weights stay fp32 (master weights);
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
