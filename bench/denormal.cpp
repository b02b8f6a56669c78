// bench/denormal.cpp — what a denormal AdamW first moment costs on this CPU, and what FTZ + DAZ
// (native/device.h: flushed on ftplan's compute thread and its OpenMP threads) gives back.
// An AdamW-shaped pass (m, v, p) over 3.2 M floats — `tiny`'s embedding — with m normal, then m
// denormal (an embedding row seen once decays by β1 = 0.9 a step into that range ~700 steps later).
//   g++ -O3 -march=x86-64-v3 bench/denormal.cpp -o /tmp/denormal && /tmp/denormal
#include <chrono>
#include <cstdio>
#include <vector>
#include <xmmintrin.h>
#include <pmmintrin.h>
double run(float start) {
  std::vector<float> m(3200000, start), v(3200000, 1e-8f), p(3200000, 0.01f);
  auto t0 = std::chrono::steady_clock::now();
  for (int it = 0; it < 20; ++it)
    for (size_t i = 0; i < m.size(); ++i) {
      m[i] = m[i] * 0.9f + 0.1f * 0.0f;
      v[i] = v[i] * 0.999f;
      p[i] -= 1e-3f * m[i] / (__builtin_sqrtf(v[i]) + 1e-8f);
    }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 20;
}
int main() {
  for (int rep = 0; rep < 2; ++rep) {
    std::printf("normal m: %.2f ms/pass; denormal m: %.2f ms/pass", run(1e-3f), run(1e-39f));
    _mm_setcsr(_mm_getcsr() | 0x8040);
    std::printf(" | FTZ+DAZ: normal %.2f, denormal %.2f\n", run(1e-3f), run(1e-39f));
    _mm_setcsr(_mm_getcsr() & ~0x8040);
  }
}
