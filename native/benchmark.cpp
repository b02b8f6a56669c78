// benchmark.cpp — see benchmark.h.
#include "benchmark.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

#include <ATen/Parallel.h>

#include "decoder.h"
#include "device.h"

namespace ftplan {

int64_t matmul_parameter_count(const GPT2Config& cfg) {
  const int64_t C = cfg.n_embd, F = cfg.inner();
  const int64_t per_layer = C * 3 * C + C * C + C * F + F * C;  // c_attn, attn.c_proj, c_fc, mlp.c_proj
  return cfg.n_layer * per_layer + C * cfg.num_labels;           // + score (read once per row: an upper bound)
}

double training_flops_per_token(const GPT2Config& cfg, int64_t seq_len) {
  return 6.0 * static_cast<double>(matmul_parameter_count(cfg)) +
         12.0 * static_cast<double>(cfg.n_layer) * static_cast<double>(cfg.n_embd) * static_cast<double>(seq_len);
}

int64_t matmul_parameter_count(const ModelSpec& spec) {
  return spec.is_gpt2() ? matmul_parameter_count(spec.gpt2) : decoder_matmul_parameters(spec.decoder);
}

double training_flops_per_token(const ModelSpec& spec, int64_t seq_len) {
  return spec.is_gpt2() ? training_flops_per_token(spec.gpt2, seq_len) : decoder_training_flops_per_token(spec.decoder, seq_len);
}

FlopsEstimate flops_estimate(const ModelSpec& spec, int64_t seq_len) {
  validate(spec);
  if (seq_len < 1) throw std::invalid_argument("seq_len must be at least 1");
  FlopsEstimate f;
  f.flops_per_token = training_flops_per_token(spec, seq_len);
  f.matmul_parameters = matmul_parameter_count(spec);
  return f;
}

void validate(const BenchConfig& cfg) {
  validate(cfg.model);
  if (cfg.batch_size < 1) throw std::invalid_argument("batch size must be at least 1");
  if (cfg.grad_accum < 1) throw std::invalid_argument("grad_accum must be at least 1");
}

bool is_out_of_memory(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const std::bad_alloc&) {
    return true;
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    return msg.find("out of memory") != std::string::npos || msg.find("Out of memory") != std::string::npos ||
           msg.find("can't allocate memory") != std::string::npos;
  } catch (...) {
    return false;
  }
}

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

BenchResult run_benchmark(const BenchConfig& cfg) {
  validate(cfg);
  const int64_t P = cfg.model.max_positions();
  const std::string positions = std::string(cfg.model.positions_field()) + "=" + std::to_string(P);
  if (cfg.seq_len < 1 || cfg.seq_len > P) throw std::invalid_argument("seq_len must be in [1, " + positions + "]");
  if (cfg.steps < 1) throw std::invalid_argument("steps must be at least 1");
  if (cfg.warmup_steps < 0) throw std::invalid_argument("warmup_steps must be >= 0");
  if (cfg.eval_batch_size < 0 || cfg.eval_steps < 0) throw std::invalid_argument("eval batch size and steps must be >= 0");
  for (const int64_t t : cfg.seq_lens)
    if (t < 1 || t > P) throw std::invalid_argument("seq_lens must be in [1, " + positions + "]");
  if (cfg.max_steps < 0 || cfg.min_timed_ms < 0) throw std::invalid_argument("max_steps and min_timed_ms must be >= 0");
  for (const int64_t b : cfg.probe_batch_sizes)
    if (b < 1) throw std::invalid_argument("probe batch sizes must be at least 1");
  if (cfg.probe_seq_len < 0 || cfg.probe_seq_len > P) throw std::invalid_argument("probe_seq_len must be in [0, " + positions + "]");

  BenchResult r;
  const c10::Device device = parse_device(cfg.train.device);
  r.device = device.str();
  r.device_name = device_name(device);
  r.device_memory_bytes = device_total_memory(device);

  // Memory baseline before anything of ours exists. On CPU the meter counts exactly the tensors this
  // thread allocates from here on (other work in the process does not disturb it).
  const bool cuda = device.is_cuda();
  release_cached_memory(device);
  synchronize(device);
  MemoryMeter meter(device);
  const int64_t before = meter.current();
  meter.reset_peak();
  r.rss_before_bytes = read_rss().rss_bytes;
  r.peak_memory_source = cuda ? "cuda-caching-allocator" : "cpu-counting-allocator";

  auto t0 = Clock::now();
  Trainer trainer(cfg.model, cfg.train);
  synchronize(device);
  r.setup_ms = ms_since(t0);
  // The peak of training, from here: building the model passes through what training never holds
  // again (every weight in float32 before LoRA freezes it to bf16 or QLoRA quantises it: 4 bytes a
  // parameter where NF4 keeps half a byte).
  meter.reset_peak();
  r.threads = at::get_num_threads();
  r.parameters = trainer.model().parameter_count();
  const auto info = parameter_info(trainer.model());
  r.method = method_name(cfg.train.peft.method);
  r.gradient_checkpointing = cfg.train.peft.gradient_checkpointing;
  r.trainable_parameters = info.trainable;
  r.weight_bytes = info.frozen_bytes + info.trainable_bytes;
  r.transformer_parameters = trainer.model().trunk_parameter_count();
  r.matmul_parameters = matmul_parameter_count(cfg.model);
  r.flops_per_token = training_flops_per_token(cfg.model, cfg.seq_len);

  torch::Generator gen = at::detail::createCPUGenerator(cfg.train.seed + 1);
  // One set of micro-batches per distinct length, built before any clock starts.
  const std::vector<int64_t> lens = cfg.seq_lens.empty() ? std::vector<int64_t>{cfg.seq_len} : cfg.seq_lens;
  std::map<int64_t, std::vector<Batch>> by_len;
  for (const int64_t t : lens) {
    if (by_len.count(t)) continue;
    auto& micro = by_len[t];
    for (int64_t i = 0; i < cfg.grad_accum; ++i) micro.push_back(synthetic_batch(cfg.model, cfg.batch_size, t, gen));
  }

  // Warm-up at the longest length: the largest buffers are allocated before timing.
  const int64_t longest = *std::max_element(lens.begin(), lens.end());
  for (int64_t i = 0; i < cfg.warmup_steps; ++i) r.losses.push_back(trainer.step(by_len[longest]).loss);
  synchronize(device);
  reset_rss_peak();
  const int64_t max_steps = std::max(cfg.steps, cfg.max_steps);
  double timed = 0;
  for (int64_t i = 0; i < max_steps; ++i) {
    if (i >= cfg.steps && timed >= cfg.min_timed_ms) break;
    const int64_t t = lens[static_cast<size_t>(i) % lens.size()];
    synchronize(device);
    auto ts = Clock::now();
    auto res = trainer.step(by_len[t]);  // loss.item() inside syncs, the explicit sync makes it certain
    synchronize(device);
    const double ms = ms_since(ts);
    timed += ms;
    r.step_ms.push_back(ms);
    r.step_seq_lens.push_back(t);
    r.losses.push_back(res.loss);
  }
  r.rss_peak_bytes = read_rss().peak_bytes;
  // Between steps: weights + grads + AdamW moments (grads stay until the next step sets them to none).
  r.static_memory_bytes = meter.current() - before;
  r.peak_memory_bytes = meter.peak() - before;
  r.trainable_state_bytes = trainer.trainable_state_bytes();
  r.activation_bytes = std::max<int64_t>(0, r.peak_memory_bytes - r.weight_bytes - r.trainable_state_bytes);

  for (const int64_t b : cfg.probe_batch_sizes) {
    ProbePoint pt;
    pt.batch_size = b;
    pt.seq_len = cfg.probe_seq_len > 0 ? cfg.probe_seq_len : cfg.seq_len;
    std::vector<Batch> probe{synthetic_batch(cfg.model, b, pt.seq_len, gen)};
    synchronize(device);
    const int64_t held = meter.current();
    meter.reset_peak();
    bool oom = false;
    try {
      trainer.step(probe);
      synchronize(device);
      const int64_t peak = meter.peak();
      pt.peak_bytes = peak - before;
      pt.activation_bytes = peak - held;
    } catch (...) {
      // Out of memory at this size: record it, let go of what the failed step held (its batch, the
      // gradients), free the allocator's cache, and step down to the next size.
      if (!is_out_of_memory(std::current_exception())) throw;
      oom = true;
    }
    if (oom) {
      pt.out_of_memory = true;
      probe.clear();
      for (auto p : trainable_parameters(trainer.model())) p.mutable_grad() = torch::Tensor();
      synchronize(device);
      release_cached_memory(device);
    }
    r.probe.push_back(pt);
    if (cfg.probe_stop_at_fit && !pt.out_of_memory) break;
  }

  if (cfg.eval_batch_size > 0 && cfg.eval_steps > 0) {
    Batch eb = synthetic_batch(cfg.model, cfg.eval_batch_size, cfg.seq_len, gen);
    trainer.logits(eb);  // warm-up
    for (int64_t i = 0; i < cfg.eval_steps; ++i) {
      synchronize(device);
      auto ts = Clock::now();
      trainer.logits(eb);
      synchronize(device);
      r.eval_ms.push_back(ms_since(ts));
    }
  }
  return r;
}

}  // namespace ftplan
