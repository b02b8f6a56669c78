// js/records.h — JS values to C++ records and back. Part of the N-API boundary (see js/worker.h).
//
// Every record's converter is generated from its one field list (record.h): to_js for what the
// addon returns, from_js for the options it reads. Reading checks what a C++ value needs — a type
// (a string cannot become a batch size), a typed array's length against its shape — and a record's
// own invariants where the record has a validate() (config.h, benchmark.h). Bounds and messages
// for users are src/native.ts's: TypeScript checks every argument once, before the call.
#pragma once

#include <napi.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../benchmark.h"
#include "../config.h"
#include "../decoder_config.h"
#include "../device.h"
#include "../distributed.h"
#include "../gpt2.h"
#include "../lm_loss.h"
#include "../memory.h"
#include "../memory_probe.h"
#include "../model.h"
#include "../nf4.h"
#include "../peft.h"
#include "../rmsnorm.h"
#include "../state.h"
#include "../trainer.h"
#include "../dropout.h"
#include "../attention.h"

// The records the addon returns, (type, field list). _records() reports their JS field names;
// src/native.ts compares them with its zod schemas when it loads the addon.
#define FTPLAN_JS_RESULTS(X)                                \
  X(RuntimeInfo, FTPLAN_RUNTIME_INFO)                       \
  X(FlopsEstimate, FTPLAN_FLOPS_ESTIMATE)                   \
  X(ParameterCounts, FTPLAN_PARAMETER_COUNTS)               \
  X(BenchResult, FTPLAN_BENCH_RESULT)                       \
  X(ProbePoint, FTPLAN_PROBE_POINT)                         \
  X(ActivationProbe, FTPLAN_ACTIVATION_PROBE)               \
  X(ActivationPoint, FTPLAN_ACTIVATION_POINT)               \
  X(StepResult, FTPLAN_STEP_RESULT)                         \
  X(LossGradients, FTPLAN_LOSS_GRADIENTS)                   \
  X(LmEval, FTPLAN_LM_EVAL)                                 \
  X(LmLossCheck, FTPLAN_LM_LOSS_CHECK)                      \
  X(StateLoadReport, FTPLAN_STATE_LOAD_REPORT)              \
  X(DistInfo, FTPLAN_DIST_INFO)                             \
  X(CpuCacheStats, FTPLAN_CPU_CACHE_STATS)                  \
  X(CpuMemoryUse, FTPLAN_CPU_MEMORY_USE)                    \
  X(DenormalState, FTPLAN_DENORMAL_STATE)                   \
  X(DropoutCheck, FTPLAN_DROPOUT_CHECK)                     \
  X(FusedAttentionCheck, FTPLAN_FUSED_ATTENTION_CHECK)      \
  X(FusedAttentionTiming, FTPLAN_FUSED_ATTENTION_TIMING)   \
  X(ParameterInfo, FTPLAN_PARAMETER_INFO)                   \
  X(SessionMemory, FTPLAN_SESSION_MEMORY)                   \
  X(Nf4Check, FTPLAN_NF4_CHECK)

// The option records the addon reads, (type, field list). The model record (ModelSpec, model.h) is
// read by hand below: its `modelType` picks which family's field list the object holds.
#define FTPLAN_JS_OPTIONS(X)                                \
  X(GPT2Config, FTPLAN_GPT2_CONFIG)                         \
  X(DecoderConfig, FTPLAN_DECODER_CONFIG)                   \
  X(PeftOptions, FTPLAN_PEFT_OPTIONS)                       \
  X(TrainConfig, FTPLAN_TRAIN_CONFIG)                       \
  X(BenchConfig, FTPLAN_BENCH_CONFIG)                       \
  X(ActivationProbeConfig, FTPLAN_ACTIVATION_PROBE_CONFIG)  \
  X(DistOptions, FTPLAN_DIST_OPTIONS)                       \
  X(AllreduceTiming, FTPLAN_ALLREDUCE_TIMING)

namespace ftplan::js {

// Declared first: the templates below (vectors of records) look them up where they are defined.
#define FTPLAN_JS_DECLARE_WRITER(T, FIELDS) inline Napi::Value to_js(Napi::Env env, const T& r);
#define FTPLAN_JS_DECLARE_READER(T, FIELDS) inline void from_js(const Napi::Value& v, T& r, const std::string& path);
FTPLAN_JS_RESULTS(FTPLAN_JS_DECLARE_WRITER)
FTPLAN_JS_OPTIONS(FTPLAN_JS_DECLARE_READER)
FTPLAN_JS_DECLARE_READER(ModelSpec, )

// ---------------------------------------------------------------------------------------------
// C++ -> JS

inline Napi::Value to_js(Napi::Env env, double x) { return Napi::Number::New(env, x); }
inline Napi::Value to_js(Napi::Env env, int x) { return Napi::Number::New(env, x); }
// Counts and byte sizes stay below 2^53, where a JS number is exact.
inline Napi::Value to_js(Napi::Env env, int64_t x) { return Napi::Number::New(env, static_cast<double>(x)); }
inline Napi::Value to_js(Napi::Env env, bool x) { return Napi::Boolean::New(env, x); }
inline Napi::Value to_js(Napi::Env env, const std::string& s) { return Napi::String::New(env, s); }

template <class T>
Napi::Value to_js(Napi::Env env, const std::vector<T>& xs) {
  auto a = Napi::Array::New(env, xs.size());
  for (size_t i = 0; i < xs.size(); ++i) a.Set(static_cast<uint32_t>(i), to_js(env, xs[i]));
  return a;
}

// A CPU tensor of float32 or float64 -> a Float32Array / Float64Array of its values (copied).
inline Napi::Value to_js(Napi::Env env, const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU).contiguous();
  const size_t n = static_cast<size_t>(c.numel());
  if (c.scalar_type() == torch::kFloat32) {
    auto a = Napi::Float32Array::New(env, n);
    if (n > 0) std::memcpy(a.Data(), c.data_ptr<float>(), n * sizeof(float));
    return a;
  }
  if (c.scalar_type() == torch::kFloat64) {
    auto a = Napi::Float64Array::New(env, n);
    if (n > 0) std::memcpy(a.Data(), c.data_ptr<double>(), n * sizeof(double));
    return a;
  }
  throw std::logic_error(std::string("no JS typed array for a tensor of ") + c10::toString(c.scalar_type()));
}

// Named tensors -> {name: {shape: number[], data: Float32Array}}.
inline Napi::Value to_js(Napi::Env env, const NamedTensors& tensors) {
  auto o = Napi::Object::New(env);
  for (const auto& [name, t] : tensors) {
    auto entry = Napi::Object::New(env);
    entry.Set("shape", to_js(env, t.sizes().vec()));
    entry.Set("data", to_js(env, t));
    o.Set(name, entry);
  }
  return o;
}

#define FTPLAN_JS_SET_FIELD(type, name, js, init) o.Set(#js, to_js(env, r.name));
#define FTPLAN_JS_WRITER(T, FIELDS)                         \
  inline Napi::Value to_js(Napi::Env env, const T& r) {     \
    auto o = Napi::Object::New(env);                        \
    FIELDS(FTPLAN_JS_SET_FIELD)                             \
    return o;                                               \
  }
FTPLAN_JS_RESULTS(FTPLAN_JS_WRITER)

// Each result record's JS field names, in declaration order.
#define FTPLAN_JS_FIELD_NAME(type, name, js, init) #js,
#define FTPLAN_JS_RECORD_FIELDS(T, FIELDS) {#T, {FIELDS(FTPLAN_JS_FIELD_NAME)}},
inline std::vector<std::pair<std::string, std::vector<std::string>>> result_records() {
  return {FTPLAN_JS_RESULTS(FTPLAN_JS_RECORD_FIELDS)};
}

// ---------------------------------------------------------------------------------------------
// JS -> C++. `path` names the value from the call's argument ("model.nEmbd", "seqLens[2]").

inline Napi::Object as_object(const Napi::Value& v, const std::string& path) {
  if (!v.IsObject() || v.IsArray()) throw std::invalid_argument(path + " must be an object");
  return v.As<Napi::Object>();
}

// A whole number in [lo, hi] (the bounds of the C++ type, within JS's exact integers).
inline double whole(const Napi::Value& v, const std::string& path, double lo, double hi) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
  if (!(d >= lo && d <= hi && d == std::floor(d))) throw std::invalid_argument(path + " must be a whole number in [" + std::to_string(static_cast<int64_t>(lo)) + ", " + std::to_string(static_cast<int64_t>(hi)) + "]");
  return d;
}
constexpr double kMaxExact = 9007199254740991.0;  // 2^53 - 1: Number.MAX_SAFE_INTEGER

inline void from_js(const Napi::Value& v, double& out, const std::string& path) {
  if (!v.IsNumber()) throw std::invalid_argument(path + " must be a number");
  out = v.As<Napi::Number>().DoubleValue();
}
inline void from_js(const Napi::Value& v, int64_t& out, const std::string& path) { out = static_cast<int64_t>(whole(v, path, -kMaxExact, kMaxExact)); }
inline void from_js(const Napi::Value& v, uint64_t& out, const std::string& path) { out = static_cast<uint64_t>(whole(v, path, 0, kMaxExact)); }
inline void from_js(const Napi::Value& v, int& out, const std::string& path) {
  out = static_cast<int>(whole(v, path, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}
inline void from_js(const Napi::Value& v, bool& out, const std::string& path) {
  if (!v.IsBoolean()) throw std::invalid_argument(path + " must be a boolean");
  out = v.As<Napi::Boolean>().Value();
}
inline void from_js(const Napi::Value& v, std::string& out, const std::string& path) {
  if (!v.IsString()) throw std::invalid_argument(path + " must be a string");
  out = v.As<Napi::String>().Utf8Value();
}
inline void from_js(const Napi::Value& v, Dtype& out, const std::string& path) {
  std::string s;
  from_js(v, s, path);
  if (s != "fp32" && s != "bf16") throw std::invalid_argument(path + " must be fp32 or bf16");
  out = s == "bf16" ? Dtype::bf16 : Dtype::fp32;
}
inline void from_js(const Napi::Value& v, Method& out, const std::string& path) {
  std::string s;
  from_js(v, s, path);
  if (s == "full") out = Method::full;
  else if (s == "lora") out = Method::lora;
  else if (s == "qlora") out = Method::qlora;
  else if (s == "head") out = Method::head;
  else throw std::invalid_argument(path + " must be full, lora, qlora or head (got '" + s + "')");
}
inline void from_js(const Napi::Value& v, Task& out, const std::string& path) {
  std::string s;
  from_js(v, s, path);
  if (s != "classification" && s != "causal-lm") throw std::invalid_argument(path + " must be classification or causal-lm");
  out = s == "causal-lm" ? Task::causal_lm : Task::classification;
}
inline void from_js(const Napi::Value& v, RopeScaling& out, const std::string& path) {
  std::string s;
  from_js(v, s, path);
  if (s != "none" && s != "llama3") throw std::invalid_argument(path + " must be none or llama3");
  out = s == "llama3" ? RopeScaling::llama3 : RopeScaling::none;
}
inline void from_js(const Napi::Value& v, std::chrono::milliseconds& out, const std::string& path) {
  int64_t ms = 0;
  from_js(v, ms, path);
  out = std::chrono::milliseconds(ms);
}
template <class T>
void from_js(const Napi::Value& v, std::vector<T>& out, const std::string& path) {
  if (!v.IsArray()) throw std::invalid_argument(path + " must be an array");
  auto a = v.As<Napi::Array>();
  out.assign(a.Length(), T{});
  for (uint32_t i = 0; i < a.Length(); ++i) from_js(a.Get(i), out[i], path + "[" + std::to_string(i) + "]");
}
template <class T>
void from_js(const Napi::Value& v, std::optional<T>& out, const std::string& path) {
  from_js(v, out.emplace(), path);
}

// A typed array of `Elem` -> a CPU tensor of `shape` (copied: the JS buffer may change once the
// call returns), then cast to `to`.
template <class Elem, class Array>
torch::Tensor tensor_from_js(const Napi::Value& v, const std::string& path, std::vector<int64_t> shape, torch::ScalarType as, torch::ScalarType to) {
  const char* kind = std::is_same_v<Elem, int32_t> ? "an Int32Array" : std::is_same_v<Elem, float> ? "a Float32Array" : "a Float64Array";
  const napi_typedarray_type type = std::is_same_v<Elem, int32_t> ? napi_int32_array : std::is_same_v<Elem, float> ? napi_float32_array : napi_float64_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) throw std::invalid_argument(path + " must be " + kind);
  auto arr = v.As<Array>();
  int64_t n = 1;
  for (const int64_t s : shape) n *= s;
  if (static_cast<int64_t>(arr.ElementLength()) != n)
    throw std::invalid_argument(path + " has " + std::to_string(arr.ElementLength()) + " elements, expected " + std::to_string(n));
  auto t = torch::empty(shape, as);
  if (n > 0) std::memcpy(t.data_ptr(), arr.Data(), static_cast<size_t>(n) * sizeof(Elem));
  return as == to ? t : t.to(to);
}

// {batchSize, seqLen, inputIds: Int32Array [B*T], lengths: Int32Array [B], labels?: Int32Array [B],
// lmLabels?: Int32Array [B*T]}: the targets that are there are read; the model checks which it needs.
inline Batch batch_from_js(const Napi::Value& v, const std::string& path) {
  const auto o = as_object(v, path);
  int64_t B = 0, T = 0;
  from_js(o.Get("batchSize"), B, path + ".batchSize");
  from_js(o.Get("seqLen"), T, path + ".seqLen");
  if (B < 1) throw std::invalid_argument("batch size must be at least 1");
  if (T < 1) throw std::invalid_argument("sequence length must be at least 1");
  Batch b;
  b.input_ids = tensor_from_js<int32_t, Napi::Int32Array>(o.Get("inputIds"), path + ".inputIds", {B, T}, torch::kInt32, torch::kLong);
  b.lengths = tensor_from_js<int32_t, Napi::Int32Array>(o.Get("lengths"), path + ".lengths", {B}, torch::kInt32, torch::kLong);
  if (!o.Get("labels").IsUndefined()) b.labels = tensor_from_js<int32_t, Napi::Int32Array>(o.Get("labels"), path + ".labels", {B}, torch::kInt32, torch::kLong);
  if (!o.Get("lmLabels").IsUndefined())
    b.lm_labels = tensor_from_js<int32_t, Napi::Int32Array>(o.Get("lmLabels"), path + ".lmLabels", {B, T}, torch::kInt32, torch::kLong);
  return b;
}

// {name: {shape: number[], data: Float32Array}} -> named float32 tensors.
inline NamedTensors named_tensors_from_js(const Napi::Value& v, const std::string& path) {
  const auto o = as_object(v, path);
  NamedTensors out;
  const auto keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string name = keys.Get(i).As<Napi::String>().Utf8Value();
    const std::string at = path + "['" + name + "']";
    const auto entry = as_object(o.Get(name), at);
    std::vector<int64_t> shape;
    from_js(entry.Get("shape"), shape, at + ".shape");
    for (const int64_t d : shape)
      if (d < 0) throw std::invalid_argument(at + ".shape must hold sizes >= 0");
    out.emplace_back(name, tensor_from_js<float, Napi::Float32Array>(entry.Get("data"), at + ".data", shape, torch::kFloat32, torch::kFloat32));
  }
  return out;
}

// A record with a validate() overload (config.h, benchmark.h) is validated as soon as it is read.
template <class T, class = void>
struct has_validate : std::false_type {};
template <class T>
struct has_validate<T, std::void_t<decltype(validate(std::declval<const T&>()))>> : std::true_type {};
template <class T>
void validate_if_declared(const T& r) {
  if constexpr (has_validate<T>::value) validate(r);
}

template <class T>
struct is_option_record : std::false_type {};
#define FTPLAN_JS_OPTION_RECORD(T, FIELDS) \
  template <>                              \
  struct is_option_record<T> : std::true_type {};
FTPLAN_JS_OPTIONS(FTPLAN_JS_OPTION_RECORD)
FTPLAN_JS_OPTION_RECORD(ModelSpec, )

// An empty key: the field is a record whose fields sit in this same object (record.h). Absent or
// undefined: the field keeps its default, except a nested record (the model), which has none.
template <class T>
void read_field(const Napi::Object& o, const char* key, T& out, const std::string& path) {
  if (*key == '\0') return from_js(o, out, path);
  const Napi::Value v = o.Get(key);
  if (!v.IsUndefined() || is_option_record<T>::value) from_js(v, out, path.empty() ? key : path + "." + key);
}

#define FTPLAN_JS_READ_FIELD(type, name, js, init) read_field(o, #js, r.name, path);
#define FTPLAN_JS_READER(T, FIELDS)                                        \
  inline void from_js(const Napi::Value& v, T& r, const std::string& path) { \
    const auto o = as_object(v, path.empty() ? #T : path);                 \
    FIELDS(FTPLAN_JS_READ_FIELD)                                           \
    validate_if_declared(r);                                               \
  }
FTPLAN_JS_OPTIONS(FTPLAN_JS_READER)

// The model record: GPT-2's fields when modelType is absent or "gpt2", else a decoder's (its
// modelType among them); the family's own validate() runs as the record is read.
inline void from_js(const Napi::Value& v, ModelSpec& r, const std::string& path) {
  const auto o = as_object(v, path.empty() ? "model" : path);
  const Napi::Value type = o.Get("modelType");
  const bool gpt2 = type.IsUndefined() || (type.IsString() && type.As<Napi::String>().Utf8Value() == "gpt2");
  r.family = gpt2 ? Family::gpt2 : Family::decoder;
  if (gpt2) from_js(v, r.gpt2, path);
  else from_js(v, r.decoder, path);
}

// The record T read from the call's argument v (its fields named from the top: "batchSize").
template <class T>
T read_record(const Napi::Value& v) {
  T r;
  from_js(v, r, "");
  return r;
}

}  // namespace ftplan::js
