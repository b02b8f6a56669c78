// trainer.cpp — see trainer.h.
#include "trainer.h"

#include <chrono>
#include <mutex>
#include <stdexcept>

#include <ATen/CPUGeneratorImpl.h>

#include "compat.h"
#include "device.h"

namespace ftplan {

void check_labels(const GPT2Config& cfg, const Batch& b) {
  if (b.labels.dim() != 1 || b.labels.size(0) != b.input_ids.size(0))
    throw std::invalid_argument("labels must be [batch], one per row");
  if (b.labels.min().item<int64_t>() < 0 || b.labels.max().item<int64_t>() >= cfg.num_labels)
    throw std::invalid_argument("labels must be in [0, num_labels)");
}

Trainer::Trainer(const GPT2Config& model_cfg, const TrainConfig& cfg) : cfg_(cfg), device_(parse_device(cfg.device)) {
  validate(model_cfg);
  if (!(cfg.lr > 0)) throw std::invalid_argument("lr must be positive");
  if (!(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1)) throw std::invalid_argument("betas must be in [0, 1)");
  if (!(cfg.eps > 0)) throw std::invalid_argument("eps must be positive");
  if (!(cfg.weight_decay >= 0)) throw std::invalid_argument("weight_decay must be >= 0");
  torch::manual_seed(cfg.seed);  // CPU and, where present, every CUDA device
  model_ = GPT2ForSequenceClassification(model_cfg);
  model_->to(device_);
  model_->train();
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      model_->parameters(),
      torch::optim::AdamWOptions(cfg.lr).betas(std::make_tuple(cfg.beta1, cfg.beta2)).eps(cfg.eps).weight_decay(cfg.weight_decay));
}

torch::Tensor Trainer::forward_loss(const Batch& b) {
  auto ids = b.input_ids.to(device_, /*non_blocking=*/true);
  auto lengths = b.lengths.to(device_, true);
  auto labels = b.labels.to(device_, true);
  torch::Tensor logits;
  {
    AutocastGuard autocast(cfg_.bf16, device_.type());
    logits = model_->forward(ids, lengths);  // [B,K]
  }
  return torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), labels);
}

torch::Tensor Trainer::forward_backward(const Batch& b, double scale) {
  auto loss = forward_loss(b);
  (loss * scale).backward();
  return loss.detach();
}

StepResult Trainer::step(const std::vector<Batch>& micro_batches, const std::vector<uint64_t>& seeds) {
  if (micro_batches.empty()) throw std::invalid_argument("a step needs at least one micro-batch");
  if (!seeds.empty() && seeds.size() != micro_batches.size()) throw std::invalid_argument("seeds must have one entry per micro-batch");
  const auto& mcfg = model_->config();
  for (const auto& b : micro_batches) {
    check_batch(mcfg, b.input_ids, b.lengths);
    check_labels(mcfg, b);
  }
  model_->train();
  for (auto& p : model_->parameters()) p.mutable_grad() = torch::Tensor();  // zero_grad(set_to_none)

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
  }
  if (dist_) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> params = model_->parameters();
    r.buckets = dist_->allreduce_grads_(params);
    auto stats = torch::stack({loss_sum.to(torch::kFloat64), torch::tensor(static_cast<double>(r.samples), torch::kFloat64).to(device_),
                               torch::tensor(static_cast<double>(r.tokens), torch::kFloat64).to(device_)})
                     .contiguous();
    dist_->allreduce_sum_(stats);
    auto host = stats.to(torch::kCPU);
    loss_sum = host[0].to(device_, torch::kFloat32);
    r.samples = static_cast<int64_t>(host[1].item<double>());
    r.tokens = static_cast<int64_t>(host[2].item<double>());
    r.allreduce_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  if (cfg_.max_grad_norm > 0) {
    r.grad_norm = torch::nn::utils::clip_grad_norm_(model_->parameters(), cfg_.max_grad_norm);
  } else {
    double sq = 0;
    for (const auto& p : model_->parameters())
      if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
    r.grad_norm = std::sqrt(sq);
  }
  optimizer_->step();
  r.loss = loss_sum.item<double>() * scale;  // .item() synchronizes the device (scale: over the group's micro-batches)
  return r;
}

torch::Tensor Trainer::logits(const Batch& batch) {
  check_batch(model_->config(), batch.input_ids, batch.lengths);
  torch::NoGradGuard no_grad;
  model_->eval();
  torch::Tensor out;
  {
    AutocastGuard autocast(cfg_.bf16, device_.type());
    out = model_->forward(batch.input_ids.to(device_), batch.lengths.to(device_));
  }
  model_->train();
  return out.to(torch::kFloat32).to(torch::kCPU).contiguous();
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

void Trainer::set_lr(double lr) {
  if (!(lr > 0)) throw std::invalid_argument("lr must be positive");
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

}  // namespace ftplan
