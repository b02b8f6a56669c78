// switch.h — a process-wide on/off setting for a native fast path: on unless its environment
// variable is "1" when first read, and flipped at run time for side-by-side benchmarks
// (dropout.h: FTPLAN_TORCH_DROPOUT, attention.h: FTPLAN_UNFUSED_ATTENTION, device.h:
// FTPLAN_KEEP_DENORMALS, gpt2.h: FTPLAN_FULL_LAST_BLOCK).
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ftplan {

class Switch {
 public:
  explicit Switch(const char* off_var) : on_(!set_to_one(off_var)) {}
  bool on() const { return on_.load(); }
  void set(bool on) { on_.store(on); }

 private:
  static bool set_to_one(const char* var) {
    const char* e = std::getenv(var);
    return e != nullptr && std::strcmp(e, "1") == 0;
  }
  std::atomic<bool> on_;
};

}  // namespace ftplan

// Defines `bool getter()` and `void setter(bool)` over one process-wide Switch, off when the
// environment variable off_var is "1" (use inside namespace ftplan, in the fast path's .cpp).
#define FTPLAN_SWITCH_ACCESSORS(getter, setter, off_var) \
  static ::ftplan::Switch& getter##_switch() {            \
    static ::ftplan::Switch s(off_var);                    \
    return s;                                              \
  }                                                        \
  bool getter() { return getter##_switch().on(); }         \
  void setter(bool on) { getter##_switch().set(on); }
