// distributed.cpp — see distributed.h. The version differences (1.13's ProcessGroup base vs 2.x's
// Backend base, Options types) are absorbed by holding the concrete ProcessGroupGloo/NCCL and
// using only the calls both versions share; compat.h documents the rest (FTPLAN_WITH_C10D).
#include "distributed.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

#include "device.h"

#if FTPLAN_WITH_C10D
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if FTPLAN_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace ftplan {

bool c10d_compiled() { return FTPLAN_WITH_C10D != 0; }
bool nccl_compiled() { return FTPLAN_WITH_NCCL != 0; }

#if FTPLAN_WITH_C10D

namespace {
bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

// The Gloo device this rank listens on: GLOO_SOCKET_IFNAME if set (like PyTorch), the loopback
// when the master is on it (one machine), else the address this machine's hostname resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master_addr) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

std::string rank_context(const DistOptions& o) {
  return "rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) + " (master " + o.master_addr + ":" +
         std::to_string(o.master_port) + ", timeout " + std::to_string(o.timeout.count() / 1000) + " s)";
}
}  // namespace

struct DistGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#if FTPLAN_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  c10::Device device{c10::kCPU};

  template <typename Fn>
  auto run(Fn&& fn) {
#if FTPLAN_WITH_NCCL
    if (nccl) return fn(*nccl);
#endif
    return fn(*gloo);
  }
};

DistGroup::DistGroup(const DistOptions& opts) : opts_(opts), impl_(std::make_unique<Impl>()) {
  if (opts.world_size < 1) throw std::invalid_argument("world size must be >= 1");
  if (opts.rank < 0 || opts.rank >= opts.world_size) throw std::invalid_argument("rank must be in [0, world size)");
  if (opts.master_port < 1 || opts.master_port > 65535) throw std::invalid_argument("master port must be in [1, 65535]");
  if (opts.timeout.count() < 1) throw std::invalid_argument("timeout must be positive");
  if (opts.bucket_bytes < 1) throw std::invalid_argument("bucket size must be at least 1 byte");
  impl_->device = c10::Device(opts.device);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(opts.master_port);
    so.isServer = opts.rank == 0;
    so.numWorkers = static_cast<std::size_t>(opts.world_size);
    so.waitWorkers = true;
    so.timeout = opts.timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(opts.master_addr, so);
    if (impl_->device.is_cuda()) {
#if FTPLAN_WITH_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = opts.timeout;
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, opts.rank, opts.world_size, o);
      backend_ = "nccl";
#else
      throw std::invalid_argument("this addon was built without NCCL (c10d ProcessGroupNCCL): data-parallel CUDA training needs a CUDA libtorch with NCCL");
#endif
    } else {
      auto o = c10d::ProcessGroupGloo::Options::create(opts.timeout);
      o->devices.push_back(gloo_device(opts.master_addr));
      o->threads = 2;
      impl_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, opts.rank, opts.world_size, o);
      backend_ = "gloo";
    }
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const c10::Error& e) {
    throw std::runtime_error("process group rendezvous failed for " + rank_context(opts) + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error("process group rendezvous failed for " + rank_context(opts) + ": " + e.what());
  }
}

DistGroup::~DistGroup() = default;

void DistGroup::allreduce_sum_(torch::Tensor& t) {
  if (!t.is_contiguous()) throw std::invalid_argument("allreduce needs a contiguous tensor");
  std::vector<at::Tensor> ts{t};
  c10d::AllreduceOptions ao;
  ao.reduceOp = c10d::ReduceOp::SUM;
  try {
    impl_->run([&](auto& pg) {
      pg.allreduce(ts, ao)->wait();
      return 0;
    });
  } catch (const c10::Error& e) {
    throw std::runtime_error("all-reduce failed on " + rank_context(opts_) + ": a peer process exited or did not answer in time: " +
                             e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error("all-reduce failed on " + rank_context(opts_) + ": a peer process exited or did not answer in time: " + e.what());
  }
}

int64_t DistGroup::allreduce_grads_(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (auto p : params) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  // Buckets in parameter order; every rank builds the same ones (same model, same order).
  int64_t buckets = 0;
  size_t i = 0;
  while (i < grads.size()) {
    size_t j = i;
    int64_t bytes = 0;
    while (j < grads.size() && (j == i || bytes + grads[j].numel() * grads[j].element_size() <= opts_.bucket_bytes)) {
      bytes += grads[j].numel() * grads[j].element_size();
      ++j;
    }
    std::vector<torch::Tensor> flat;
    flat.reserve(j - i);
    for (size_t k = i; k < j; ++k) flat.push_back(grads[k].reshape({-1}));
    auto bucket = torch::cat(flat).contiguous();
    allreduce_sum_(bucket);
    int64_t off = 0;
    for (size_t k = i; k < j; ++k) {
      const int64_t n = grads[k].numel();
      grads[k].copy_(bucket.narrow(0, off, n).view(grads[k].sizes()));
      off += n;
    }
    ++buckets;
    i = j;
  }
  return buckets;
}

void DistGroup::barrier() {
  // A one-element all-reduce: a barrier with the same timeout and error path as the gradients.
  auto t = torch::zeros({1}, torch::TensorOptions().device(impl_->device));
  allreduce_sum_(t);
}

torch::Tensor DistGroup::allreduce_sum(const torch::Tensor& host_values) {
  auto t = host_values.to(impl_->device).contiguous();
  allreduce_sum_(t);
  return t.to(torch::kCPU);
}

std::vector<double> DistGroup::time_allreduce(const AllreduceTiming& timing) {
  if (timing.iters < 1) throw std::invalid_argument("iters must be at least 1");
  constexpr int kWarmup = 2;
  std::vector<double> medians;
  for (const int64_t bytes : timing.bytes) {
    if (bytes < 4) throw std::invalid_argument("bytes must be at least 4 (one float32)");
    auto t = torch::ones({bytes / 4}, torch::TensorOptions().dtype(torch::kFloat32).device(impl_->device));
    std::vector<double> ms;
    for (int64_t i = 0; i < timing.iters + kWarmup; ++i) {
      barrier();
      const auto t0 = std::chrono::steady_clock::now();
      allreduce_sum_(t);
      synchronize(impl_->device);
      const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (i >= kWarmup) ms.push_back(dt);
    }
    std::sort(ms.begin(), ms.end());
    medians.push_back(ms[ms.size() / 2]);
  }
  return medians;
}

#else  // !FTPLAN_WITH_C10D

struct DistGroup::Impl {};

DistGroup::DistGroup(const DistOptions& opts) : opts_(opts) {
  throw std::invalid_argument(
      "this addon was built without c10d (libtorch's ProcessGroupGloo/TCPStore headers and the gloo headers were not found): "
      "data-parallel training is unavailable; on Debian install libgloo-dev and rebuild (npm run build:native)");
}
DistGroup::~DistGroup() = default;
void DistGroup::allreduce_sum_(torch::Tensor&) {}
int64_t DistGroup::allreduce_grads_(const std::vector<torch::Tensor>&) { return 0; }
void DistGroup::barrier() {}
torch::Tensor DistGroup::allreduce_sum(const torch::Tensor& host_values) { return host_values; }
std::vector<double> DistGroup::time_allreduce(const AllreduceTiming&) { return {}; }

#endif

}  // namespace ftplan
