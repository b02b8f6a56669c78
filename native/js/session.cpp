// js/session.cpp — class Session: a model and its optimizer kept across calls (the run's training
// loop, evaluation, checkpoints, a data-parallel group). Part of the N-API boundary (js/worker.h).
//
// One operation at a time per session: a call claims the session and the claim ends when its
// promise settles on the JS thread; a second call meanwhile fails with ERR_BUSY (the JS side
// awaits each call, so this only catches a caller that forgot to).
#include <ATen/Parallel.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "exports.h"
#include "worker.h"

namespace ftplan::js {
namespace {

struct SessionState {
  ModelSpec model;
  TrainConfig train;
  std::unique_ptr<Trainer> trainer;
  std::shared_ptr<DistGroup> dist;
  // what this session's tensors hold, counted over its jobs from the first (made there: the device
  // is checked on the compute thread, where init() reports a bad one)
  std::unique_ptr<JobMeter> meter;
  double setup_ms = 0;
  std::atomic<bool> busy{false};
};

class Session : public Napi::ObjectWrap<Session> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Session",
                       {InstanceMethod<&Session::Init>("init"), InstanceMethod<&Session::Step>("step"),
                        InstanceMethod<&Session::Logits>("logits"), InstanceMethod<&Session::EvalLm>("lmEval"),
                        InstanceMethod<&Session::Gradients>("gradients"), InstanceMethod<&Session::SetLr>("setLr"),
                        InstanceMethod<&Session::LoadState>("loadState"), InstanceMethod<&Session::State>("state"),
                        InstanceMethod<&Session::TrainableState>("trainableState"),
                        InstanceMethod<&Session::MergedState>("mergedState"),
                        InstanceMethod<&Session::ParamInfo>("parameterInfo"),
                        InstanceMethod<&Session::SaveTrainingState>("saveTrainingState"),
                        InstanceMethod<&Session::LoadTrainingState>("loadTrainingState"),
                        InstanceMethod<&Session::InitDistributed>("initDistributed"),
                        InstanceMethod<&Session::Allreduce>("allreduce"),
                        InstanceMethod<&Session::AllreduceBenchmark>("allreduceBenchmark"),
                        InstanceMethod<&Session::Memory>("memory"), InstanceMethod<&Session::Close>("close")});
  }

  // new Session({model, ...TrainConfig})
  explicit Session(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Session>(info) {
    guarded(info.Env(), [&] {
      const auto o = as_object(info[0], "session options");
      read_field(o, "model", s_->model, "");
      read_field(o, "", s_->train, "");
      return info.Env().Undefined();
    });
  }

 private:
  void claim(Napi::Env env) {
    bool idle = false;
    if (!s_->busy.compare_exchange_strong(idle, true))
      throw js_error(env, {"ERR_BUSY", "this session is already running an operation; await it first"});
  }

  // Claims the session and queues work(state) as a Job; the claim ends when the promise settles.
  // Every job first sets the compute thread's threads to the session's (another session or a
  // benchmark may have changed them), and its allocations count in the session's meter.
  template <class Work>
  Napi::Value run(Napi::Env env, Work work) {
    claim(env);
    try {
      return queue(
          env,
          [s = s_, work = std::move(work)]() mutable {
            apply_threads(s->train.threads);
            if (!s->meter) s->meter = std::make_unique<JobMeter>(parse_device(s->train.device));
            JobMeter::Job counted(*s->meter);
            return work(*s);
          },
          [s = s_] { s->busy = false; });
    } catch (...) {
      s_->busy = false;
      throw;
    }
  }

  static Trainer& trainer(SessionState& s) {
    if (!s.trainer) throw std::invalid_argument("session not initialised, or closed: await session.init() first");
    return *s.trainer;
  }
  static DistGroup& group(SessionState& s, const char* fn) {
    if (!s.dist) throw std::invalid_argument(std::string(fn) + ": this session has not joined a process group (initDistributed)");
    return *s.dist;
  }

  // -> the model's parameter count
  Napi::Value Init(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [](SessionState& s) {
        s.trainer.reset();  // the old model's memory goes before the new one is built
        const auto t0 = std::chrono::steady_clock::now();
        s.trainer = std::make_unique<Trainer>(s.model, s.train);
        synchronize(s.trainer->device());
        s.setup_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        // training's peak from here: the build passes through what training never holds again
        // (every weight in float32 before LoRA freezes it to bf16 or QLoRA quantises it)
        s.meter->reset_peak();
        return s.trainer->model().parameter_count();
      });
    });
  }

  // (microBatches, {seeds?}?) -> StepResult
  Napi::Value Step(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      if (!info[0].IsArray()) throw std::invalid_argument("step() takes an array of micro-batches");
      const auto arr = info[0].As<Napi::Array>();
      if (arr.Length() == 0) throw std::invalid_argument("step() needs at least one micro-batch");
      std::vector<Batch> micro;
      for (uint32_t i = 0; i < arr.Length(); ++i) micro.push_back(batch_from_js(arr.Get(i), "microBatches[" + std::to_string(i) + "]"));
      std::vector<uint64_t> seeds;
      if (!info[1].IsUndefined()) read_field(as_object(info[1], "step options"), "seeds", seeds, "");
      return run(info.Env(), [micro = std::move(micro), seeds = std::move(seeds)](SessionState& s) { return trainer(s).step(micro, seeds); });
    });
  }

  // (batch) -> Float32Array of logits: [B, K] (classification), [B, T, V] (causal-lm)
  Napi::Value Logits(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [b = batch_from_js(info[0], "batch")](SessionState& s) { return trainer(s).logits(b); });
    });
  }

  // (batch with lmLabels) -> LmEval: per-row loss sums, targets, argmax hits (causal-lm)
  Napi::Value EvalLm(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [b = batch_from_js(info[0], "batch")](SessionState& s) { return trainer(s).lm_eval(b); });
    });
  }

  // (batch with its targets, {training?, seed?}?) -> LossGradients: the loss and every trainable
  // parameter's gradient; dropout off unless training (then the generators are seeded first)
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      bool training = false;
      uint64_t seed = 0;
      if (!info[1].IsUndefined()) {
        const auto o = as_object(info[1], "gradients options");
        read_field(o, "training", training, "");
        read_field(o, "seed", seed, "");
      }
      return run(info.Env(), [b = batch_from_js(info[0], "batch"), training, seed](SessionState& s) {
        return trainer(s).loss_and_gradients(b, training, seed);
      });
    });
  }

  // (lr): on the JS thread, between operations (the optimizer only reads it during a step).
  Napi::Value SetLr(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      double lr = 0;
      from_js(info[0], lr, "lr");
      claim(info.Env());
      struct Release {
        SessionState& s;
        ~Release() { s.busy = false; }
      } release{*s_};
      trainer(*s_).set_lr(lr);
      return info.Env().Undefined();
    });
  }

  // ({name: {shape, data}}) -> StateLoadReport
  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [tensors = named_tensors_from_js(info[0], "state")](SessionState& s) {
        return load_parameters(trainer(s).model(), tensors);
      });
    });
  }

  // -> {name: {shape, data: Float32Array}}
  Napi::Value State(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] { return run(info.Env(), [](SessionState& s) { return parameters_on_cpu(trainer(s).model()); }); });
  }

  // -> the trainable parameters only (LoRA A/B, the head, unfrozen blocks)
  Napi::Value TrainableState(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [](SessionState& s) { return model_state(trainer(s).model(), StateKind::trainable); });
    });
  }

  // -> HF names only, each LoRA delta merged into its weight
  Napi::Value MergedState(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [](SessionState& s) { return model_state(trainer(s).model(), StateKind::merged); });
    });
  }

  // -> ParameterInfo: totals, trainable, bytes as held, the modules with adapters
  Napi::Value ParamInfo(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] { return run(info.Env(), [](SessionState& s) { return parameter_info(trainer(s).model()); }); });
  }

  Napi::Value SaveTrainingState(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      std::string path;
      from_js(info[0], path, "path");
      return run(info.Env(), [path](SessionState& s) { trainer(s).save_training_state(path); });
    });
  }

  Napi::Value LoadTrainingState(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      std::string path;
      from_js(info[0], path, "path");
      return run(info.Env(), [path](SessionState& s) { trainer(s).load_training_state(path); });
    });
  }

  // (DistOptions) -> DistInfo; after init(): the group runs on the trainer's device.
  Napi::Value InitDistributed(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [o = read_record<DistOptions>(info[0])](SessionState& s) mutable {
        Trainer& t = trainer(s);
        if (s.dist) throw std::invalid_argument("this session already joined a process group");
        o.device = t.device().str();
        s.dist = std::make_shared<DistGroup>(o);
        t.set_distributed(s.dist);
        return s.dist->info();
      });
    });
  }

  // (Float64Array) -> Float64Array: the element-wise sum across the group
  Napi::Value Allreduce(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      const auto& v = info[0];
      const int64_t n = v.IsTypedArray() ? static_cast<int64_t>(v.As<Napi::TypedArray>().ElementLength()) : 0;
      auto values = tensor_from_js<double, Napi::Float64Array>(v, "values", {n}, torch::kFloat64, torch::kFloat64);
      return run(info.Env(), [values](SessionState& s) { return group(s, "allreduce()").allreduce_sum(values); });
    });
  }

  // ({bytes, iters?}) -> median ms of each size
  Napi::Value AllreduceBenchmark(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [t = read_record<AllreduceTiming>(info[0])](SessionState& s) {
        return group(s, "allreduceBenchmark()").time_allreduce(t);
      });
    });
  }

  // -> SessionMemory: what the session's tensors hold now and at most since init(), its device
  Napi::Value Memory(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [](SessionState& s) {
        Trainer& t = trainer(s);
        SessionMemory m;
        m.device = t.device().str();
        m.device_name = device_name(t.device());
        m.device_memory_bytes = device_total_memory(t.device());
        m.threads = at::get_num_threads();
        m.source = t.device().is_cuda() ? "cuda-caching-allocator" : "cpu-counting-allocator";
        m.setup_ms = s.setup_ms;
        m.current_bytes = s.meter->current();
        m.peak_bytes = std::max(s.meter->peak(), m.current_bytes);
        m.trainable_state_bytes = t.trainable_state_bytes();
        return m;
      });
    });
  }

  // Lets go of the model, its optimizer and its process group now rather than when the garbage
  // collector finds the session: a caller that builds models one after another (a proxy's depths)
  // would otherwise hold them all. init() builds it again.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return run(info.Env(), [](SessionState& s) {
        s.dist.reset();
        s.trainer.reset();
      });
    });
  }

  std::shared_ptr<SessionState> s_ = std::make_shared<SessionState>();
};

}  // namespace

Napi::Function defineSession(Napi::Env env) { return Session::Define(env); }

}  // namespace ftplan::js
