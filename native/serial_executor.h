// serial_executor.h — one long-lived native thread that runs the addon's LibTorch work, one task at
// a time, in the order the JS calls were made.
//
// Why one thread: Node's AsyncWorkers run on libuv's thread pool, a different thread from call to
// call. Under OpenMP every calling thread gets its own team of worker threads (and its own
// thread-count setting), so a training loop spread over the pool's threads kept several teams alive
// and contending: steps measured 20-50% slower and far noisier than the same steps run from one
// thread (a benchmark followed by a training session in one process: 34 ms against 26 ms per step).
//
// Why tickets: the order of two calls is fixed when they are made, on the JS thread, not when
// libuv's pool threads happen to reach this executor (two workers started on two pool threads race,
// and a std::mutex is not fair). A caller takes a ticket on the JS thread (take_ticket) and its task
// runs when every earlier ticket has run or been given up (abandon: a job that was never queued).
// A ticket must end in exactly one run() or abandon(), or every later task waits forever.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

namespace ftplan {

class SerialExecutor {
 public:
  using Ticket = uint64_t;

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

  // A place in line; take it on the thread whose call order should be kept (the JS thread).
  Ticket take_ticket() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_ticket_++;
  }

  // Waits for the ticket's turn, runs fn on the executor's thread and waits for it; an exception
  // thrown by fn is rethrown here.
  void run(Ticket ticket, const std::function<void()>& fn) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return serving_ == ticket; });
    task_ = &fn;
    error_ = nullptr;
    done_ = false;
    cv_.notify_all();
    cv_.wait(lock, [this] { return done_; });
    std::exception_ptr error = error_;
    advance();
    lock.unlock();
    cv_.notify_all();
    if (error) std::rethrow_exception(error);
  }

  // A ticket whose task will never run: later tickets do not wait for it.
  void abandon(Ticket ticket) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ticket != serving_) {
        abandoned_.insert(ticket);
        return;
      }
      advance();
    }
    cv_.notify_all();
  }

 private:
  // With mu_ held: the next ticket's turn, skipping the abandoned ones.
  void advance() {
    ++serving_;
    for (auto it = abandoned_.begin(); it != abandoned_.end() && *it == serving_; it = abandoned_.erase(it)) ++serving_;
  }

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

  std::mutex mu_;
  std::condition_variable cv_;
  Ticket next_ticket_ = 0;
  Ticket serving_ = 0;
  std::set<Ticket> abandoned_;
  const std::function<void()>* task_ = nullptr;
  std::exception_ptr error_;
  bool done_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: started after the fields it reads are initialised
};

}  // namespace ftplan
