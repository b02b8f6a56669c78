// nf4.h — 4-bit NormalFloat weights, bitsandbytes' scheme (QLoRA, Dettmers et al. 2023), written
// with torch ops so it runs on CPU and CUDA alike:
//
//   quantise:   per block of 64 values (the flattened weight, row-major), absmax = max |w|;
//               w / absmax (as w * (1 / absmax), clamped to [-1, 1]) rounded to the nearest of the
//               16 NF4 code values (torch.bucketize against the midpoints: a value exactly on a
//               midpoint takes the lower code), two 4-bit indices per byte, the first in the high
//               nibble. A last block shorter than 64 (a weight whose size is not a multiple of 64)
//               has its own absmax over the values it has (bitsandbytes divides that block by
//               absmax instead of multiplying by the reciprocal; so do we), and an odd count is
//               padded with one zero code: the same as padding the block with zeros.
//   dequantise: code[index] * absmax in float32, then cast to the dtype the weight is held in.
//   double quantisation (optional): the float32 absmax values minus their mean, quantised again
//               blockwise (blocks of 256) to 8 bits with bitsandbytes' signed dynamic map
//               (create_dynamic_map), keeping the mean as an offset; dequantised absmax =
//               dynamic[q] * absmax2[block] + offset.
//
// These are bitsandbytes' default (torch) backend's formulas (backends/default/ops.py,
// functional.py quantize_4bit / dequantize_4bit / create_dynamic_map), op for op, so the codes and
// scales are bit-identical to what it computes (test/reference/peft_reference.py checks).
//
// nf4_linear: y = x · dequantise(W)ᵀ inside a custom autograd Function whose backward dequantises
// again (grad_x = grad_y · W): the dense weight is never saved for backward — what QLoRA saves.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "record.h"

namespace ftplan {

constexpr int64_t kNf4Block = 64;
constexpr int64_t kNf4AbsmaxBlock = 256;

// The 16 NF4 values (bitsandbytes' table), ascending, float32.
torch::Tensor nf4_code(const c10::Device& device = c10::kCPU);
// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 values, sorted.
torch::Tensor dynamic_map(const c10::Device& device = c10::kCPU);

// A quantised weight: what a QLoRA linear holds instead of its dense weight.
struct Nf4Tensor {
  torch::Tensor codes;    // uint8 [ceil(n / 2)]: two indices per byte, high nibble first
  torch::Tensor absmax;   // float32 [blocks] (plain), or undefined with double quantisation
  torch::Tensor qabsmax;  // uint8 [blocks]: double quantisation's 8-bit absmax
  torch::Tensor absmax2;  // float32 [ceil(blocks / 256)]
  torch::Tensor offset;   // float32 0-dim: the mean subtracted before double quantisation
  std::vector<int64_t> shape;

  bool double_quant() const { return qabsmax.defined(); }
  int64_t numel() const;
  int64_t bytes() const;  // what it holds (codes + scales)
  // The per-block scales in float32 (double quantisation undone).
  torch::Tensor scales() const;
  // code[index] * absmax in float32, then `dtype`; `shape`.
  torch::Tensor dequantize(at::ScalarType dtype = torch::kFloat32) const;
};

// w (any float dtype, any shape) -> NF4, blocks of 64; double_quant: the scales too.
Nf4Tensor nf4_quantize(const torch::Tensor& w, bool double_quant);
// The same for a weight whose flattened values repeat every `period` (a multiple of 64) values —
// a synthetic weight (synthetic_init.h): the first period quantised, its codes and scales repeated.
// Any other weight (or a period that does not tile it) is quantised whole.
Nf4Tensor nf4_quantize_periodic(const torch::Tensor& w, int64_t period, bool double_quant);

// bitsandbytes' quantize_blockwise with the dynamic map: (uint8 codes, float32 absmax per block).
std::pair<torch::Tensor, torch::Tensor> quantize_blockwise(const torch::Tensor& a, const torch::Tensor& code, int64_t blocksize);
torch::Tensor dequantize_blockwise(const torch::Tensor& q, const torch::Tensor& absmax, const torch::Tensor& code, int64_t blocksize);

// x [..., in] · Wᵀ with W = dequantise(w) cast to `held` (the dtype the dense weight would be held
// in) and then to the compute dtype (autocast's when it is on for x's device, else x's). No bias.
// Gradient flows to x only; W is rebuilt in backward, never saved.
torch::Tensor nf4_linear(const torch::Tensor& x, const Nf4Tensor& w, at::ScalarType held);

// Whether autocast is on for this device type on the calling thread (compat across LibTorch versions).
bool autocast_on(c10::DeviceType device);

// For tests: one tensor through quantise -> dequantise.
#define FTPLAN_NF4_CHECK(X)                                                                   \
  X(std::vector<int64_t>, codes, codes, {})       /* packed bytes */                         \
  X(std::vector<double>, absmax, absmax, {})      /* float32 scales (plain quantisation) */   \
  X(std::vector<int64_t>, qabsmax, qabsmax, {})   /* double quantisation: 8-bit scales */     \
  X(std::vector<double>, absmax2, absmax2, {})    /* double quantisation: their scales */     \
  X(double, offset, offset, 0)                    /* double quantisation: the mean */         \
  X(std::vector<double>, dequantized, dequantized, {}) /* float32 */                          \
  X(int64_t, bytes, bytes, 0)

struct Nf4Check {
  FTPLAN_NF4_CHECK(FTPLAN_FIELD)
};
Nf4Check nf4_check(const torch::Tensor& values, bool double_quant);

}  // namespace ftplan
