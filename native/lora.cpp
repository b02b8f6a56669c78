// lora.cpp — see lora.h.
#include "lora.h"

#include <stdexcept>

#include "dropout.h"
#include "synthetic_init.h"

namespace ftplan {

namespace F = torch::nn::functional;

LinearImpl::LinearImpl(int64_t in, int64_t out, bool bias) : in_(in), out_(out) {
  if (synthetic_init()) {  // filled by the model's initialisation (synthetic_init.h)
    weight = register_parameter("weight", torch::empty({out, in}));
    if (bias) this->bias = register_parameter("bias", torch::zeros({out}));
    return;
  }
  // torch::nn::Linear's own parameters and initialisation (it draws from the generator exactly as
  // it always did, so a seeded model is the same model).
  torch::nn::Linear init(torch::nn::LinearOptions(in, out).bias(bias));
  weight = register_parameter("weight", init->weight.detach());
  if (bias) this->bias = register_parameter("bias", init->bias.detach());
}

torch::Tensor LinearImpl::base(const torch::Tensor& x, int64_t first, int64_t count) {
  const bool all = first == 0 && count == out_;
  if (nf4_) {
    auto y = nf4_linear(x, *nf4_, held_);
    if (!all) y = y.narrow(-1, first, count);
    if (bias.defined()) y = y + (all ? bias : bias.narrow(0, first, count)).to(y.scalar_type());
    return y;
  }
  auto w = all ? weight : weight.narrow(0, first, count);
  const auto b = all || !bias.defined() ? bias : bias.narrow(0, first, count);
  // A weight held in bf16 computes in the input's dtype (autocast casts by itself).
  if (w.scalar_type() != x.scalar_type() && !autocast_on(x.device().type())) w = w.to(x.scalar_type());
  return F::linear(x, w, b);
}

torch::Tensor LinearImpl::forward_rows(const torch::Tensor& x, int64_t first, int64_t count) {
  auto y = base(x, first, count);
  if (!has_lora()) return y;
  const auto h = lora_A(dropout_ > 0 ? ftplan::dropout(x, dropout_, is_training()) : x);
  const bool all = first == 0 && count == out_;
  return y + (all ? lora_B(h) : F::linear(h, lora_B->weight.narrow(0, first, count))) * scaling_;
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return forward_rows(x, 0, out_); }

void LinearImpl::freeze(at::ScalarType held) {
  torch::NoGradGuard no_grad;
  weight.set_requires_grad(false);
  if (bias.defined()) bias.set_requires_grad(false);
  if (!nf4_ && weight.scalar_type() != held) weight.set_data(synthetic_to(weight, held));
  held_ = held;
}

void LinearImpl::quantize_nf4(bool double_quant, at::ScalarType held) {
  torch::NoGradGuard no_grad;
  if (nf4_) return;
  freeze(torch::kFloat32);
  // a synthetic weight repeats one tile: quantising that tile is quantising the weight, and only
  // the tile is written
  if (synthetic_init()) fill_pending_prefix(weight, kSyntheticPeriod);
  nf4_ = synthetic_init() ? nf4_quantize_periodic(weight, kSyntheticPeriod, double_quant) : nf4_quantize(weight, double_quant);
  nf4_double_quant_ = double_quant;
  held_ = held;
  // Buffers: they move with the module (.to(device)); nf4_ shares their tensors.
  auto& t = *nf4_;
  t.codes = register_buffer("weight_nf4", t.codes);
  if (double_quant) {
    t.qabsmax = register_buffer("weight_nf4_qabsmax", t.qabsmax);
    t.absmax2 = register_buffer("weight_nf4_absmax2", t.absmax2);
    t.offset = register_buffer("weight_nf4_offset", t.offset);
  } else {
    t.absmax = register_buffer("weight_nf4_absmax", t.absmax);
  }
  weight.set_data(torch::empty({0}, weight.options().dtype(torch::kFloat32)));
}

void LinearImpl::add_lora(int64_t r, double alpha, double dropout) {
  if (has_lora()) return;
  if (r < 1) throw std::invalid_argument("lora r must be at least 1");
  const auto device = nf4_ ? nf4_->codes.device() : weight.device();
  lora_A = register_module("lora_A", torch::nn::Linear(torch::nn::LinearOptions(in_, r).bias(false)));  // Kaiming-uniform, a = sqrt(5)
  lora_B = register_module("lora_B", torch::nn::Linear(torch::nn::LinearOptions(r, out_).bias(false)));
  {
    torch::NoGradGuard no_grad;
    lora_B->weight.zero_();
  }
  lora_A->to(device);
  lora_B->to(device);
  scaling_ = alpha / static_cast<double>(r);
  dropout_ = dropout;
}

torch::Tensor LinearImpl::dense_weight() const {
  torch::NoGradGuard no_grad;
  if (nf4_) return nf4_->dequantize(held_).to(torch::kFloat32);
  return weight.detach().to(torch::kFloat32);
}

torch::Tensor LinearImpl::merged_weight() const {
  torch::NoGradGuard no_grad;
  auto w = dense_weight();
  if (!has_lora()) return w;
  // PEFT's get_delta_weight: (B @ A) * scaling
  return w + torch::mm(lora_B->weight.to(torch::kFloat32), lora_A->weight.to(torch::kFloat32)) * scaling_;
}

void LinearImpl::set_weight(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  if (!nf4_) {
    weight.copy_(w);
    return;
  }
  const auto q = nf4_quantize(w.to(nf4_->codes.device()), nf4_double_quant_);
  nf4_->codes.set_data(q.codes);
  if (nf4_double_quant_) {
    nf4_->qabsmax.set_data(q.qabsmax);
    nf4_->absmax2.set_data(q.absmax2);
    nf4_->offset.set_data(q.offset);
  } else {
    nf4_->absmax.set_data(q.absmax);
  }
}

int64_t LinearImpl::weight_bytes() const {
  if (nf4_) return nf4_->bytes();
  return weight.numel() * static_cast<int64_t>(weight.element_size());
}

}  // namespace ftplan
