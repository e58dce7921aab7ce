// Scalar pack/unpack: the specification of the layout. Kernels decode the same bits with SIMD shifts.
#include "pack.h"

#include <bit>
#include <cstring>

#include "packed_tensor.h"

namespace lm::quant {

static_assert(std::endian::native == std::endian::little, "packed layout assumes little-endian");

namespace {

void pack_row(const uint8_t* q, int64_t cols, int bits, uint8_t* out) {
  const int bv = block_values(bits);
  const int low_bits = bits == 3 ? 2 : bits;
  const uint32_t low_mask = (1u << low_bits) - 1u;
  const int64_t n_blocks = (cols + bv - 1) / bv;
  for (int64_t j = 0; j < n_blocks; ++j) {
    uint32_t words[kLanes] = {};
    uint16_t high[kLanes] = {};
    const int64_t base = j * bv;
    const int64_t n = cols - base < bv ? cols - base : bv;
    for (int64_t kk = 0; kk < n; ++kk) {
      const int i = static_cast<int>(kk / kLanes);
      const int w = static_cast<int>(kk % kLanes);
      const uint32_t c = q[base + kk];
      words[w] |= (c & low_mask) << (low_bits * i);
      if (bits == 3) high[w] = static_cast<uint16_t>(high[w] | (((c >> 2) & 1u) << i));
    }
    uint8_t* blk = out + j * block_bytes(bits);
    std::memcpy(blk, words, sizeof words);
    if (bits == 3) std::memcpy(blk + sizeof words, high, sizeof high);
  }
}

void unpack_row(const uint8_t* in, int64_t cols, int bits, uint8_t* q) {
  const int bv = block_values(bits);
  const int low_bits = bits == 3 ? 2 : bits;
  const uint32_t low_mask = (1u << low_bits) - 1u;
  for (int64_t k = 0; k < cols; ++k) {
    const int64_t j = k / bv;
    const int64_t kk = k % bv;
    const int i = static_cast<int>(kk / kLanes);
    const int w = static_cast<int>(kk % kLanes);
    const uint8_t* blk = in + j * block_bytes(bits);
    uint32_t word;
    std::memcpy(&word, blk + 4 * w, 4);
    uint32_t c = (word >> (low_bits * i)) & low_mask;
    if (bits == 3) {
      uint16_t h;
      std::memcpy(&h, blk + 4 * kLanes + 2 * w, 2);
      c |= ((h >> i) & 1u) << 2;
    }
    q[k] = static_cast<uint8_t>(c);
  }
}

}  // namespace

void pack_codes(const uint8_t* codes, int64_t rows, int64_t cols, int bits, uint8_t* out) {
  const int64_t rb = row_bytes(bits, cols);
  for (int64_t r = 0; r < rows; ++r) pack_row(codes + r * cols, cols, bits, out + r * rb);
}

void unpack_codes(const uint8_t* packed, int64_t rows, int64_t cols, int bits, uint8_t* codes) {
  const int64_t rb = row_bytes(bits, cols);
  for (int64_t r = 0; r < rows; ++r) unpack_row(packed + r * rb, cols, bits, codes + r * cols);
}

}  // namespace lm::quant
