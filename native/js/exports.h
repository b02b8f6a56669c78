// js/exports.h — the addon's exports, named as in JS; native/addon.cpp registers them and
// src/native.ts types and checks them. Part of the N-API boundary (js/worker.h).
#pragma once

#include <napi.h>

namespace ftplan::js {

// api.cpp: measurement and memory
Napi::Value runtimeInfo(const Napi::CallbackInfo& info);       // -> RuntimeInfo
Napi::Value flopsPerToken(const Napi::CallbackInfo& info);     // (model, seqLen) -> FlopsEstimate
Napi::Value parameterCounts(const Napi::CallbackInfo& info);   // (model) -> Promise<ParameterCounts>
Napi::Value benchmark(const Napi::CallbackInfo& info);         // (BenchConfig) -> Promise<BenchResult>
Napi::Value probeActivations(const Napi::CallbackInfo& info);  // (ActivationProbeConfig) -> Promise<ActivationProbe>
Napi::Value cpuAllocator(const Napi::CallbackInfo& info);      // ({cache?, release?}?) -> CpuCacheStats
Napi::Value setCpuMemoryLimit(const Napi::CallbackInfo& info); // (bytes) -> undefined
Napi::Value cpuMemory(const Napi::CallbackInfo& info);         // -> CpuMemoryUse

// session.cpp: class Session (a model and its optimizer, kept across calls)
Napi::Function defineSession(Napi::Env env);

// selftest.cpp: self-checks of the CPU kernels, fast-path switches, error and record hooks
Napi::Value fusedAdamwCheck(const Napi::CallbackInfo& info);      // (steps, weightDecay, gradScale) -> number
Napi::Value dropoutCheck(const Napi::CallbackInfo& info);         // (n, p) -> DropoutCheck
Napi::Value nf4Check(const Napi::CallbackInfo& info);             // (values, doubleQuant) -> Nf4Check
Napi::Value fusedAttentionCheck(const Napi::CallbackInfo& info);  // (n, t, p) -> FusedAttentionCheck
Napi::Value fusedAttentionTiming(const Napi::CallbackInfo& info); // (n, t, p, reps) -> FusedAttentionTiming
Napi::Value lmLossCheck(const Napi::CallbackInfo& info);          // (n, c, v, chunkRows, bf16) -> LmLossCheck
Napi::Value lmChunkRows(const Napi::CallbackInfo& info);          // (rows?) -> number
Napi::Value cpuDropout(const Napi::CallbackInfo& info);           // (enabled?) -> boolean
Napi::Value fusedAttention(const Napi::CallbackInfo& info);       // (enabled?) -> boolean
Napi::Value lastBlockPruned(const Napi::CallbackInfo& info);      // (enabled?) -> boolean
Napi::Value fusedRmsNorm(const Napi::CallbackInfo& info);         // (enabled?) -> boolean
Napi::Value flushDenormal(const Napi::CallbackInfo& info);        // (enabled?) -> DenormalState
Napi::Value raise(const Napi::CallbackInfo& info);                // _raise(kind, async?)
Napi::Value records(const Napi::CallbackInfo& info);              // _records() -> {Record: [field, ...]}

}  // namespace ftplan::js
