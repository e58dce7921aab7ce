// Settings validation, size accounting and the one definition of scale/zero dequantization.
#include "packed_tensor.h"

#include <cmath>

#include "fp16.h"

namespace lm::quant {

std::string validate_spec(const QuantSpec& spec, int64_t rows, int64_t cols) {
  const int b = spec.bits;
  if (b != 2 && b != 3 && b != 4 && b != 8)
    return "bits must be 2, 3, 4 or 8 (got " + std::to_string(b) + ")";
  const int g = spec.group;
  if (g != 16 && g != 32 && g != 64 && g != 128)
    return "group must be 16, 32, 64 or 128 (got " + std::to_string(g) + ")";
  if (spec.meta_group < 1 || spec.meta_group > (1 << 20))
    return "scale/zero group must be in [1, 2^20] (got " + std::to_string(spec.meta_group) + ")";
  if (rows <= 0 || cols <= 0)
    return "matrix must be non-empty (got " + std::to_string(rows) + "x" + std::to_string(cols) + ")";
  if (cols % g != 0)
    return "input dimension " + std::to_string(cols) + " is not a multiple of group " +
           std::to_string(g);
  return "";
}

double bits_per_weight(const QuantSpec& spec, int64_t rows, int64_t cols) {
  const int64_t n_groups = rows * (cols / spec.group);
  const int64_t n_meta = (n_groups + spec.meta_group - 1) / spec.meta_group;
  const double bits = static_cast<double>(row_bytes(spec.bits, cols) * 8 * rows + n_groups * 16 +
                                          n_meta * 2 * 32);
  return bits / (static_cast<double>(rows) * static_cast<double>(cols));
}

float scale_unshift(int shift) { return std::ldexp(1.0f, -shift); }

namespace {
inline float meta_value(const uint16_t* meta, const uint8_t* codes, int64_t t, int meta_group) {
  const int64_t m = t / meta_group;
  const float mn = half_to_float(meta[2 * m]);
  const float step = half_to_float(meta[2 * m + 1]);
  // The one definition: min + step·c as a separate multiply and add (the library is built with
  // -ffp-contract=off so no compiler fuses it), computed identically by the GEMV row prelude.
  return mn + step * static_cast<float>(codes[t]);
}
}  // namespace

float dequant_scale(const PackedView& v, int64_t t) {
  return meta_value(v.scale_meta, v.scale_codes, t, v.spec.meta_group) * scale_unshift(v.scale_shift);
}
float dequant_zero(const PackedView& v, int64_t t) {
  return meta_value(v.zero_meta, v.zero_codes, t, v.spec.meta_group);
}

}  // namespace lm::quant
