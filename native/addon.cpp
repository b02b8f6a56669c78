// addon.cpp — the N-API boundary, and the only file that includes napi.h.
//
// Pattern (sharp, better-sqlite3): per operation a plain C++ baton filled from already-validated
// JS values on the JS thread, an AsyncWorker whose Execute() is pure C++ and catches every
// exception into the baton, and OnOK/OnError that build JS values. Native failures become JS
// errors with a `code` (ERR_INVALID_ARGUMENT, ERR_OUT_OF_MEMORY, ERR_TORCH, ERR_NATIVE, ERR_BUSY);
// no C++ exception ever reaches Node's abort path.
//
// Exports: runtimeInfo(), benchmark(opts), parameterCounts(model), flopsPerToken(model, seqLen),
// setCpuMemoryLimit(bytes), cpuMemory(), _raise(kind, async) (tests),
// class Session { init(), step(microBatches, {seeds}?), logits(batch), setLr(lr), loadState(tensors), state(), saveTrainingState(path), loadTrainingState(path),
//                 initDistributed({rank, worldSize, masterAddr, masterPort, timeoutMs, bucketBytes}), allreduce(Float64Array), allreduceBenchmark({bytes, iters}) }.
#include <napi.h>

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "benchmark.h"
#include "compat.h"
#include "device.h"
#include "distributed.h"
#include "attention.h"
#include "dropout.h"
#include "gpt2.h"
#include "memory.h"
#include "memory_probe.h"
#include "serial_executor.h"
#include "trainer.h"

namespace ftplan {
namespace {

// ---------------------------------------------------------------------------------------------
// Errors: every exception becomes (code, message) here.
struct NativeError {
  std::string code;
  std::string message;
};

NativeError classify(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const std::invalid_argument& e) {
    return {"ERR_INVALID_ARGUMENT", e.what()};
  } catch (const std::bad_alloc& e) {
    return {"ERR_OUT_OF_MEMORY", std::string("out of memory (std::bad_alloc): ") + e.what()};
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    if (msg.find("out of memory") != std::string::npos || msg.find("Out of memory") != std::string::npos ||
        msg.find("DefaultCPUAllocator: can't allocate memory") != std::string::npos)
      return {"ERR_OUT_OF_MEMORY", msg};
    return {"ERR_TORCH", msg};
  } catch (const std::exception& e) {
    return {"ERR_NATIVE", e.what()};
  } catch (...) {
    return {"ERR_NATIVE", "unknown native exception"};
  }
}

Napi::Error make_error(Napi::Env env, const NativeError& e) {
  auto err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, e.code));
  return err;
}

// Run fn on the JS thread; turn any C++ exception into a thrown JS error with a code.
template <typename Fn>
Napi::Value guarded(Napi::Env env, Fn&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw make_error(env, classify(std::current_exception()));
  }
}

SerialExecutor& compute_thread() {
  static SerialExecutor* executor = new SerialExecutor();  // never destroyed: lives as long as the process
  return *executor;
}

// An AsyncWorker that resolves a promise and never lets an exception escape Execute().
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  virtual void Run() = 0;                          // worker thread, pure C++
  virtual Napi::Value Result(Napi::Env env) = 0;   // JS thread
  virtual void Settled() {}                        // JS thread, before the promise settles

  void Execute() override {
    try {
      // All LibTorch work of the process runs on one thread, in call order (see serial_executor.h).
      compute_thread().run([this] { Run(); });
    } catch (...) {
      error_ = classify(std::current_exception());
      failed_ = true;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Settled();
    if (failed_) {
      deferred_.Reject(make_error(env, error_).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(make_error(env, classify(std::current_exception())).Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    Settled();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  NativeError error_;
  bool failed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Reading already-validated JS values.
int64_t get_int(const Napi::Object& o, const char* key, int64_t fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  auto v = o.Get(key);
  if (!v.IsNumber()) throw std::invalid_argument(std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == static_cast<double>(static_cast<int64_t>(d)))) throw std::invalid_argument(std::string(key) + " must be an integer");
  return static_cast<int64_t>(d);
}
double get_double(const Napi::Object& o, const char* key, double fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  auto v = o.Get(key);
  if (!v.IsNumber()) throw std::invalid_argument(std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}
std::string get_string(const Napi::Object& o, const char* key, const std::string& fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  auto v = o.Get(key);
  if (!v.IsString()) throw std::invalid_argument(std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}
Napi::Object get_object(const Napi::Value& v, const char* what) {
  if (!v.IsObject()) throw std::invalid_argument(std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

GPT2Config read_model(const Napi::Object& o) {
  GPT2Config c;
  c.vocab_size = get_int(o, "vocabSize", c.vocab_size);
  c.n_positions = get_int(o, "nPositions", c.n_positions);
  c.n_embd = get_int(o, "nEmbd", c.n_embd);
  c.n_layer = get_int(o, "nLayer", c.n_layer);
  c.n_head = get_int(o, "nHead", c.n_head);
  c.n_inner = get_int(o, "nInner", c.n_inner);
  c.num_labels = get_int(o, "numLabels", c.num_labels);
  c.pad_token_id = get_int(o, "padTokenId", c.pad_token_id);
  c.layer_norm_epsilon = get_double(o, "layerNormEpsilon", c.layer_norm_epsilon);
  c.embd_pdrop = get_double(o, "embdPdrop", c.embd_pdrop);
  c.attn_pdrop = get_double(o, "attnPdrop", c.attn_pdrop);
  c.resid_pdrop = get_double(o, "residPdrop", c.resid_pdrop);
  c.initializer_range = get_double(o, "initializerRange", c.initializer_range);
  validate(c);
  return c;
}

TrainConfig read_train(const Napi::Object& o) {
  TrainConfig t;
  t.lr = get_double(o, "lr", t.lr);
  t.beta1 = get_double(o, "beta1", t.beta1);
  t.beta2 = get_double(o, "beta2", t.beta2);
  t.eps = get_double(o, "eps", t.eps);
  t.weight_decay = get_double(o, "weightDecay", t.weight_decay);
  t.max_grad_norm = get_double(o, "maxGradNorm", t.max_grad_norm);
  const std::string dtype = get_string(o, "dtype", "fp32");
  if (dtype != "fp32" && dtype != "bf16") throw std::invalid_argument("dtype must be fp32 or bf16");
  t.bf16 = dtype == "bf16";
  t.device = get_string(o, "device", "cpu");
  const int64_t seed = get_int(o, "seed", 42);
  if (seed < 0) throw std::invalid_argument("seed must be >= 0");
  t.seed = static_cast<uint64_t>(seed);
  return t;
}

// Positional number arguments of a test/benchmark export: all `count` present and numbers, or the
// usage ("dropoutCheck(n, p)") followed by "takes two numbers".
void expect_numbers(const Napi::CallbackInfo& info, size_t count, const char* usage) {
  static const char* const words[] = {"no", "one", "two", "three", "four"};
  bool ok = info.Length() >= count;
  for (size_t i = 0; ok && i < count; ++i) ok = info[i].IsNumber();
  if (!ok) throw std::invalid_argument(std::string(usage) + " takes " + (count < 5 ? words[count] : std::to_string(count)) + " numbers");
}

// A fast-path switch export, `name(enabled?)`: sets the switch when given a boolean (`set`), and
// returns nothing else; the caller reports the state.
void set_switch_if_given(const Napi::CallbackInfo& info, const char* name, void (*set)(bool)) {
  if (info.Length() == 0 || info[0].IsUndefined()) return;
  if (!info[0].IsBoolean()) throw std::invalid_argument(std::string(name) + "(enabled) takes a boolean");
  set(info[0].As<Napi::Boolean>().Value());
}

int read_threads(const Napi::Object& o) {
  const int64_t n = get_int(o, "threads", 0);
  if (n < 0 || n > 1024) throw std::invalid_argument("threads must be in [0, 1024] (0: leave as is)");
  return static_cast<int>(n);
}

// Intra-op threads are per calling thread under OpenMP: set them inside Execute().
// Only when it changes: at::set_num_threads also rebuilds LibTorch's pthreadpool.
// Also flushes denormals on this thread and its intra-op threads (device.h) whenever the thread
// count or the setting changed.
void apply_threads(int n) {
  thread_local int current = 0;
  thread_local int flushed = -1;  // the flush setting last applied (-1: never)
  bool changed = false;
  if (n > 0 && n != current) {
    at::set_num_threads(n);
    current = n;
    changed = true;
  }
  const int want = flush_denormal_enabled() ? 1 : 0;
  if (changed || want != flushed) {
    apply_flush_denormal();
    flushed = want;
  }
}

// A JS typed array of int32 -> an int64 CPU tensor (copied on the JS thread).
torch::Tensor int_tensor(const Napi::Value& v, const char* what, std::vector<int64_t> shape) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw std::invalid_argument(std::string(what) + " must be an Int32Array");
  auto arr = v.As<Napi::Int32Array>();
  int64_t n = 1;
  for (auto s : shape) n *= s;
  if (static_cast<int64_t>(arr.ElementLength()) != n)
    throw std::invalid_argument(std::string(what) + " has " + std::to_string(arr.ElementLength()) + " elements, expected " +
                                std::to_string(n));
  auto t = torch::empty(shape, torch::kInt32);
  if (n > 0) std::memcpy(t.data_ptr<int32_t>(), arr.Data(), static_cast<size_t>(n) * sizeof(int32_t));
  return t.to(torch::kLong);
}

Batch read_batch(const Napi::Value& v, bool need_labels) {
  auto o = get_object(v, "batch");
  const int64_t B = get_int(o, "batchSize", -1), T = get_int(o, "seqLen", -1);
  if (B < 1) throw std::invalid_argument("batch size must be at least 1");
  if (T < 1) throw std::invalid_argument("sequence length must be at least 1");
  Batch b;
  b.input_ids = int_tensor(o.Get("inputIds"), "inputIds", {B, T});
  b.lengths = int_tensor(o.Get("lengths"), "lengths", {B});
  if (need_labels) b.labels = int_tensor(o.Get("labels"), "labels", {B});
  return b;
}

Napi::Array number_array(Napi::Env env, const std::vector<double>& xs) {
  auto a = Napi::Array::New(env, xs.size());
  for (size_t i = 0; i < xs.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, xs[i]));
  return a;
}

// ---------------------------------------------------------------------------------------------
// runtimeInfo()
Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto o = Napi::Object::New(env);
    o.Set("torchVersion", Napi::String::New(env, TORCH_VERSION));
    o.Set("torchVersionMajor", Napi::Number::New(env, TORCH_VERSION_MAJOR));
    o.Set("torchVersionMinor", Napi::Number::New(env, TORCH_VERSION_MINOR));
    o.Set("cudaCompiled", Napi::Boolean::New(env, cuda_compiled()));
    o.Set("cudaAvailable", Napi::Boolean::New(env, cuda_available()));
    o.Set("cudaDeviceCount", Napi::Number::New(env, static_cast<double>(cuda_device_count())));
    o.Set("hasSdpa", Napi::Boolean::New(env, FTPLAN_HAS_SDPA != 0));
    o.Set("defaultThreads", Napi::Number::New(env, at::get_num_threads()));
    o.Set("parallelInfo", Napi::String::New(env, at::get_parallel_info()));
    o.Set("buildConfig", Napi::String::New(env, at::show_config()));
    o.Set("cpuTrackingAllocator", Napi::Boolean::New(env, cpu_tracking_installed()));
    o.Set("c10d", Napi::Boolean::New(env, c10d_compiled()));
    o.Set("nccl", Napi::Boolean::New(env, nccl_compiled()));
    auto devices = Napi::Array::New(env);
    uint32_t i = 0;
    devices.Set(i++, Napi::String::New(env, "cpu"));
    for (int64_t d = 0; d < cuda_device_count(); ++d) devices.Set(i++, Napi::String::New(env, "cuda:" + std::to_string(d)));
    o.Set("devices", devices);
    return o;
  });
}

// ---------------------------------------------------------------------------------------------
// flopsPerToken(model, seqLen) — pure arithmetic, shared with the benchmark.
Napi::Value FlopsPerToken(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto cfg = read_model(get_object(info[0], "model"));
    if (!info[1].IsNumber()) throw std::invalid_argument("seqLen must be a number");
    const auto T = info[1].As<Napi::Number>().Int64Value();
    auto o = Napi::Object::New(env);
    o.Set("flopsPerToken", Napi::Number::New(env, training_flops_per_token(cfg, T)));
    o.Set("matmulParameters", Napi::Number::New(env, static_cast<double>(matmul_parameter_count(cfg))));
    return o;
  });
}

// ---------------------------------------------------------------------------------------------
// parameterCounts(model): builds the real module (default init only) and counts its parameters.
class ParameterCountWorker : public PromiseWorker {
 public:
  ParameterCountWorker(Napi::Env env, GPT2Config cfg) : PromiseWorker(env), cfg_(cfg) {}

 protected:
  void Run() override {
    torch::NoGradGuard no_grad;
    GPT2ForSequenceClassification model(cfg_, /*init=*/false);
    total_ = model->parameter_count();
    transformer_ = model->transformer_parameter_count();
  }
  Napi::Value Result(Napi::Env env) override {
    auto o = Napi::Object::New(env);
    o.Set("total", Napi::Number::New(env, static_cast<double>(total_)));
    o.Set("transformer", Napi::Number::New(env, static_cast<double>(transformer_)));
    o.Set("head", Napi::Number::New(env, static_cast<double>(total_ - transformer_)));
    return o;
  }

 private:
  GPT2Config cfg_;
  int64_t total_ = 0, transformer_ = 0;
};

Napi::Value ParameterCounts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto* w = new ParameterCountWorker(env, read_model(get_object(info[0], "model")));
    auto p = w->promise();
    w->Queue();
    return p;
  });
}

// ---------------------------------------------------------------------------------------------
// fusedAdamwCheck(steps, weightDecay, gradScale) — the fused CPU AdamW against LibTorch's, for tests.
Napi::Value FusedAdamwCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    expect_numbers(info, 3, "fusedAdamwCheck(steps, weightDecay, gradScale)");
    const int steps = info[0].As<Napi::Number>().Int32Value();
    const double wd = info[1].As<Napi::Number>().DoubleValue();
    const float gscale = info[2].As<Napi::Number>().FloatValue();
    if (steps < 1 || steps > 1000) throw std::invalid_argument("steps must be in [1, 1000]");
    double out = 0;
    compute_thread().run([&] { out = fused_adamw_check(steps, wd, gscale); });
    return Napi::Number::New(env, out);
  });
}

// ---------------------------------------------------------------------------------------------
// dropoutCheck(n, p) — one forward + backward through the CPU dropout kernel, for tests.
Napi::Value DropoutCheckFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    expect_numbers(info, 2, "dropoutCheck(n, p)");
    const int64_t n = info[0].As<Napi::Number>().Int64Value();
    const double p = info[1].As<Napi::Number>().DoubleValue();
    if (n < 1 || n > (int64_t{1} << 26)) throw std::invalid_argument("n must be in [1, 2^26]");
    if (!(p > 0.0 && p < 1.0)) throw std::invalid_argument("p must be in (0, 1)");
    DropoutCheck c{};
    compute_thread().run([&] { c = dropout_check(n, p); });
    auto r = Napi::Object::New(env);
    r.Set("keptFraction", Napi::Number::New(env, c.kept_fraction));
    r.Set("maxForwardError", Napi::Number::New(env, c.max_forward_error));
    r.Set("maxBackwardError", Napi::Number::New(env, c.max_backward_error));
    r.Set("sameWithSameSeed", Napi::Boolean::New(env, c.same_with_same_seed));
    r.Set("differsWithOtherSeed", Napi::Boolean::New(env, c.differs_with_other_seed));
    r.Set("sameAcrossThreads", Napi::Boolean::New(env, c.same_across_threads));
    r.Set("bf16MatchesFp32Mask", Napi::Boolean::New(env, c.bf16_matches_fp32_mask));
    return r;
  });
}

// cpuDropout(enabled?) — whether CPU tensors use ftplan's dropout kernel (true) or torch's; sets it when given.
Napi::Value CpuDropout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    set_switch_if_given(info, "cpuDropout", set_cpu_dropout_enabled);
    return Napi::Boolean::New(env, cpu_dropout_enabled());
  });
}

// fusedAttentionCheck(n, t, p) — the fused causal softmax + dropout against torch's ops, for tests.
Napi::Value FusedAttentionCheckFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    expect_numbers(info, 3, "fusedAttentionCheck(n, t, p)");
    const int64_t n = info[0].As<Napi::Number>().Int64Value();
    const int64_t t = info[1].As<Napi::Number>().Int64Value();
    const double p = info[2].As<Napi::Number>().DoubleValue();
    if (n < 1 || n > 4096 || t < 1 || t > 1024) throw std::invalid_argument("n must be in [1, 4096] and t in [1, 1024]");
    if (!(p > 0.0 && p < 1.0)) throw std::invalid_argument("p must be in (0, 1)");
    FusedAttentionCheck c{};
    compute_thread().run([&] { c = fused_attention_check(n, t, p); });
    auto r = Napi::Object::New(env);
    r.Set("maxForwardError", Napi::Number::New(env, c.max_forward_error));
    r.Set("maxBackwardError", Napi::Number::New(env, c.max_backward_error));
    r.Set("maxDropoutForwardError", Napi::Number::New(env, c.max_dropout_forward_error));
    r.Set("maxDropoutBackwardError", Napi::Number::New(env, c.max_dropout_backward_error));
    r.Set("upperTriangleZero", Napi::Boolean::New(env, c.upper_triangle_zero));
    r.Set("maxBf16Error", Napi::Number::New(env, c.max_bf16_error));
    return r;
  });
}

// flushDenormal(enabled?) — whether training flushes denormal floats to zero (device.h); sets it when
// given, applies it on the compute thread and its intra-op threads, and reports what they do.
Napi::Value FlushDenormal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    set_switch_if_given(info, "flushDenormal", set_flush_denormal_enabled);
    DenormalState d{};
    compute_thread().run([&] {
      apply_threads(0);  // applies a changed setting, as the next training call would
      d = denormal_state();
    });
    auto r = Napi::Object::New(env);
    r.Set("enabled", Napi::Boolean::New(env, flush_denormal_enabled()));
    r.Set("computeThread", Napi::Boolean::New(env, d.this_thread));
    r.Set("intraOpThreads", Napi::Boolean::New(env, d.intra_op_threads));
    r.Set("threads", Napi::Number::New(env, static_cast<double>(d.threads)));
    return r;
  });
}

// fusedAttentionTiming(n, t, p, reps) — median ms of forward + backward, fused against composed ops.
Napi::Value FusedAttentionTimingFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    expect_numbers(info, 4, "fusedAttentionTiming(n, t, p, reps)");
    const int64_t n = info[0].As<Napi::Number>().Int64Value();
    const int64_t t = info[1].As<Napi::Number>().Int64Value();
    const double p = info[2].As<Napi::Number>().DoubleValue();
    const int64_t reps = info[3].As<Napi::Number>().Int64Value();
    if (n < 1 || n > 4096 || t < 1 || t > 1024 || reps < 1 || reps > 10000) throw std::invalid_argument("n in [1, 4096], t in [1, 1024], reps in [1, 10000]");
    if (!(p >= 0.0 && p < 1.0)) throw std::invalid_argument("p must be in [0, 1)");
    FusedAttentionTiming r{};
    compute_thread().run([&] { r = fused_attention_timing(n, t, p, reps); });
    auto o = Napi::Object::New(env);
    o.Set("fusedMs", Napi::Number::New(env, r.fused_ms));
    o.Set("composedMs", Napi::Number::New(env, r.composed_ms));
    return o;
  });
}

// fusedAttention(enabled?) — whether the manual CPU attention path uses the fused op; sets it when given.
Napi::Value FusedAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    set_switch_if_given(info, "fusedAttention", set_fused_attention_enabled);
    return Napi::Boolean::New(env, fused_attention_enabled());
  });
}

// lastBlockPruned(enabled?) — whether the classifier runs its last block for each row's last real
// token only (gpt2.h) or on every position as HF does; sets it when given.
Napi::Value LastBlockPruned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    set_switch_if_given(info, "lastBlockPruned", set_last_block_pruned);
    return Napi::Boolean::New(env, last_block_pruned());
  });
}

// ---------------------------------------------------------------------------------------------
// cpuAllocator({cache?}) — the CPU block cache's state; {cache: false} turns it off (and empties it).
Napi::Value CpuAllocator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      auto o = get_object(info[0], "cpuAllocator options");
      if (o.Has("cache") && !o.Get("cache").IsUndefined()) {
        if (!o.Get("cache").IsBoolean()) throw std::invalid_argument("cache must be a boolean");
        set_cpu_cache_enabled(o.Get("cache").As<Napi::Boolean>().Value());
      }
      if (o.Has("release") && o.Get("release").ToBoolean().Value()) release_cpu_cache();
    }
    const auto st = cpu_cache_stats();
    auto r = Napi::Object::New(env);
    r.Set("cache", Napi::Boolean::New(env, st.enabled));
    r.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(st.cached_bytes)));
    r.Set("capBytes", Napi::Number::New(env, static_cast<double>(st.cap_bytes)));
    r.Set("hits", Napi::Number::New(env, static_cast<double>(st.hits)));
    r.Set("misses", Napi::Number::New(env, static_cast<double>(st.misses)));
    return r;
  });
}

// ---------------------------------------------------------------------------------------------
// benchmark(opts)
class BenchmarkWorker : public PromiseWorker {
 public:
  BenchmarkWorker(Napi::Env env, BenchConfig cfg, int threads) : PromiseWorker(env), cfg_(std::move(cfg)), threads_(threads) {}

 protected:
  void Run() override {
    apply_threads(threads_);
    threads_used_ = at::get_num_threads();
    result_ = run_benchmark(cfg_);
  }
  Napi::Value Result(Napi::Env env) override {
    const auto& r = result_;
    auto o = Napi::Object::New(env);
    o.Set("stepMs", number_array(env, r.step_ms));
    {
      std::vector<double> lens(r.step_seq_lens.begin(), r.step_seq_lens.end());
      o.Set("stepSeqLens", number_array(env, lens));
    }
    o.Set("losses", number_array(env, r.losses));
    o.Set("evalMs", number_array(env, r.eval_ms));
    o.Set("setupMs", Napi::Number::New(env, r.setup_ms));
    o.Set("parameters", Napi::Number::New(env, static_cast<double>(r.parameters)));
    o.Set("transformerParameters", Napi::Number::New(env, static_cast<double>(r.transformer_parameters)));
    o.Set("matmulParameters", Napi::Number::New(env, static_cast<double>(r.matmul_parameters)));
    o.Set("flopsPerToken", Napi::Number::New(env, r.flops_per_token));
    o.Set("tokensPerStep", Napi::Number::New(env, static_cast<double>(r.tokens_per_step)));
    o.Set("samplesPerStep", Napi::Number::New(env, static_cast<double>(r.samples_per_step)));
    o.Set("peakMemoryBytes", Napi::Number::New(env, static_cast<double>(r.peak_memory_bytes)));
    o.Set("staticMemoryBytes", Napi::Number::New(env, static_cast<double>(r.static_memory_bytes)));
    o.Set("peakMemorySource", Napi::String::New(env, r.peak_memory_source));
    o.Set("rssPeakBytes", Napi::Number::New(env, static_cast<double>(r.rss_peak_bytes)));
    o.Set("rssBeforeBytes", Napi::Number::New(env, static_cast<double>(r.rss_before_bytes)));
    o.Set("device", Napi::String::New(env, r.device));
    o.Set("deviceName", Napi::String::New(env, r.device_name));
    o.Set("deviceMemoryBytes", Napi::Number::New(env, static_cast<double>(r.device_memory_bytes)));
    o.Set("threads", Napi::Number::New(env, threads_used_));
    auto probe = Napi::Array::New(env, r.probe.size());
    for (size_t i = 0; i < r.probe.size(); ++i) {
      const auto& pt = r.probe[i];
      auto po = Napi::Object::New(env);
      po.Set("batchSize", Napi::Number::New(env, static_cast<double>(pt.batch_size)));
      po.Set("seqLen", Napi::Number::New(env, static_cast<double>(pt.seq_len)));
      po.Set("peakBytes", Napi::Number::New(env, static_cast<double>(pt.peak_bytes)));
      po.Set("activationBytes", Napi::Number::New(env, static_cast<double>(pt.activation_bytes)));
      po.Set("outOfMemory", Napi::Boolean::New(env, pt.out_of_memory));
      probe.Set(static_cast<uint32_t>(i), po);
    }
    o.Set("probe", probe);
    return o;
  }

 private:
  BenchConfig cfg_;
  int threads_;
  int threads_used_ = 0;
  BenchResult result_;
};

Napi::Value Benchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto o = get_object(info[0], "benchmark options");
    BenchConfig c;
    c.model = read_model(get_object(o.Get("model"), "model"));
    c.train = read_train(o);
    c.batch_size = get_int(o, "batchSize", c.batch_size);
    c.seq_len = get_int(o, "seqLen", c.seq_len);
    c.grad_accum = get_int(o, "gradAccum", c.grad_accum);
    c.warmup_steps = get_int(o, "warmupSteps", c.warmup_steps);
    c.steps = get_int(o, "steps", c.steps);
    c.max_steps = get_int(o, "maxSteps", 0);
    if (o.Has("minTimedMs") && !o.Get("minTimedMs").IsUndefined()) {
      if (!o.Get("minTimedMs").IsNumber()) throw std::invalid_argument("minTimedMs must be a number");
      c.min_timed_ms = o.Get("minTimedMs").As<Napi::Number>().DoubleValue();
    }
    if (o.Has("seqLens") && !o.Get("seqLens").IsUndefined()) {
      if (!o.Get("seqLens").IsArray()) throw std::invalid_argument("seqLens must be an array");
      auto a = o.Get("seqLens").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) {
        if (!a.Get(i).IsNumber()) throw std::invalid_argument("seqLens must hold numbers");
        c.seq_lens.push_back(a.Get(i).As<Napi::Number>().Int64Value());
      }
    }
    c.eval_batch_size = get_int(o, "evalBatchSize", c.eval_batch_size);
    c.eval_steps = get_int(o, "evalSteps", c.eval_steps);
    c.probe_seq_len = get_int(o, "probeSeqLen", 0);
    if (o.Has("probeStopAtFit") && !o.Get("probeStopAtFit").IsUndefined()) {
      if (!o.Get("probeStopAtFit").IsBoolean()) throw std::invalid_argument("probeStopAtFit must be a boolean");
      c.probe_stop_at_fit = o.Get("probeStopAtFit").As<Napi::Boolean>().Value();
    }
    if (o.Has("probeBatchSizes") && !o.Get("probeBatchSizes").IsUndefined()) {
      if (!o.Get("probeBatchSizes").IsArray()) throw std::invalid_argument("probeBatchSizes must be an array");
      auto a = o.Get("probeBatchSizes").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) {
        if (!a.Get(i).IsNumber()) throw std::invalid_argument("probeBatchSizes must hold numbers");
        c.probe_batch_sizes.push_back(a.Get(i).As<Napi::Number>().Int64Value());
      }
    }
    if (c.batch_size < 1) throw std::invalid_argument("batch size must be at least 1");
    auto* w = new BenchmarkWorker(env, c, read_threads(o));
    auto p = w->promise();
    w->Queue();
    return p;
  });
}

// ---------------------------------------------------------------------------------------------
// probeActivations({model, seqLen, dtype, device, threads}): activation bytes per row, measured.
class ActivationProbeWorker : public PromiseWorker {
 public:
  ActivationProbeWorker(Napi::Env env, GPT2Config model, TrainConfig train, int64_t seq_len, int threads)
      : PromiseWorker(env), model_(model), train_(std::move(train)), seq_len_(seq_len), threads_(threads) {}

 protected:
  void Run() override {
    apply_threads(threads_);
    r_ = probe_activations(model_, train_, seq_len_);
  }
  Napi::Value Result(Napi::Env env) override {
    auto o = Napi::Object::New(env);
    o.Set("seqLen", Napi::Number::New(env, static_cast<double>(r_.seq_len)));
    o.Set("perSamplePerLayer", Napi::Number::New(env, static_cast<double>(r_.per_sample_per_layer)));
    o.Set("perSampleBase", Napi::Number::New(env, static_cast<double>(r_.per_sample_base)));
    auto pts = Napi::Array::New(env, r_.points.size());
    for (size_t i = 0; i < r_.points.size(); ++i) {
      auto p = Napi::Object::New(env);
      p.Set("layers", Napi::Number::New(env, static_cast<double>(r_.points[i].layers)));
      p.Set("batch", Napi::Number::New(env, static_cast<double>(r_.points[i].batch)));
      p.Set("bytes", Napi::Number::New(env, static_cast<double>(r_.points[i].bytes)));
      pts.Set(static_cast<uint32_t>(i), p);
    }
    o.Set("points", pts);
    return o;
  }

 private:
  GPT2Config model_;
  TrainConfig train_;
  int64_t seq_len_;
  int threads_;
  ActivationProbe r_;
};

Napi::Value ProbeActivations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto o = get_object(info[0], "probe options");
    auto* w = new ActivationProbeWorker(env, read_model(get_object(o.Get("model"), "model")), read_train(o), get_int(o, "seqLen", 0), read_threads(o));
    auto p = w->promise();
    w->Queue();
    return p;
  });
}

// ---------------------------------------------------------------------------------------------
// Session: a model + optimizer kept across calls. One operation at a time.
struct SessionState {
  GPT2Config model;
  TrainConfig train;
  int threads = 0;
  std::unique_ptr<Trainer> trainer;
  std::shared_ptr<DistGroup> dist;
  std::atomic<bool> busy{false};
};

class BusyGuard {
 public:
  explicit BusyGuard(std::shared_ptr<SessionState> s) : s_(std::move(s)) {}
  ~BusyGuard() { s_->busy = false; }

 private:
  std::shared_ptr<SessionState> s_;
};

// A session stays busy from the call until its promise settles on the JS thread.
void claim(const std::shared_ptr<SessionState>& s, Napi::Env env) {
  bool expected = false;
  if (!s->busy.compare_exchange_strong(expected, true))
    throw make_error(env, {"ERR_BUSY", "this session is already running an operation; await it first"});
}

class SessionWorker : public PromiseWorker {
 public:
  SessionWorker(Napi::Env env, std::shared_ptr<SessionState> s) : PromiseWorker(env), s_(std::move(s)) {}

 protected:
  void Settled() override { s_->busy = false; }
  void Run() override {
    if (!s_->trainer && !is_init()) throw std::invalid_argument("session not initialised: await session.init() first");
    apply_threads(s_->threads);
    RunLocked();
  }
  virtual bool is_init() const { return false; }
  virtual void RunLocked() = 0;
  std::shared_ptr<SessionState> s_;
};

class InitWorker : public SessionWorker {
 public:
  using SessionWorker::SessionWorker;

 protected:
  bool is_init() const override { return true; }
  void RunLocked() override {
    s_->trainer.reset();
    s_->trainer = std::make_unique<Trainer>(s_->model, s_->train);
    total_ = s_->trainer->model()->parameter_count();
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(total_)); }
  int64_t total_ = 0;
};

class StepWorker : public SessionWorker {
 public:
  StepWorker(Napi::Env env, std::shared_ptr<SessionState> s, std::vector<Batch> micro, std::vector<uint64_t> seeds)
      : SessionWorker(env, std::move(s)), micro_(std::move(micro)), seeds_(std::move(seeds)) {}

 protected:
  void RunLocked() override {
    const auto t0 = std::chrono::steady_clock::now();
    r_ = s_->trainer->step(micro_, seeds_);  // ends with loss.item(): the device is synchronized
    native_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  Napi::Value Result(Napi::Env env) override {
    auto o = Napi::Object::New(env);
    o.Set("nativeMs", Napi::Number::New(env, native_ms_));
    o.Set("loss", Napi::Number::New(env, r_.loss));
    o.Set("gradNorm", Napi::Number::New(env, r_.grad_norm));
    o.Set("samples", Napi::Number::New(env, static_cast<double>(r_.samples)));
    o.Set("tokens", Napi::Number::New(env, static_cast<double>(r_.tokens)));
    o.Set("buckets", Napi::Number::New(env, static_cast<double>(r_.buckets)));
    o.Set("allreduceMs", Napi::Number::New(env, r_.allreduce_ms));
    return o;
  }

 private:
  std::vector<Batch> micro_;
  std::vector<uint64_t> seeds_;
  StepResult r_;
  double native_ms_ = 0;
};

class LogitsWorker : public SessionWorker {
 public:
  LogitsWorker(Napi::Env env, std::shared_ptr<SessionState> s, Batch b) : SessionWorker(env, std::move(s)), b_(std::move(b)) {}

 protected:
  void RunLocked() override { out_ = s_->trainer->logits(b_); }
  Napi::Value Result(Napi::Env env) override {
    const size_t n = static_cast<size_t>(out_.numel());
    auto arr = Napi::Float32Array::New(env, n);
    if (n > 0) std::memcpy(arr.Data(), out_.data_ptr<float>(), n * sizeof(float));
    return arr;
  }

 private:
  Batch b_;
  torch::Tensor out_;
};

// State in and out: {name: {shape: number[], data: Float32Array}} with the native (torch Linear)
// layout and names; src/model/hf.ts maps Hugging Face checkpoints onto it.
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

class LoadStateWorker : public SessionWorker {
 public:
  LoadStateWorker(Napi::Env env, std::shared_ptr<SessionState> s, NamedTensors tensors)
      : SessionWorker(env, std::move(s)), tensors_(std::move(tensors)) {}

 protected:
  void RunLocked() override {
    torch::NoGradGuard no_grad;
    auto params = s_->trainer->model()->named_parameters();
    for (const auto& [name, t] : tensors_) {
      auto* p = params.find(name);
      if (p == nullptr) {
        unexpected_.push_back(name);
        continue;
      }
      if (p->sizes() != t.sizes())
        throw std::invalid_argument("tensor '" + name + "' has shape " + c10::str(t.sizes()) + " but the model's is " + c10::str(p->sizes()));
      if (!torch::isfinite(t).all().item<bool>()) throw std::invalid_argument("tensor '" + name + "' contains NaN or infinite values");
      p->copy_(t);
      loaded_.push_back(name);
    }
    for (const auto& item : params) {
      if (std::find(loaded_.begin(), loaded_.end(), item.key()) == loaded_.end()) missing_.push_back(item.key());
    }
  }
  Napi::Value Result(Napi::Env env) override {
    auto list = [&](const std::vector<std::string>& xs) {
      auto a = Napi::Array::New(env, xs.size());
      for (size_t i = 0; i < xs.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, xs[i]));
      return a;
    };
    auto o = Napi::Object::New(env);
    o.Set("loaded", list(loaded_));
    o.Set("missing", list(missing_));
    o.Set("unexpected", list(unexpected_));
    return o;
  }

 private:
  NamedTensors tensors_;
  std::vector<std::string> loaded_, missing_, unexpected_;
};

class StateWorker : public SessionWorker {
 public:
  using SessionWorker::SessionWorker;

 protected:
  void RunLocked() override {
    for (const auto& item : s_->trainer->model()->named_parameters())
      out_.emplace_back(item.key(), item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous().clone());
  }
  Napi::Value Result(Napi::Env env) override {
    auto o = Napi::Object::New(env);
    for (const auto& [name, t] : out_) {
      auto entry = Napi::Object::New(env);
      auto shape = Napi::Array::New(env, static_cast<size_t>(t.dim()));
      for (int64_t d = 0; d < t.dim(); ++d) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(t.size(d))));
      auto data = Napi::Float32Array::New(env, static_cast<size_t>(t.numel()));
      if (t.numel() > 0) std::memcpy(data.Data(), t.data_ptr<float>(), static_cast<size_t>(t.numel()) * sizeof(float));
      entry.Set("shape", shape);
      entry.Set("data", data);
      o.Set(name, entry);
    }
    return o;
  }

 private:
  NamedTensors out_;
};

NamedTensors read_named_tensors(const Napi::Value& v) {
  auto o = get_object(v, "state");
  NamedTensors out;
  auto keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string name = keys.Get(i).As<Napi::String>().Utf8Value();
    auto entry = get_object(o.Get(name), ("state['" + name + "']").c_str());
    auto shape_v = entry.Get("shape");
    if (!shape_v.IsArray()) throw std::invalid_argument("state['" + name + "'].shape must be an array");
    auto shape_a = shape_v.As<Napi::Array>();
    std::vector<int64_t> shape;
    int64_t n = 1;
    for (uint32_t d = 0; d < shape_a.Length(); ++d) {
      auto dim = shape_a.Get(d);
      if (!dim.IsNumber() || dim.As<Napi::Number>().Int64Value() < 0) throw std::invalid_argument("state['" + name + "'].shape must hold sizes >= 0");
      shape.push_back(dim.As<Napi::Number>().Int64Value());
      n *= shape.back();
    }
    auto data_v = entry.Get("data");
    if (!data_v.IsTypedArray() || data_v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw std::invalid_argument("state['" + name + "'].data must be a Float32Array");
    auto data = data_v.As<Napi::Float32Array>();
    if (static_cast<int64_t>(data.ElementLength()) != n)
      throw std::invalid_argument("state['" + name + "'] has " + std::to_string(data.ElementLength()) + " values for shape of " + std::to_string(n));
    auto t = torch::empty(shape, torch::kFloat32);
    if (n > 0) std::memcpy(t.data_ptr<float>(), data.Data(), static_cast<size_t>(n) * sizeof(float));
    out.emplace_back(name, std::move(t));
  }
  return out;
}

class TrainingStateWorker : public SessionWorker {
 public:
  TrainingStateWorker(Napi::Env env, std::shared_ptr<SessionState> s, std::string path, bool save)
      : SessionWorker(env, std::move(s)), path_(std::move(path)), save_(save) {}

 protected:
  void RunLocked() override {
    if (save_) s_->trainer->save_training_state(path_);
    else s_->trainer->load_training_state(path_);
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string path_;
  bool save_;
};

class InitDistributedWorker : public SessionWorker {
 public:
  InitDistributedWorker(Napi::Env env, std::shared_ptr<SessionState> s, DistOptions o) : SessionWorker(env, std::move(s)), o_(std::move(o)) {}

 protected:
  void RunLocked() override {
    if (s_->dist) throw std::invalid_argument("this session already joined a process group");
    o_.device = s_->trainer->device().str();
    s_->dist = std::make_shared<DistGroup>(o_);
    s_->trainer->set_distributed(s_->dist);
  }
  Napi::Value Result(Napi::Env env) override {
    auto o = Napi::Object::New(env);
    o.Set("backend", Napi::String::New(env, s_->dist->backend()));
    o.Set("rank", Napi::Number::New(env, s_->dist->rank()));
    o.Set("worldSize", Napi::Number::New(env, s_->dist->world_size()));
    return o;
  }

 private:
  DistOptions o_;
};

// Sum of a small float64 vector across the group (agreement on stopping, metrics).
class AllreduceWorker : public SessionWorker {
 public:
  AllreduceWorker(Napi::Env env, std::shared_ptr<SessionState> s, std::vector<double> xs) : SessionWorker(env, std::move(s)), xs_(std::move(xs)) {}

 protected:
  void RunLocked() override {
    if (!s_->dist) throw std::invalid_argument("allreduce(): this session has not joined a process group (initDistributed)");
    auto t = torch::tensor(xs_, torch::kFloat64).to(s_->trainer->device()).contiguous();
    s_->dist->allreduce_sum_(t);
    auto host = t.to(torch::kCPU);
    for (size_t i = 0; i < xs_.size(); ++i) xs_[i] = host[static_cast<int64_t>(i)].item<double>();
  }
  Napi::Value Result(Napi::Env env) override {
    auto a = Napi::Float64Array::New(env, xs_.size());
    for (size_t i = 0; i < xs_.size(); ++i) a[i] = xs_[i];
    return a;
  }

 private:
  std::vector<double> xs_;
};

// Median milliseconds of an all-reduce (sum) of `bytes` of float32, for each size; every rank calls
// it with the same sizes. Two warm-up calls per size.
class AllreduceBenchWorker : public SessionWorker {
 public:
  AllreduceBenchWorker(Napi::Env env, std::shared_ptr<SessionState> s, std::vector<int64_t> bytes, int iters)
      : SessionWorker(env, std::move(s)), bytes_(std::move(bytes)), iters_(iters) {}

 protected:
  void RunLocked() override {
    if (!s_->dist) throw std::invalid_argument("allreduceBenchmark(): this session has not joined a process group (initDistributed)");
    for (auto b : bytes_) {
      auto t = torch::ones({std::max<int64_t>(1, b / 4)}, torch::TensorOptions().dtype(torch::kFloat32).device(s_->trainer->device()));
      std::vector<double> ms;
      for (int i = 0; i < iters_ + 2; ++i) {
        s_->dist->barrier();
        const auto t0 = std::chrono::steady_clock::now();
        s_->dist->allreduce_sum_(t);
        synchronize(s_->trainer->device());
        const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (i >= 2) ms.push_back(dt);
      }
      std::sort(ms.begin(), ms.end());
      out_.push_back(ms[ms.size() / 2]);
    }
  }
  Napi::Value Result(Napi::Env env) override { return number_array(env, out_); }

 private:
  std::vector<int64_t> bytes_;
  int iters_;
  std::vector<double> out_;
};

class Session : public Napi::ObjectWrap<Session> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Session",
                       {InstanceMethod("init", &Session::Init), InstanceMethod("step", &Session::Step),
                        InstanceMethod("logits", &Session::Logits), InstanceMethod("setLr", &Session::SetLr),
                        InstanceMethod("loadState", &Session::LoadState), InstanceMethod("state", &Session::State),
                        InstanceMethod("saveTrainingState", &Session::SaveTrainingState),
                        InstanceMethod("loadTrainingState", &Session::LoadTrainingState),
                        InstanceMethod("initDistributed", &Session::InitDistributed), InstanceMethod("allreduce", &Session::Allreduce),
                        InstanceMethod("allreduceBenchmark", &Session::AllreduceBenchmark)});
  }

  explicit Session(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Session>(info) {
    Napi::Env env = info.Env();
    try {
      auto o = get_object(info[0], "session options");
      state_ = std::make_shared<SessionState>();
      state_->model = read_model(get_object(o.Get("model"), "model"));
      state_->train = read_train(o);
      state_->threads = read_threads(o);
    } catch (const Napi::Error&) {
      throw;
    } catch (...) {
      throw make_error(env, classify(std::current_exception()));
    }
  }

 private:
  template <typename W, typename... Args>
  Napi::Value queue(Napi::Env env, Args&&... args) {
    claim(state_, env);
    try {
      auto* w = new W(env, state_, std::forward<Args>(args)...);
      auto p = w->promise();
      w->Queue();
      return p;
    } catch (...) {
      state_->busy = false;
      throw;
    }
  }

  Napi::Value Init(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value { return queue<InitWorker>(info.Env()); });
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (!info[0].IsArray()) throw std::invalid_argument("step() takes an array of micro-batches");
      auto arr = info[0].As<Napi::Array>();
      std::vector<Batch> micro;
      for (uint32_t i = 0; i < arr.Length(); ++i) micro.push_back(read_batch(arr.Get(i), true));
      if (micro.empty()) throw std::invalid_argument("step() needs at least one micro-batch");
      std::vector<uint64_t> seeds;
      if (info.Length() > 1 && !info[1].IsUndefined()) {
        auto o = get_object(info[1], "step options");
        if (o.Has("seeds") && !o.Get("seeds").IsUndefined()) {
          if (!o.Get("seeds").IsArray()) throw std::invalid_argument("seeds must be an array of integers");
          auto sa = o.Get("seeds").As<Napi::Array>();
          if (sa.Length() != micro.size()) throw std::invalid_argument("seeds must have one entry per micro-batch");
          for (uint32_t i = 0; i < sa.Length(); ++i) {
            auto v = sa.Get(i);
            const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
            if (!(d >= 0 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<int64_t>(d))))
              throw std::invalid_argument("seeds must be integers in [0, 2^53)");
            seeds.push_back(static_cast<uint64_t>(d));
          }
        }
      }
      return queue<StepWorker>(env, std::move(micro), std::move(seeds));
    });
  }

  Napi::Value InitDistributed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto o = get_object(info[0], "distributed options");
      DistOptions d;
      d.rank = static_cast<int>(get_int(o, "rank", -1));
      d.world_size = static_cast<int>(get_int(o, "worldSize", -1));
      d.master_addr = get_string(o, "masterAddr", d.master_addr);
      d.master_port = static_cast<int>(get_int(o, "masterPort", d.master_port));
      d.timeout = std::chrono::milliseconds(get_int(o, "timeoutMs", d.timeout.count()));
      d.bucket_bytes = get_int(o, "bucketBytes", d.bucket_bytes);
      if (d.world_size < 1 || d.rank < 0 || d.rank >= d.world_size) throw std::invalid_argument("rank must be in [0, worldSize)");
      if (!c10d_compiled()) DistGroup{d};  // throws the explanation
      return queue<InitDistributedWorker>(env, std::move(d));
    });
  }

  Napi::Value Allreduce(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
        throw std::invalid_argument("allreduce() takes a Float64Array");
      auto a = info[0].As<Napi::Float64Array>();
      std::vector<double> xs(a.Data(), a.Data() + a.ElementLength());
      return queue<AllreduceWorker>(env, std::move(xs));
    });
  }

  Napi::Value AllreduceBenchmark(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto o = get_object(info[0], "benchmark options");
      if (!o.Get("bytes").IsArray()) throw std::invalid_argument("bytes must be an array");
      auto ba = o.Get("bytes").As<Napi::Array>();
      std::vector<int64_t> bytes;
      for (uint32_t i = 0; i < ba.Length(); ++i) {
        auto v = ba.Get(i);
        if (!v.IsNumber() || v.As<Napi::Number>().Int64Value() < 4) throw std::invalid_argument("bytes must be numbers >= 4");
        bytes.push_back(v.As<Napi::Number>().Int64Value());
      }
      const int64_t iters = get_int(o, "iters", 10);
      if (iters < 1 || iters > 1000) throw std::invalid_argument("iters must be in [1, 1000]");
      return queue<AllreduceBenchWorker>(env, std::move(bytes), static_cast<int>(iters));
    });
  }

  Napi::Value Logits(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value { return queue<LogitsWorker>(env, read_batch(info[0], false)); });
  }

  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value { return queue<LoadStateWorker>(env, read_named_tensors(info[0])); });
  }

  Napi::Value State(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value { return queue<StateWorker>(info.Env()); });
  }

  Napi::Value SaveTrainingState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (!info[0].IsString()) throw std::invalid_argument("saveTrainingState() takes a file path");
      return queue<TrainingStateWorker>(env, info[0].As<Napi::String>().Utf8Value(), true);
    });
  }

  Napi::Value LoadTrainingState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (!info[0].IsString()) throw std::invalid_argument("loadTrainingState() takes a file path");
      return queue<TrainingStateWorker>(env, info[0].As<Napi::String>().Utf8Value(), false);
    });
  }

  Napi::Value SetLr(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      if (!info[0].IsNumber()) throw std::invalid_argument("setLr() takes a number");
      if (!state_->trainer) throw std::invalid_argument("session not initialised: await session.init() first");
      claim(state_, env);
      BusyGuard release(state_);
      state_->trainer->set_lr(info[0].As<Napi::Number>().DoubleValue());
      return env.Undefined();
    });
  }

  std::shared_ptr<SessionState> state_;
};

// ---------------------------------------------------------------------------------------------
// setCpuMemoryLimit(bytes): fail CPU allocations past `bytes` held (0: no limit); cpuMemory().
Napi::Value SetCpuMemoryLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsNumber()) throw std::invalid_argument("setCpuMemoryLimit() takes a number of bytes");
    const double d = info[0].As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d > 9.0e15) throw std::invalid_argument("setCpuMemoryLimit(): bytes must be in [0, 9e15]");
    set_cpu_memory_limit(static_cast<int64_t>(d));
    return env.Undefined();
  });
}

Napi::Value CpuMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto o = Napi::Object::New(env);
    o.Set("limitBytes", Napi::Number::New(env, static_cast<double>(cpu_memory_limit())));
    o.Set("allocatedBytes", Napi::Number::New(env, static_cast<double>(cpu_allocated_bytes())));
    return o;
  });
}

// ---------------------------------------------------------------------------------------------
// _raise(kind, async): throws one kind of C++ exception, on the JS thread (sync) or on the compute
// thread (a rejected promise) — so a test drives every branch of classify() and both paths.
void raise_kind(const std::string& kind) {
  if (kind == "bad_alloc") throw std::bad_alloc();
  if (kind == "c10") TORCH_CHECK(false, "a c10::Error raised for the test");
  if (kind == "c10_oom") TORCH_CHECK(false, "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes");
  if (kind == "invalid_argument") throw std::invalid_argument("an invalid argument raised for the test");
  if (kind == "runtime_error") throw std::runtime_error("a runtime_error raised for the test");
  if (kind == "unknown") throw 42;
  throw std::invalid_argument("_raise(): unknown kind '" + kind + "'");
}

class RaiseWorker : public PromiseWorker {
 public:
  RaiseWorker(Napi::Env env, std::string kind) : PromiseWorker(env), kind_(std::move(kind)) {}

 protected:
  void Run() override { raise_kind(kind_); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string kind_;
};

Napi::Value Raise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw std::invalid_argument("_raise() takes a kind");
    const std::string kind = info[0].As<Napi::String>().Utf8Value();
    if (!info[1].ToBoolean().Value()) {
      raise_kind(kind);
      return env.Undefined();
    }
    auto* w = new RaiseWorker(env, kind);
    auto p = w->promise();
    w->Queue();
    return p;
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  install_cpu_tracking_allocator();
  exports.Set("runtimeInfo", Napi::Function::New(env, RuntimeInfo));
  exports.Set("flopsPerToken", Napi::Function::New(env, FlopsPerToken));
  exports.Set("lastBlockPruned", Napi::Function::New(env, LastBlockPruned));
  exports.Set("parameterCounts", Napi::Function::New(env, ParameterCounts));
  exports.Set("benchmark", Napi::Function::New(env, Benchmark));
  exports.Set("cpuAllocator", Napi::Function::New(env, CpuAllocator));
  exports.Set("fusedAdamwCheck", Napi::Function::New(env, FusedAdamwCheck));
  exports.Set("dropoutCheck", Napi::Function::New(env, DropoutCheckFn));
  exports.Set("cpuDropout", Napi::Function::New(env, CpuDropout));
  exports.Set("fusedAttentionCheck", Napi::Function::New(env, FusedAttentionCheckFn));
  exports.Set("fusedAttention", Napi::Function::New(env, FusedAttention));
  exports.Set("fusedAttentionTiming", Napi::Function::New(env, FusedAttentionTimingFn));
  exports.Set("flushDenormal", Napi::Function::New(env, FlushDenormal));
  exports.Set("probeActivations", Napi::Function::New(env, ProbeActivations));
  exports.Set("Session", Session::Define(env));
  exports.Set("setCpuMemoryLimit", Napi::Function::New(env, SetCpuMemoryLimit));
  exports.Set("cpuMemory", Napi::Function::New(env, CpuMemory));
  exports.Set("_raise", Napi::Function::New(env, Raise));
  return exports;
}

}  // namespace
}  // namespace ftplan

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ftplan::Init(env, exports); }

NODE_API_MODULE(ftplan, InitAddon)
