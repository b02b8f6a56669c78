// rope.cpp — see rope.h.
#include "rope.h"

#include <cmath>

namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

namespace ftplan {

torch::Tensor rope_inverse_frequencies(const DecoderConfig& cfg) {
  const int64_t D = cfg.head_dim;
  auto i = torch::arange(0, D, 2, torch::kFloat64);               // 0, 2, …, D-2
  auto inv_freq = torch::pow(cfg.rope_theta, -(i / static_cast<double>(D)));  // [D/2]
  if (cfg.rope_scaling_type != RopeScaling::llama3) return inv_freq;
  // transformers' _compute_llama3_parameters, term for term.
  const double factor = cfg.rope_scaling_factor, low = cfg.rope_low_freq_factor, high = cfg.rope_high_freq_factor;
  const double old_context = static_cast<double>(cfg.rope_original_max_position_embeddings);
  const double low_freq_wavelen = old_context / low, high_freq_wavelen = old_context / high;
  auto wavelen = (2.0 * kPi) / inv_freq;
  auto scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq);
  auto smooth = (old_context / wavelen - low) / (high - low);
  auto smoothed = (1.0 - smooth) * scaled / factor + smooth * scaled;
  auto medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return torch::where(medium, smoothed, scaled);
}

RopeTables RopeCache::get(int64_t T, const c10::Device& device) {
  if (!tables_.cos.defined() || tables_.cos.size(0) < T || tables_.cos.device() != device) {
    auto pos = torch::arange(T, torch::kFloat64);                     // [T]
    auto freqs = torch::outer(pos, inv_freq_);                         // [T, D/2]
    auto emb = torch::cat({freqs, freqs}, 1);                          // [T, D]: rotate_half pairs i, i + D/2
    tables_.cos = emb.cos().to(device, torch::kFloat32);
    tables_.sin = emb.sin().to(device, torch::kFloat32);
  }
  return {tables_.cos.narrow(0, 0, T), tables_.sin.narrow(0, 0, T)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  // HF casts cos and sin to the activations' dtype (bf16 under autocast) before multiplying.
  const auto c = cos.to(x.scalar_type()), s = sin.to(x.scalar_type());
  auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return (x * c + rotated * s).contiguous();
}

}  // namespace ftplan
