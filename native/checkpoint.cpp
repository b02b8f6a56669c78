// checkpoint.cpp — see checkpoint.h.
#include "checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

#include "compat.h"
#include "device.h"
#include "nf4.h"

namespace ftplan {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What backward needs besides the input: the block and the state forward ran in.
struct Recompute : torch::CustomClassHolder {
  BlockFn fn;
  torch::Tensor cpu_rng, cuda_rng;
  int cuda_index = 0;
  bool autocast = false;
  c10::DeviceType device_type = c10::DeviceType::CPU;
};

torch::Tensor cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}
void set_cpu_rng_state(const torch::Tensor& s) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(s);
}

struct CheckpointFn : public torch::autograd::Function<CheckpointFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& /*keep_in_graph*/,
                               c10::intrusive_ptr<Recompute> r) {
    r->cpu_rng = cpu_rng_state();
    if (x.is_cuda()) {
      r->cuda_index = x.device().has_index() ? x.device().index() : 0;
      r->cuda_rng = cuda::rng_state(r->cuda_index);
    }
    r->device_type = x.device().type();
    r->autocast = autocast_on(r->device_type);
    ctx->save_for_backward({x});
    ctx->saved_data["block"] = c10::IValue::make_capsule(r);
    torch::NoGradGuard no_grad;
    return r->fn(x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto holder = ctx->saved_data["block"].toCapsule();  // keeps the block alive while r is used
    auto* r = static_cast<Recompute*>(holder.get());
    const auto saved = ctx->get_saved_variables();
    // The generators as forward found them, for the recomputation only.
    const auto cpu_now = cpu_rng_state();
    torch::Tensor cuda_now;
    if (r->cuda_rng.defined()) cuda_now = cuda::rng_state(r->cuda_index);
    set_cpu_rng_state(r->cpu_rng);
    if (r->cuda_rng.defined()) cuda::set_rng_state(r->cuda_index, r->cuda_rng);
    struct Restore {
      const torch::Tensor& cpu;
      const torch::Tensor& cuda;
      int index;
      ~Restore() {
        set_cpu_rng_state(cpu);
        if (cuda.defined()) cuda::set_rng_state(index, cuda);
      }
    } restore{cpu_now, cuda_now, r->cuda_index};

    auto x = saved[0].detach().requires_grad_(true);
    torch::Tensor out;
    {
      torch::AutoGradMode grad_on(true);
      AutocastGuard autocast(r->autocast, r->device_type);
      out = r->fn(x);
    }
    torch::autograd::backward({out}, {grads[0]});
    variable_list result(3);
    result[0] = x.grad();
    return result;
  }
};

}  // namespace

torch::Tensor checkpoint(const BlockFn& fn, const torch::Tensor& x, const torch::nn::Module& block) {
  if (!torch::GradMode::is_enabled()) return fn(x);
  if (!x.requires_grad()) {
    bool trains = false;
    for (const auto& p : block.parameters()) trains = trains || p.requires_grad();
    if (!trains) return fn(x);
  }
  auto r = c10::make_intrusive<Recompute>();
  r->fn = fn;
  // Keeps the Function in the graph when x needs no gradient (frozen embeddings).
  // (Never freed, as a static tensor's destructor could run after the allocator's.)
  static thread_local const torch::Tensor* keep = nullptr;
  if (keep == nullptr) keep = new torch::Tensor(torch::zeros({}, torch::requires_grad()));
  return CheckpointFn::apply(x, *keep, r);
}

}  // namespace ftplan
