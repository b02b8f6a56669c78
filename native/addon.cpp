// addon.cpp — registers the addon's exports; nothing else. With native/js/ it is the N-API
// boundary, the only code that includes napi.h (js/worker.h says how a call runs, js/records.h
// how values cross). src/native.ts loads the addon, types its exports and checks their arguments.
#include <napi.h>

#include <utility>

#include "js/exports.h"
#include "memory.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Before any tensor exists: every CPU tensor's bytes are counted from the first one (memory.h).
  ftplan::install_cpu_tracking_allocator();

  using namespace ftplan::js;
  const std::pair<const char*, Napi::Function::Callback> functions[] = {
      // measurement and memory (js/api.cpp)
      {"runtimeInfo", runtimeInfo},
      {"flopsPerToken", flopsPerToken},
      {"parameterCounts", parameterCounts},
      {"benchmark", benchmark},
      {"probeActivations", probeActivations},
      {"cpuAllocator", cpuAllocator},
      {"setCpuMemoryLimit", setCpuMemoryLimit},
      {"cpuMemory", cpuMemory},
      // tests and benchmarks (js/selftest.cpp)
      {"fusedAdamwCheck", fusedAdamwCheck},
      {"dropoutCheck", dropoutCheck},
      {"nf4Check", nf4Check},
      {"fusedAttentionCheck", fusedAttentionCheck},
      {"fusedAttentionTiming", fusedAttentionTiming},
      {"lmLossCheck", lmLossCheck},
      {"lmChunkRows", lmChunkRows},
      {"cpuDropout", cpuDropout},
      {"fusedAttention", fusedAttention},
      {"lastBlockPruned", lastBlockPruned},
      {"fusedRmsNorm", fusedRmsNorm},
      {"flushDenormal", flushDenormal},
      {"_raise", raise},
      {"_records", records},
  };
  for (const auto& [name, fn] : functions) exports.Set(name, Napi::Function::New(env, fn, name));
  exports.Set("Session", defineSession(env));  // js/session.cpp
  return exports;
}

}  // namespace

NODE_API_MODULE(ftplan, Init)
