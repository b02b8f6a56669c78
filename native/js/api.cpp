// js/api.cpp — the exports that measure: runtime facts, FLOPs and parameter counts, the benchmark,
// the activation probe, and the CPU allocator's controls. Each reads its arguments (records.h),
// then returns at once or queues a Job (worker.h). Part of the N-API boundary.
#include <optional>

#include "exports.h"
#include "worker.h"

namespace ftplan::js {

Napi::Value runtimeInfo(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] { return to_js(info.Env(), runtime_info()); });
}

// Pure arithmetic: answered on the JS thread.
Napi::Value flopsPerToken(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    ModelSpec model;
    int64_t seq_len = 0;
    from_js(info[0], model, "model");
    from_js(info[1], seq_len, "seqLen");
    return to_js(info.Env(), flops_estimate(model, seq_len));
  });
}

Napi::Value parameterCounts(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    ModelSpec model;
    from_js(info[0], model, "model");
    return queue(info.Env(), [model] { return parameter_counts(model); });
  });
}

Napi::Value benchmark(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    return queue(info.Env(), [cfg = read_record<BenchConfig>(info[0])] {
      apply_threads(cfg.train.threads);
      return run_benchmark(cfg);
    });
  });
}

Napi::Value probeActivations(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    return queue(info.Env(), [cfg = read_record<ActivationProbeConfig>(info[0])] {
      apply_threads(cfg.train.threads);
      return probe_activations(cfg);
    });
  });
}

// {cache: false} turns the CPU block cache off (and empties it), {cache: true} on; {release: true}
// frees what it holds. Returns its state after that.
Napi::Value cpuAllocator(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    if (!info[0].IsUndefined()) {
      const auto o = as_object(info[0], "cpuAllocator options");
      std::optional<bool> cache;
      bool release = false;
      read_field(o, "cache", cache, "");
      read_field(o, "release", release, "");
      if (cache) set_cpu_cache_enabled(*cache);
      if (release) release_cpu_cache();
    }
    return to_js(info.Env(), cpu_cache_stats());
  });
}

// CPU tensor allocations past `bytes` held fail as LibTorch's own out-of-memory does (0: no limit).
Napi::Value setCpuMemoryLimit(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    int64_t bytes = 0;
    from_js(info[0], bytes, "bytes");
    set_cpu_memory_limit(bytes);
    return info.Env().Undefined();
  });
}

Napi::Value cpuMemory(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] { return to_js(info.Env(), cpu_memory_use()); });
}

}  // namespace ftplan::js
