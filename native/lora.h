// lora.h — the linear layer of ftplan's models: torch's Linear (the same `weight` [out, in] and
// `bias` parameters, the same initialisation and forward, so a full fine-tune is what it was bit
// for bit and Hugging Face checkpoints map onto it by name) that a parameter-efficient method
// (peft.h) can change in place:
//
//   frozen      the weight (and bias) take no gradient; the weight may be held in bf16 (cast to the
//               compute dtype in forward: fp32 training computes with the bf16-rounded values).
//   NF4         the weight is held as NF4 codes + scales (nf4.h) instead: its `weight` parameter
//               becomes an empty placeholder, dequantised in each forward and again in backward.
//   LoRA        lora_A (Linear in -> r, no bias, Kaiming-uniform a = sqrt(5): torch's default init)
//               and lora_B (Linear r -> out, no bias, zeros), Hugging Face PEFT's names and
//               semantics: y = base(x) + lora_B(lora_A(dropout(x))) * alpha / r.
//
// The merged weight of a LoRA layer is W + (alpha / r) · B · A (merged_weight()).
#pragma once

#include <torch/torch.h>

#include <optional>

#include "nf4.h"

namespace ftplan {

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias);
  torch::Tensor forward(const torch::Tensor& x);  // [..., in] -> [..., out]
  // Output features [first, first + count) only: forward(x).narrow(-1, first, count) without the
  // other rows' work (GPT-2's last-token query of the fused c_attn).
  torch::Tensor forward_rows(const torch::Tensor& x, int64_t first, int64_t count);

  torch::Tensor weight;  // [out, in]; a 0-element placeholder once quantised to NF4
  torch::Tensor bias;    // [out] or undefined
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};

  // Freeze weight and bias; hold the weight in `held` (bf16 or fp32).
  void freeze(at::ScalarType held);
  // Freeze, then replace the weight by its NF4 quantisation (dequantised to `held` to compute).
  void quantize_nf4(bool double_quant, at::ScalarType held);
  // Add trainable LoRA adapters (after freeze / quantize_nf4), fp32.
  void add_lora(int64_t r, double alpha, double dropout);

  bool is_nf4() const { return nf4_.has_value(); }
  bool has_lora() const { return !lora_A.is_empty(); }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  double scaling() const { return scaling_; }
  // The weight as the layer computes with it, float32 [out, in] (dequantised for NF4), detached.
  torch::Tensor dense_weight() const;
  // dense_weight() + (alpha / r) · B · A (without LoRA: dense_weight()), float32.
  torch::Tensor merged_weight() const;
  // Load a weight given in float32 [out, in]: copied (cast to the held dtype), or quantised.
  void set_weight(const torch::Tensor& w);
  // Bytes of the weight as held (NF4: codes + scales), without bias or adapters.
  int64_t weight_bytes() const;
  int64_t weight_numel() const { return in_ * out_; }

 private:
  torch::Tensor base(const torch::Tensor& x, int64_t first, int64_t count);
  int64_t in_, out_;
  at::ScalarType held_ = torch::kFloat32;
  std::optional<Nf4Tensor> nf4_;
  bool nf4_double_quant_ = false;
  double scaling_ = 1.0, dropout_ = 0.0;
};
TORCH_MODULE(Linear);

}  // namespace ftplan
