// Portable row kernels: the fallback on CPUs without AVX2 and the readable statement of the decode.
#include <cstring>

#include "gemv_abi.h"

namespace lm::quant {
namespace {

// Code of block-local slot i, lane w (see pack.h for the bit positions).
inline uint32_t code_at(const uint8_t* blk, int bits, int i, int w) {
  uint32_t word;
  std::memcpy(&word, blk + 4 * w, 4);
  if (bits != 3) return (word >> (bits * i)) & ((1u << bits) - 1u);
  uint16_t h;
  std::memcpy(&h, blk + 64 + 2 * w, 2);
  return ((word >> (2 * i)) & 3u) | (((h >> i) & 1u) << 2);
}

inline int slots_per_block(int bits) { return bits == 3 ? 16 : 32 / bits; }
inline int bytes_per_block(int bits) { return bits == 3 ? 96 : 64; }

float row_dot(const uint8_t* row, int64_t cols, int bits, int group, const float* x,
              const float* s, const float* z, const float* xsum) {
  const int spb = slots_per_block(bits);
  const int64_t n_slots = cols / 16;
  const int spg = group / 16;
  float acc = 0.0f, t = 0.0f;
  for (int64_t slot = 0; slot < n_slots; ++slot) {
    const uint8_t* blk = row + (slot / spb) * bytes_per_block(bits);
    const int i = static_cast<int>(slot % spb);
    for (int w = 0; w < 16; ++w) t += static_cast<float>(code_at(blk, bits, i, w)) * x[slot * 16 + w];
    if ((slot + 1) % spg == 0) {
      acc += s[slot / spg] * t;
      t = 0.0f;
    }
  }
  float bias = 0.0f;
  for (int64_t g = 0; g < cols / group; ++g) bias += s[g] * z[g] * xsum[g];
  return acc - bias;
}

void row_dequant(const uint8_t* row, int64_t cols, int bits, int group, const float* s,
                 const float* z, float* out) {
  const int spb = slots_per_block(bits);
  for (int64_t k = 0; k < cols; ++k) {
    const int64_t slot = k / 16;
    const uint8_t* blk = row + (slot / spb) * bytes_per_block(bits);
    const float q = static_cast<float>(code_at(blk, bits, static_cast<int>(slot % spb),
                                               static_cast<int>(k % 16)));
    out[k] = s[k / group] * (q - z[k / group]);
  }
}

float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

}  // namespace

const RowKernels kRowKernelsScalar{"scalar", row_dot, row_dequant, dot, nullptr, nullptr};

}  // namespace lm::quant
