// Storage dtypes of weights and their scalar conversions.
//
// Weights stay in the dtype they were stored in (bf16/fp16 mmap'd from safetensors, or fp32) and are
// converted to fp32 inside the kernels: decode is bandwidth-bound, so expanding an 87 GB checkpoint
// to fp32 would double the bytes read per token. These scalar conversions are exact (bf16/fp16 ->
// fp32 widening is lossless) and are the reference for the vectorised ones in cpu/kernels_*.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lm {

namespace quant {
struct PackedView;  // quant/packed_tensor.h: an HQQ-packed matrix (codes + 8-bit scales/zeros)
}

enum class DType : uint8_t { F32, F16, BF16 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  return "?";
}

inline float bits_to_f32(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint32_t f32_to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

// bf16 is the top half of an fp32.
inline float bf16_to_f32(uint16_t h) { return bits_to_f32(uint32_t(h) << 16); }

// Round to nearest even (as torch does); NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t b = f32_to_bits(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return uint16_t((b >> 16) | 0x40);
  b += 0x7fffu + ((b >> 16) & 1u);
  return uint16_t(b >> 16);
}

// IEEE half -> float, exact for normals, subnormals, inf and NaN.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return bits_to_f32(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_to_f32(sign);
  // Subnormal: normalise.
  int e = -1;
  do {
    mant <<= 1;
    ++e;
  } while ((mant & 0x400u) == 0);
  return bits_to_f32(sign | (uint32_t(112 - e) << 23) | ((mant & 0x3ffu) << 13));
}

// float -> IEEE half, round to nearest even (used by tests to build fp16 weights).
inline uint16_t f32_to_f16(float f) {
  uint32_t b = f32_to_bits(f);
  const uint32_t sign = (b >> 16) & 0x8000u;
  b &= 0x7fffffffu;
  if (b > 0x7f800000u) return uint16_t(sign | 0x7e00u);
  if (b >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow -> inf
  if (b < 0x38800000u) {                                   // subnormal or zero
    if (b < 0x33000000u) return uint16_t(sign);
    const uint32_t e = b >> 23;
    uint32_t mant = (b & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t h = ((b - 0x38000000u) >> 13);
  const uint32_t rem = b & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return uint16_t(sign | h);
}

// Element i of a buffer of dtype t, as fp32.
inline float load_f32(const void* data, DType t, size_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(data)[i];
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
  }
  return 0.0f;
}

// A row-major matrix of weights [rows, cols] in its stored dtype (a 1-D tensor has rows = 1).
// Points into memory owned elsewhere (an mmap'd checkpoint, an expert cache slot).
//
// Packed (HQQ-quantized) weights: `packed` points at the packed form (codes, scale/zero codes and
// their fp16 meta pairs, bits, group sizes) and `data`/`dtype` are unused; rows/cols are still the
// logical [N, K]. Only Backend::matmul takes packed views (the quantized format keeps norms,
// embeddings, router gates and lm_head 16-bit); row()/bytes() are for dense views only. The
// PackedView is owned by whoever hands out the view (model/packed_weights.h) and outlives it.
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  const quant::PackedView* packed = nullptr;  // non-null: HQQ-packed (see above)

  bool is_packed() const { return packed != nullptr; }

  const void* row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + size_t(r) * size_t(cols) * dtype_size(dtype);
  }
  size_t bytes() const { return size_t(rows) * size_t(cols) * dtype_size(dtype); }
};

}  // namespace lm
