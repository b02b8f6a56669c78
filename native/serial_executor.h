// serial_executor.h — one long-lived native thread that runs the addon's LibTorch work, one task at
// a time, in the order the calls were made.
//
// Why: Node's AsyncWorkers run on libuv's thread pool, a different thread from call to call. Under
// OpenMP every calling thread gets its own team of worker threads (and its own thread-count
// setting), so a training loop spread over the pool's threads kept several teams alive and
// contending: steps measured 20-50% slower and far noisier than the same steps run from one thread
// (a benchmark followed by a training session in one process: 34 ms against 26 ms per step). All
// work therefore runs on this one thread; an AsyncWorker only waits for it (several waiting
// workers queue on its mutex).
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace ftplan {

class SerialExecutor {
 public:
  SerialExecutor() : thread_([this] { loop(); }) {}
  ~SerialExecutor() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // Runs fn on the executor's thread and waits; an exception thrown by fn is rethrown here.
  void run(const std::function<void()>& fn) {
    std::lock_guard<std::mutex> one_at_a_time(callers_);
    std::unique_lock<std::mutex> lock(mu_);
    task_ = &fn;
    error_ = nullptr;
    done_ = false;
    cv_.notify_all();
    cv_.wait(lock, [this] { return done_; });
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || task_ != nullptr; });
      if (stopping_) return;
      const std::function<void()>* fn = task_;
      task_ = nullptr;
      lock.unlock();
      std::exception_ptr err;
      try {
        (*fn)();
      } catch (...) {
        err = std::current_exception();
      }
      lock.lock();
      error_ = err;
      done_ = true;
      cv_.notify_all();
    }
  }

  std::mutex callers_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* task_ = nullptr;
  std::exception_ptr error_;
  bool done_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: started after the fields it reads are initialised
};

}  // namespace ftplan
