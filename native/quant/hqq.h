// HQQ quantizer (Badri & Shaji, "Half-Quadratic Quantization of Large Machine Learning Models") and
// the round-to-nearest baseline, producing the packed layout of packed_tensor.h.
//
// Pipeline for one [rows, cols] matrix (rows = output features, groups run along cols):
//   1. per group min/max -> scale s = (max − min) / (2^bits − 1)           (min-max init, as HQQ)
//   2. scales -> 8-bit codes with fp16 (min, step) per meta group; from here on s means ŝ, the
//      dequantized scale, so the zero is fitted to the scale the kernels will actually use
//   3. zero z: RTN keeps the min-max zero −min/ŝ; HQQ runs the half-quadratic proximal solver
//      (hqq's optimize_weights_proximal: lp-norm p = 0.7, generalized soft-thresholding shrink,
//      β₀ = 10, κ = 1.01, 20 iterations, stop when the mean |W − Ŵ| stops improving)
//   4. zeros -> 8-bit codes the same way (ẑ); 5. Q = clamp(round(W/ŝ + ẑ)), packed.
// Differences from hqq's reference, on purpose: the early stop and the "best" zero are tracked per
// group (groups are independent problems; the reference stops all groups when the tensor-wide mean
// stops improving and then returns the zero of the step it did not test), and the zero is fitted to
// the 8-bit-quantized scale instead of the fp16 one.
#pragma once

#include <cstdint>

#include "packed_tensor.h"

namespace lm::quant {

enum class Method { Hqq, Rtn };

struct HqqParams {
  float lp_norm = 0.7f;  // p of the lp-norm error being minimised (p < 1: robust to outliers)
  float beta = 10.0f;    // β₀, half-quadratic penalty weight
  float kappa = 1.01f;   // β grows by κ per iteration
  int iters = 20;        // maximum solver iterations per group
};

// Quantizes a row-major fp32 matrix. Throws lm::Error for an invalid spec (message says what to
// change) or non-finite weights. threads <= 1 runs on the calling thread.
PackedTensor quantize(const float* w, int64_t rows, int64_t cols, const QuantSpec& spec,
                      Method method, const HqqParams& params = {}, int threads = 1);

// Reference dequantization Ŵ[n, k] = ŝ · (Q − ẑ) (fp32, the exact expression of the kernels'
// dequantize_row). out: [rows, cols].
void dequantize(const PackedView& v, float* out);

// 8-bit min/step quantization of `n` values in meta groups of `meta_group` (exposed for tests).
// codes: [n]; meta: [ceil(n / meta_group), 2] fp16 (min, step). Throws lm::Error when a value is
// not finite or outside fp16 range.
void quantize_meta(const float* values, int64_t n, int meta_group, uint8_t* codes, uint16_t* meta);

}  // namespace lm::quant
