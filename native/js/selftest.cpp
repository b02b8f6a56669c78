// js/selftest.cpp — exports for tests and benchmarks, not for the CLI's work: self-checks of the
// CPU kernels against LibTorch's own ops, the fast-path switches (switch.h) that side-by-side
// benchmarks flip, _raise (every C++ exception kind through the boundary) and _records (the
// result records' field names, which src/native.ts compares with its schemas at load). Part of
// the N-API boundary (js/worker.h).
#include "exports.h"
#include "worker.h"

namespace ftplan::js {
namespace {

template <class T>
T arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  T x{};
  from_js(info[i], x, name);
  return x;
}

// name(enabled?): sets the switch when given a boolean, then returns report().
template <class Report>
Napi::Value switch_call(const Napi::CallbackInfo& info, void (*set)(bool), Report report) {
  return guarded(info.Env(), [&] {
    if (!info[0].IsUndefined()) set(arg<bool>(info, 0, "enabled"));
    return to_js(info.Env(), report());
  });
}

void raise_kind(const std::string& kind) {
  if (kind == "bad_alloc") throw std::bad_alloc();
  if (kind == "c10") TORCH_CHECK(false, "a c10::Error raised for the test");
  if (kind == "c10_oom") TORCH_CHECK(false, "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes");
  if (kind == "invalid_argument") throw std::invalid_argument("an invalid argument raised for the test");
  if (kind == "runtime_error") throw std::runtime_error("a runtime_error raised for the test");
  if (kind == "unknown") throw 42;
  throw std::invalid_argument("_raise(): unknown kind '" + kind + "'");
}

}  // namespace

// The self-checks run synchronously, on the compute thread (their kernels use its intra-op threads).

// The largest relative parameter difference between the fused CPU AdamW and LibTorch's.
Napi::Value fusedAdamwCheck(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    const int steps = arg<int>(info, 0, "steps");
    const double wd = arg<double>(info, 1, "weightDecay"), scale = arg<double>(info, 2, "gradScale");
    return to_js(info.Env(), on_compute_thread([&] { return fused_adamw_check(steps, wd, static_cast<float>(scale)); }));
  });
}

Napi::Value dropoutCheck(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    const int64_t n = arg<int64_t>(info, 0, "n");
    const double p = arg<double>(info, 1, "p");
    return to_js(info.Env(), on_compute_thread([&] { return dropout_check(n, p); }));
  });
}

// (values: Float32Array, doubleQuant) -> Nf4Check: one tensor through NF4 quantise -> dequantise.
Napi::Value nf4Check(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    const int64_t n = info[0].IsTypedArray() ? static_cast<int64_t>(info[0].As<Napi::TypedArray>().ElementLength()) : 0;
    const auto values = tensor_from_js<float, Napi::Float32Array>(info[0], "values", {n}, torch::kFloat32, torch::kFloat32);
    const bool dq = arg<bool>(info, 1, "doubleQuant");
    return to_js(info.Env(), on_compute_thread([&] { return nf4_check(values, dq); }));
  });
}

Napi::Value fusedAttentionCheck(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    const int64_t n = arg<int64_t>(info, 0, "n"), t = arg<int64_t>(info, 1, "t");
    const double p = arg<double>(info, 2, "p");
    return to_js(info.Env(), on_compute_thread([&] { return fused_attention_check(n, t, p); }));
  });
}

Napi::Value fusedAttentionTiming(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    const int64_t n = arg<int64_t>(info, 0, "n"), t = arg<int64_t>(info, 1, "t"), reps = arg<int64_t>(info, 3, "reps");
    const double p = arg<double>(info, 2, "p");
    return to_js(info.Env(), on_compute_thread([&] { return fused_attention_timing(n, t, p, reps); }));
  });
}

Napi::Value lmLossCheck(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    const int64_t n = arg<int64_t>(info, 0, "n"), c = arg<int64_t>(info, 1, "c"), v = arg<int64_t>(info, 2, "v"), rows = arg<int64_t>(info, 3, "chunkRows");
    const bool bf16 = arg<bool>(info, 4, "bf16");
    return to_js(info.Env(), on_compute_thread([&] { return lm_loss_check(n, c, v, rows, bf16); }));
  });
}

// (rows?) -> the rows per chunk the models' LM loss uses (0: automatic), after setting it when given.
Napi::Value lmChunkRows(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    if (!info[0].IsUndefined()) {
      const int64_t rows = arg<int64_t>(info, 0, "rows");
      on_compute_thread([&] { set_lm_chunk_rows_override(rows); });
    }
    return to_js(info.Env(), lm_chunk_rows_override());
  });
}

Napi::Value cpuDropout(const Napi::CallbackInfo& info) { return switch_call(info, set_cpu_dropout_enabled, cpu_dropout_enabled); }
Napi::Value fusedAttention(const Napi::CallbackInfo& info) { return switch_call(info, set_fused_attention_enabled, fused_attention_enabled); }
Napi::Value fusedRmsNorm(const Napi::CallbackInfo& info) { return switch_call(info, set_fused_rms_norm_enabled, fused_rms_norm_enabled); }
Napi::Value lastBlockPruned(const Napi::CallbackInfo& info) { return switch_call(info, set_last_block_pruned, last_block_pruned); }

// Reports what the compute thread and its intra-op threads do, after applying the setting there
// as the next training call would.
Napi::Value flushDenormal(const Napi::CallbackInfo& info) {
  return switch_call(info, set_flush_denormal_enabled, [] {
    return on_compute_thread([] {
      apply_threads(0);
      return denormal_state();
    });
  });
}

// _raise(kind, async?): throws one kind of C++ exception on the JS thread, or in a Job (a rejected
// promise), so a test drives every branch of classify() on both paths.
Napi::Value raise(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const auto kind = arg<std::string>(info, 0, "kind");
    if (!info[1].ToBoolean().Value()) {
      raise_kind(kind);
      return info.Env().Undefined();
    }
    return queue(info.Env(), [kind] { raise_kind(kind); });
  });
}

Napi::Value records(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto o = Napi::Object::New(info.Env());
    for (const auto& [name, fields] : result_records()) o.Set(name, to_js(info.Env(), fields));
    return o;
  });
}

}  // namespace ftplan::js
