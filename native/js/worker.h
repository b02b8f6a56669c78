// js/worker.h — how a call from JS runs: one AsyncWorker for every asynchronous export, the thread
// all LibTorch work runs on, and C++ exceptions turned into JS errors with a code.
//
// The N-API boundary is native/addon.cpp (the exports) and native/js/ (this file, records.h and
// the export bodies): only these files include napi.h. The model, trainer, benchmark, memory and
// device code never sees N-API; it takes and returns the plain records of record.h and throws
// std::invalid_argument when asked for something it cannot do.
//
// A job's lifecycle (sharp's and better-sqlite3's pattern): on the JS thread the export reads its
// arguments into C++ values and queues a Job holding a lambda over them; the Job takes its place
// in line (SerialExecutor ticket) at once, so jobs run in the order of the calls. Execute(), on a
// libuv pool thread, hands the lambda to the compute thread and waits: pure C++, every exception
// caught into the job. OnOK(), back on the JS thread, converts the result (records.h) and resolves
// the promise, or rejects it with the error and its code.
#pragma once

#include <napi.h>
#include <c10/util/Exception.h>

#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../serial_executor.h"
#include "records.h"

namespace ftplan::js {

// Every exception becomes (code, message) here. std::invalid_argument: ERR_INVALID_ARGUMENT (a
// request the native side cannot serve); std::bad_alloc and LibTorch's allocation failures:
// ERR_OUT_OF_MEMORY; any other c10::Error: ERR_TORCH; anything else: ERR_NATIVE. (ERR_BUSY is a
// session's own, js/session.cpp.)
struct NativeError {
  std::string code;
  std::string message;
};

inline NativeError classify(const std::exception_ptr& ep) {
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

inline Napi::Error js_error(Napi::Env env, const NativeError& e) {
  auto err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, e.code));
  return err;
}

// Runs fn on the JS thread; a C++ exception becomes a thrown JS error with a code (a Napi::Error
// is one already). No C++ exception reaches Node's abort path.
template <class Fn>
Napi::Value guarded(Napi::Env env, Fn&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw js_error(env, classify(std::current_exception()));
  }
}

// The thread all LibTorch work runs on (serial_executor.h says why); never destroyed, as it lives
// as long as the process.
inline SerialExecutor& compute_thread() {
  static SerialExecutor* executor = new SerialExecutor();
  return *executor;
}

// Runs work on the compute thread, in line after the calls made before, and waits for it: for the
// synchronous exports (self-checks, switches), which block the JS thread by design.
template <class Work>
auto on_compute_thread(Work&& work) {
  using Result = std::invoke_result_t<Work&>;
  auto& executor = compute_thread();
  if constexpr (std::is_void_v<Result>) {
    executor.run(executor.take_ticket(), [&] { work(); });
  } else {
    std::optional<Result> result;
    executor.run(executor.take_ticket(), [&] { result.emplace(work()); });
    return std::move(*result);
  }
}

// The one AsyncWorker: `work` (a lambda over already-converted C++ values) runs on the compute
// thread; its result is converted with to_js; `settled` runs on the JS thread just before the
// promise settles, either way.
template <class Work>
class Job final : public Napi::AsyncWorker {
 public:
  using Result = std::invoke_result_t<Work&>;

  Job(Napi::Env env, Work work, std::function<void()> settled)
      : Napi::AsyncWorker(env, "ftplan"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        settled_(std::move(settled)),
        ticket_(compute_thread().take_ticket()) {}
  ~Job() override {
    if (!started_) compute_thread().abandon(ticket_);  // never queued: later jobs must not wait for it
  }
  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    started_ = true;
    try {
      compute_thread().run(ticket_, [this] {
        if constexpr (std::is_void_v<Result>) work_();
        else result_.emplace(work_());
      });
    } catch (...) {
      error_ = classify(std::current_exception());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (settled_) settled_();
    if (error_) {
      deferred_.Reject(js_error(env, *error_).Value());
      return;
    }
    try {
      if constexpr (std::is_void_v<Result>) deferred_.Resolve(env.Undefined());
      else deferred_.Resolve(to_js(env, *result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(js_error(env, classify(std::current_exception())).Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    if (settled_) settled_();
    deferred_.Reject(e.Value());
  }

 private:
  struct Nothing {};
  Napi::Promise::Deferred deferred_;
  Work work_;
  std::function<void()> settled_;
  SerialExecutor::Ticket ticket_;
  bool started_ = false;
  std::optional<std::conditional_t<std::is_void_v<Result>, Nothing, Result>> result_;
  std::optional<NativeError> error_;
};

// Queues work as a Job and returns its promise.
template <class Work>
Napi::Promise queue(Napi::Env env, Work work, std::function<void()> settled = nullptr) {
  auto* job = new Job<Work>(env, std::move(work), std::move(settled));
  const Napi::Promise promise = job->promise();
  try {
    job->Queue();
  } catch (...) {
    delete job;
    throw;
  }
  return promise;
}

}  // namespace ftplan::js
