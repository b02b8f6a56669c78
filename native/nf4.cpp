// nf4.cpp — see nf4.h. Each step mirrors bitsandbytes' default backend (backends/default/ops.py)
// with the same torch op, so the float32 results are the same bits.
#include "nf4.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compat.h"

namespace ftplan {

namespace {

// bitsandbytes' backends/utils.py _NF4_QUANT_TABLE (the QLoRA paper's NF4 values).
constexpr float kNf4Values[16] = {-1.0f,
                                  -0.6961928009986877f,
                                  -0.5250730514526367f,
                                  -0.39491748809814453f,
                                  -0.28444138169288635f,
                                  -0.18477343022823334f,
                                  -0.09105003625154495f,
                                  0.0f,
                                  0.07958029955625534f,
                                  0.16093020141124725f,
                                  0.24611230194568634f,
                                  0.33791524171829224f,
                                  0.44070982933044434f,
                                  0.5626170039176941f,
                                  0.7229568362236023f,
                                  1.0f};

// Midpoints between adjacent codes: (code[:-1] + code[1:]) / 2.
torch::Tensor midpoints(const torch::Tensor& code) {
  const auto n = code.size(0);
  return (code.narrow(0, 0, n - 1) + code.narrow(0, 1, n - 1)) / 2;
}

// The blockwise absmax scaling both quantisers share: returns (scaled values in [-1, 1], absmax).
// bitsandbytes: full blocks as A * (1.0 / absmax.clamp(min=1e-38)) — Python's 1.0 / t is
// t.reciprocal() * 1.0 — and a short last block as A / am with am clamped; an all-zero block
// scales to zeros (1e-38 is a float32 subnormal, which flush-to-zero would turn into 1 / 0).
std::pair<torch::Tensor, torch::Tensor> scale_blocks(const torch::Tensor& a, int64_t blocksize) {
  const auto flat = a.reshape({-1}).to(torch::kFloat32);
  const int64_t n = flat.numel(), rem = n % blocksize, full = n - rem, blocks = full / blocksize;
  std::vector<torch::Tensor> scaled, absmax;
  if (blocks > 0) {
    const auto com = flat.narrow(0, 0, full).reshape({blocks, blocksize});
    const auto am = std::get<0>(com.abs().max(-1));
    auto s = torch::clamp(com * am.clamp_min(1e-38).reciprocal().view({-1, 1}), -1, 1);
    s.masked_fill_(am.eq(0).view({-1, 1}), 0.0);
    scaled.push_back(s.reshape({-1}));
    absmax.push_back(am);
  }
  if (rem > 0) {
    const auto tail = flat.narrow(0, full, rem);
    const auto am = tail.abs().max().clamp_min(1e-38);
    auto s = torch::clamp(tail / am, -1, 1);
    if (tail.abs().max().item<float>() == 0.0f) s.zero_();
    scaled.push_back(s);
    absmax.push_back(am.unsqueeze(0));
  }
  return {torch::cat(scaled), torch::cat(absmax)};
}

// values [n] float32 * absmax per block of `blocksize` (the last one may be short).
torch::Tensor times_block_scale(const torch::Tensor& values, const torch::Tensor& absmax, int64_t blocksize) {
  const int64_t n = values.numel(), rem = n % blocksize, full = n - rem, blocks = full / blocksize;
  if (rem == 0) return (values.view({-1, blocksize}) * absmax.view({-1, 1})).reshape({n});
  auto out = torch::empty({n}, values.options());
  if (blocks > 0) out.narrow(0, 0, full).copy_((values.narrow(0, 0, full).view({-1, blocksize}) * absmax.narrow(0, 0, blocks).view({-1, 1})).reshape({full}));
  out.narrow(0, full, rem).copy_(values.narrow(0, full, rem) * absmax[blocks]);
  return out;
}

}  // namespace

bool autocast_on(c10::DeviceType device) {
#if FTPLAN_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

torch::Tensor nf4_code(const c10::Device& device) {
  // Built once and never freed: a static tensor's destructor could run after the allocator's.
  static const auto* cpu = new torch::Tensor(torch::from_blob(const_cast<float*>(kNf4Values), {16}, torch::kFloat32).clone());
  return cpu->to(device);  // the same tensor on the CPU
}

namespace {
torch::Tensor build_dynamic_map();
}

torch::Tensor dynamic_map(const c10::Device& device) {
  static const auto* cpu = new torch::Tensor(build_dynamic_map());  // as nf4_code's
  return cpu->to(device);
}

namespace {
torch::Tensor build_dynamic_map() {
  // create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for exponent i, the means
  // of linspace(0.1, 1, 2^i + 1) (float32) times ±10^(i-6); then 0 and 1; sorted. 2·127 + 2 = 256.
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    const auto boundaries = torch::linspace(0.1, 1, (1 << i) + 1, torch::kFloat32);
    const auto n = boundaries.size(0);
    const auto means = (boundaries.narrow(0, 0, n - 1) + boundaries.narrow(0, 1, n - 1)) / 2.0;
    const double scale = std::pow(10.0, static_cast<double>(i - 6));
    for (const double sign : {1.0, -1.0}) {
      const auto v = (means * (sign * scale)).contiguous();
      data.insert(data.end(), v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  return torch::tensor(data, torch::kFloat32);
}
}  // namespace

std::pair<torch::Tensor, torch::Tensor> quantize_blockwise(const torch::Tensor& a, const torch::Tensor& code, int64_t blocksize) {
  auto [scaled, absmax] = scale_blocks(a, blocksize);
  auto q = torch::bucketize(scaled, midpoints(code.to(scaled.device())), /*out_int32=*/true).to(torch::kUInt8);
  return {q.reshape(a.sizes()), absmax};
}

torch::Tensor dequantize_blockwise(const torch::Tensor& q, const torch::Tensor& absmax, const torch::Tensor& code, int64_t blocksize) {
  const auto values = code.to(q.device()).index_select(0, q.reshape({-1}).to(torch::kLong));
  return times_block_scale(values, absmax, blocksize).reshape(q.sizes());
}

int64_t Nf4Tensor::numel() const {
  int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

int64_t Nf4Tensor::bytes() const {
  int64_t b = codes.numel();
  for (const auto* t : {&absmax, &qabsmax, &absmax2, &offset})
    if (t->defined()) b += t->numel() * static_cast<int64_t>(t->element_size());
  return b;
}

torch::Tensor Nf4Tensor::scales() const {
  if (!double_quant()) return absmax;
  // dequantize_4bit: absmax = dequantize_blockwise(qabsmax, state2); absmax += offset
  return dequantize_blockwise(qabsmax, absmax2, dynamic_map(qabsmax.device()), kNf4AbsmaxBlock) + offset;
}

namespace {
// Every byte's two NF4 values, [256, 2] float32: row b = (code[b >> 4], code[b & 15]). One lookup a
// byte instead of shifting and masking each nibble into its own int64 index: the values and their
// order are bitsandbytes' (the high nibble first), with a third of the memory traffic.
torch::Tensor nf4_pair_table(const c10::Device& device) {
  static const auto* cpu = [] {
    auto* t = new torch::Tensor(torch::empty({256, 2}, torch::kFloat32));  // never freed, as nf4_code's
    auto* p = t->data_ptr<float>();
    for (int b = 0; b < 256; ++b) {
      p[2 * b] = kNf4Values[b >> 4];
      p[2 * b + 1] = kNf4Values[b & 0xF];
    }
    return t;
  }();
  return cpu->to(device);
}
}  // namespace

torch::Tensor Nf4Tensor::dequantize(at::ScalarType dtype) const {
  const int64_t n = numel();
  // float32 values, as bitsandbytes keeps them (int32 indices: index_select takes them on CPU and CUDA)
  const auto values = nf4_pair_table(codes.device()).index_select(0, codes.reshape({-1}).to(torch::kInt32)).reshape({-1}).narrow(0, 0, n);
  const auto absmax = scales();
  if (n % kNf4Block == 0) {
    // the product in float32, rounded once into `dtype` as it is stored: the bits of (values · absmax).to(dtype)
    auto out = torch::empty({n / kNf4Block, kNf4Block}, values.options().dtype(dtype));
    at::mul_out(out, values.view({-1, kNf4Block}), absmax.view({-1, 1}));
    return out.view(shape);
  }
  return times_block_scale(values, absmax, kNf4Block).reshape(shape).to(dtype);
}

namespace {
// The per-block scales as bitsandbytes keeps them: plain, or (double quantisation) themselves
// quantised, quantize_4bit(compress_statistics=True): offset = absmax.mean();
// quantize_blockwise(absmax - offset, blocksize=256).
Nf4Tensor with_scales(Nf4Tensor t, const torch::Tensor& absmax, bool double_quant) {
  if (!double_quant) {
    t.absmax = absmax;
    return t;
  }
  t.offset = absmax.mean();
  auto [qa, a2] = quantize_blockwise(absmax - t.offset, dynamic_map(absmax.device()), kNf4AbsmaxBlock);
  t.qabsmax = qa;
  t.absmax2 = a2;
  return t;
}
}  // namespace

Nf4Tensor nf4_quantize(const torch::Tensor& w, bool double_quant) {
  torch::NoGradGuard no_grad;
  if (w.numel() == 0) throw std::invalid_argument("nf4: cannot quantise an empty weight");
  auto [scaled, absmax] = scale_blocks(w.detach(), kNf4Block);
  if (scaled.numel() % 2) scaled = torch::cat({scaled, torch::zeros({1}, scaled.options())});
  const auto q = torch::bucketize(scaled, midpoints(nf4_code(scaled.device())), /*out_int32=*/true);
  const int64_t half = q.numel() / 2;
  const auto pairs = q.view({half, 2});
  Nf4Tensor t;
  t.codes = (pairs.select(1, 0) * 16 + pairs.select(1, 1)).to(torch::kUInt8).contiguous();
  t.shape = w.sizes().vec();
  return with_scales(std::move(t), absmax, double_quant);
}

Nf4Tensor nf4_quantize_periodic(const torch::Tensor& w, int64_t period, bool double_quant) {
  torch::NoGradGuard no_grad;
  const int64_t n = w.numel();
  if (period <= 0 || period % kNf4Block != 0 || n % kNf4Block != 0 || n <= period) return nf4_quantize(w, double_quant);
  // Blocks of 64 and byte pairs both tile the period: the whole weight's codes and scales are
  // the first period's, repeated.
  const auto first = nf4_quantize(w.reshape({-1}).narrow(0, 0, period), /*double_quant=*/false);
  const auto repeat_to = [](const torch::Tensor& x, int64_t count) {
    return x.repeat({(count + x.numel() - 1) / x.numel()}).narrow(0, 0, count).contiguous();
  };
  Nf4Tensor t;
  t.codes = repeat_to(first.codes, n / 2);
  t.shape = w.sizes().vec();
  return with_scales(std::move(t), repeat_to(first.absmax, n / kNf4Block), double_quant);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor rebuild(const variable_list& s, const std::vector<int64_t>& shape, at::ScalarType held, at::ScalarType ct) {
  Nf4Tensor t;
  t.codes = s[0];
  t.shape = shape;
  if (s[2].numel() > 0) {
    t.qabsmax = s[2];
    t.absmax2 = s[3];
    t.offset = s[4];
  } else {
    t.absmax = s[1];
  }
  return t.dequantize(held).to(ct);
}

// Inputs: x, then the quantised weight's tensors (no gradient), then its shape and dtypes.
struct Nf4LinearFn : public torch::autograd::Function<Nf4LinearFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& codes, const torch::Tensor& absmax,
                               const torch::Tensor& qabsmax, const torch::Tensor& absmax2, const torch::Tensor& offset,
                               std::vector<int64_t> shape, int64_t held, int64_t compute) {
    const auto ct = static_cast<at::ScalarType>(compute);
    ctx->save_for_backward({codes, absmax, qabsmax, absmax2, offset});
    ctx->saved_data["shape"] = shape;
    ctx->saved_data["held"] = held;
    ctx->saved_data["compute"] = compute;
    ctx->saved_data["x_dtype"] = static_cast<int64_t>(x.scalar_type());
    const auto w = rebuild({codes, absmax, qabsmax, absmax2, offset}, shape, static_cast<at::ScalarType>(held), ct);
    return torch::matmul(x.to(ct), w.t());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const auto ct = static_cast<at::ScalarType>(ctx->saved_data["compute"].toInt());
    const auto w = rebuild(s, ctx->saved_data["shape"].toIntVector(), static_cast<at::ScalarType>(ctx->saved_data["held"].toInt()), ct);
    auto gx = torch::matmul(grads[0].to(ct), w).to(static_cast<at::ScalarType>(ctx->saved_data["x_dtype"].toInt()));
    variable_list out(9);
    out[0] = gx;
    return out;
  }
};

}  // namespace

torch::Tensor nf4_linear(const torch::Tensor& x, const Nf4Tensor& w, at::ScalarType held) {
  const auto ct = autocast_on(x.device().type()) ? torch::kBFloat16 : x.scalar_type();
  const auto none = torch::empty({0}, w.codes.options().dtype(torch::kFloat32));
  const bool dq = w.double_quant();
  return Nf4LinearFn::apply(x, w.codes, dq ? none : w.absmax, dq ? w.qabsmax : none, dq ? w.absmax2 : none, dq ? w.offset : none, w.shape,
                            static_cast<int64_t>(held), static_cast<int64_t>(ct));
}

Nf4Check nf4_check(const torch::Tensor& values, bool double_quant) {
  const auto t = nf4_quantize(values, double_quant);
  auto ints = [](const torch::Tensor& x) {
    const auto c = x.to(torch::kLong).contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  auto reals = [](const torch::Tensor& x) {
    const auto c = x.to(torch::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  Nf4Check r;
  r.codes = ints(t.codes);
  if (double_quant) {
    r.qabsmax = ints(t.qabsmax);
    r.absmax2 = reals(t.absmax2);
    r.offset = t.offset.item<double>();
  } else {
    r.absmax = reals(t.absmax);
  }
  r.dequantized = reals(t.dequantize(torch::kFloat32).reshape({-1}));
  r.bytes = t.bytes();
  return r;
}

}  // namespace ftplan
