// trainer.cpp — see trainer.h.
#include "trainer.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <type_traits>

#include <mutex>
#include <stdexcept>

#include <ATen/CPUGeneratorImpl.h>

#include "compat.h"
#include "device.h"
#include "synthetic_init.h"

namespace ftplan {

Trainer::Trainer(const ModelSpec& model_spec, const TrainConfig& cfg) : cfg_(cfg), device_(parse_device(cfg.device)) {
  validate(model_spec);
  if (!(cfg.lr > 0)) throw std::invalid_argument("lr must be positive");
  if (!(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1)) throw std::invalid_argument("betas must be in [0, 1)");
  if (!(cfg.eps > 0)) throw std::invalid_argument("eps must be positive");
  if (!(cfg.weight_decay >= 0)) throw std::invalid_argument("weight_decay must be >= 0");
  torch::manual_seed(cfg.seed);  // CPU and, where present, every CUDA device
  {
    SyntheticInit scope(cfg.synthetic_weights);
    model_ = build_model(model_spec);
    lora_modules_ = apply_peft(*model_, cfg.peft);
    if (cfg.synthetic_weights) fill_pending(model_->module());
  }
  model_->module().to(device_);
  model_->module().train();
  trainable_ = trainable_parameters(*model_);
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      parameters(),
      torch::optim::AdamWOptions(cfg.lr).betas(std::make_tuple(cfg.beta1, cfg.beta2)).eps(cfg.eps).weight_decay(cfg.weight_decay));
}

Batch Trainer::on_device(const Batch& b) const {
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device_, /*non_blocking=*/true) : t; };
  return {move(b.input_ids), move(b.lengths), move(b.labels), move(b.lm_labels)};
}

torch::Tensor Trainer::forward_loss(const Batch& b) { return model_->loss(on_device(b), cfg_.bf16()); }

torch::Tensor Trainer::forward_backward(const Batch& b, double scale) {
  auto loss = forward_loss(b);
  (loss * scale).backward();
  return loss.detach();
}

StepResult Trainer::step(const std::vector<Batch>& micro_batches, const std::vector<uint64_t>& seeds) {
  const auto start = std::chrono::steady_clock::now();
  if (micro_batches.empty()) throw std::invalid_argument("a step needs at least one micro-batch");
  if (!seeds.empty() && seeds.size() != micro_batches.size()) throw std::invalid_argument("seeds must have one entry per micro-batch");
  for (const auto& b : micro_batches) model_->check_batch(b, /*with_targets=*/true);
  model_->module().train();
  for (auto p : parameters()) p.mutable_grad() = torch::Tensor();  // zero_grad(set_to_none)

  StepResult r;
  const int world = dist_ ? dist_->world_size() : 1;
  const double scale = 1.0 / (static_cast<double>(micro_batches.size()) * world);
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().device(device_));
  for (size_t i = 0; i < micro_batches.size(); ++i) {
    const auto& b = micro_batches[i];
    if (!seeds.empty()) torch::manual_seed(seeds[i]);  // CPU and every CUDA device
    loss_sum += forward_backward(b, scale);
    r.samples += b.input_ids.size(0);
    r.tokens += b.input_ids.numel();
    r.targets += model_->count_targets(b);
  }
  if (dist_) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> params = parameters();
    r.buckets = dist_->allreduce_grads_(params);
    auto count = [&](int64_t n) { return torch::tensor(static_cast<double>(n), torch::kFloat64).to(device_); };
    auto stats = torch::stack({loss_sum.to(torch::kFloat64), count(r.samples), count(r.tokens), count(r.targets)}).contiguous();
    dist_->allreduce_sum_(stats);
    auto host = stats.to(torch::kCPU);
    loss_sum = host[0].to(device_, torch::kFloat32);
    r.samples = static_cast<int64_t>(host[1].item<double>());
    r.tokens = static_cast<int64_t>(host[2].item<double>());
    r.targets = static_cast<int64_t>(host[3].item<double>());
    r.allreduce_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  if (device_.is_cpu()) {
    // CPU: the clip coefficient goes into a fused AdamW pass (below) instead of rescaling every
    // gradient in place first.
    r.grad_norm = total_grad_norm();
    float gscale = 1.0f;
    if (cfg_.max_grad_norm > 0) {
      const double coef = cfg_.max_grad_norm / (r.grad_norm + 1e-6);  // torch's clip_grad_norm_
      if (coef < 1.0) gscale = static_cast<float>(coef);
    }
    fused_adamw_step(gscale);
  } else {
    r.grad_norm = cfg_.max_grad_norm > 0 ? torch::nn::utils::clip_grad_norm_(parameters(), cfg_.max_grad_norm) : total_grad_norm();
    optimizer_->step();
  }
  r.loss = loss_sum.item<double>() * scale;  // .item() synchronizes the device (scale: over the group's micro-batches)
  r.native_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return r;
}

torch::Tensor Trainer::logits(const Batch& batch) {
  model_->check_batch(batch, /*with_targets=*/false);
  torch::NoGradGuard no_grad;
  model_->module().eval();
  auto out = model_->logits(on_device(batch), cfg_.bf16());
  model_->module().train();
  return out.to(torch::kFloat32).to(torch::kCPU).contiguous();
}

LmEval Trainer::lm_eval(const Batch& batch) {
  model_->check_batch(batch, /*with_targets=*/true);
  torch::NoGradGuard no_grad;
  model_->module().eval();
  auto r = model_->lm_eval(on_device(batch), cfg_.bf16());
  model_->module().train();
  return r;
}

LossGradients Trainer::loss_and_gradients(const Batch& batch, bool training, uint64_t seed) {
  model_->check_batch(batch, /*with_targets=*/true);
  model_->module().train(training);
  if (training) torch::manual_seed(seed);
  for (auto p : parameters()) p.mutable_grad() = torch::Tensor();
  LossGradients r;
  try {
    auto loss = forward_loss(batch);
    loss.backward();
    r.loss = loss.item<double>();
    for (const auto& item : model_->module().named_parameters()) {
      if (!item.value().requires_grad()) continue;
      const auto& g = item.value().grad();
      auto cpu = g.defined() ? g.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone() : torch::zeros(item.value().sizes());
      r.gradients.emplace_back(item.key(), cpu);
    }
  } catch (...) {
    model_->module().train();
    throw;
  }
  for (auto p : parameters()) p.mutable_grad() = torch::Tensor();
  model_->module().train();
  return r;
}

void Trainer::save_training_state(const std::string& path) {
  torch::serialize::OutputArchive archive;
  optimizer_->save(archive);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("ftplan_cpu_rng_state", gen.get_state());
  }
  if (device_.is_cuda()) archive.write("ftplan_cuda_rng_state", cuda::rng_state(device_.index()));
  archive.save_to(path);
}

void Trainer::load_training_state(const std::string& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  optimizer_->load(archive);
  torch::Tensor cpu_state;
  if (!archive.try_read("ftplan_cpu_rng_state", cpu_state)) throw std::invalid_argument(path + " has no random generator state");
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(cpu_state);
  }
  if (device_.is_cuda()) {
    torch::Tensor cuda_state;
    if (archive.try_read("ftplan_cuda_rng_state", cuda_state)) cuda::set_rng_state(device_.index(), cuda_state);
  }
}

int64_t Trainer::trainable_state_bytes() {
  int64_t bytes = 0;
  auto size = [](const torch::Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : int64_t{0}; };
  for (const auto& p : parameters()) bytes += size(p.grad());
  for (const auto& [key, st] : optimizer_->state()) {
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*st);
    bytes += size(s.exp_avg()) + size(s.exp_avg_sq()) + size(s.max_exp_avg_sq());
  }
  return bytes;
}

double Trainer::total_grad_norm() {
  // As torch::nn::utils::clip_grad_norm_: the 2-norm of the per-parameter 2-norms.
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters())
    if (p.grad().defined()) norms.push_back(p.grad().norm(2));
  if (norms.empty()) return 0.0;
  return torch::stack(norms).norm(2).item<double>();
}

namespace {

// p, g, m, v: contiguous float32 of n elements. One pass per element instead of torch AdamW's
// nine passes over each tensor (and its two temporaries): the same formulas, in the same order
// (torch/csrc/api/src/optim/adamw.cpp): decoupled weight decay, moments, bias corrections, update.
void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, float gscale, float decay, float b1, float b2,
                  float step_size, float bc2_sqrt, float eps) {
  at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i] * gscale;
      const float mi = m[i] * b1 + (1.0f - b1) * gi;
      const float vi = v[i] * b2 + (1.0f - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      const float denom = std::sqrt(vi) / bc2_sqrt + eps;
      p[i] = p[i] * decay - step_size * (mi / denom);
    }
  });
}

// The optimizer's per-parameter state map is keyed by the TensorImpl: as a string in LibTorch 1.x,
// as the pointer itself in 2.x.
template <typename Map>
typename Map::key_type state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<typename Map::key_type, std::string>) return c10::guts::to_string(p.unsafeGetTensorImpl());
  else return p.unsafeGetTensorImpl();
}

}  // namespace

void Trainer::fused_adamw_step(float gscale) {
  // The moments live in torch::optim::AdamW's own state, so saving, loading and resuming are
  // unchanged (and a CUDA run uses the same state through optimizer_->step()).
  torch::NoGradGuard no_grad;
  auto& state = optimizer_->state();
  using Map = std::decay_t<decltype(state)>;
  for (auto& group : optimizer_->param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    const double lr = o.lr(), b1 = std::get<0>(o.betas()), b2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (p.scalar_type() != torch::kFloat32 || !p.is_contiguous() || !p.grad().is_contiguous())
        throw std::runtime_error("fused AdamW expects contiguous float32 parameters and gradients");
      auto key = state_key<Map>(p);
      auto it = state.find(key);
      if (it == state.end()) {
        auto st = std::make_unique<torch::optim::AdamWParamState>();
        st->step(0);
        st->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        st->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = state.insert({key, std::move(st)}).first;
      }
      auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
      st.step(st.step() + 1);
      const double bc1 = 1.0 - std::pow(b1, static_cast<double>(st.step()));
      const double bc2 = 1.0 - std::pow(b2, static_cast<double>(st.step()));
      adamw_kernel(p.data_ptr<float>(), p.grad().data_ptr<float>(), st.exp_avg().data_ptr<float>(), st.exp_avg_sq().data_ptr<float>(), p.numel(),
                   gscale, static_cast<float>(1.0 - lr * o.weight_decay()), static_cast<float>(b1), static_cast<float>(b2),
                   static_cast<float>(lr / bc1), static_cast<float>(std::sqrt(bc2)), static_cast<float>(o.eps()));
    }
  }
}

double fused_adamw_check(int steps, double wd, float gscale) {
  if (steps < 1) throw std::invalid_argument("steps must be at least 1");
  // The same parameters and gradients through torch::optim::AdamW (gradients pre-scaled as
  // clip_grad_norm_ would) and through the fused kernel; returns the largest relative difference.
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(7);
  auto a = torch::randn({1000, 37}, gen), b = a.clone();
  a.set_requires_grad(true);
  torch::optim::AdamW ref({a}, torch::optim::AdamWOptions(1e-2).weight_decay(wd));
  auto m = torch::zeros_like(b), v = torch::zeros_like(b);
  for (int t = 1; t <= steps; ++t) {
    auto g = torch::randn({1000, 37}, gen);
    a.mutable_grad() = g * gscale;
    ref.step();
    const double bc1 = 1.0 - std::pow(0.9, t), bc2 = 1.0 - std::pow(0.999, t);
    adamw_kernel(b.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(), v.data_ptr<float>(), b.numel(), gscale,
                 static_cast<float>(1.0 - 1e-2 * wd), 0.9f, 0.999f, static_cast<float>(1e-2 / bc1), static_cast<float>(std::sqrt(bc2)), 1e-8f);
  }
  // relative to the parameter scale: entries that cross zero make an elementwise ratio meaningless
  return ((a.detach() - b).abs().max() / a.detach().abs().max()).item<double>();
}

void Trainer::set_lr(double lr) {
  if (!(lr > 0)) throw std::invalid_argument("lr must be positive");
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

}  // namespace ftplan
