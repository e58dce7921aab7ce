// The packed HQQ tensor: settings, byte layout and the owning/non-owning holders.
//
// A weight W [rows = output features, cols = input features] is quantized per group of `group`
// consecutive inputs of one row:   W[n, k] ≈ s[n, k/group] · (Q[n, k] − z[n, k/group]),  Q ∈ [0, 2^bits).
// The scales s and zero-points z are themselves quantized to 8 bits ("quant_scale / quant_zero" of
// the HQQ paper): the flattened row-major list of all groups' s (and, separately, of all z) is cut
// into meta groups of `meta_group` consecutive values; each meta group stores an fp16 (min, step)
// pair and each value one byte c:   s ≈ (min + step · c) · 2^−scale_shift,   z ≈ min + step · c.
// (This is the affine form step·(c − zero) with zero = −min/step; storing min instead of zero keeps
// fp16 rounding relative to the values.) scale_shift is one per-tensor power of two that brings the
// largest scale into [1, 2): weights of ~1e-3 give scales whose meta step would otherwise fall into
// fp16's subnormal range and lose precision; a power of two is exact, so it costs no rounding.
//
// Packed codes (see pack.h for the exact bit positions): each row is a sequence of blocks; a block is
// 16 "lanes" (one 32-bit word each, 64 bytes = one cache line = one AVX-512 register) and each word
// holds 32/bits "slots"; slot i of lane w is the value at k = 16·i + w within the block. Shifting the
// whole block right by bits·i and masking gives 16 codes for 16 *contiguous* inputs, so the GEMV
// multiplies them with one unaligned load of x and never shuffles. 3-bit is stored as a 2-bit block
// (low bits, 64 bytes) followed by 16 uint16 holding the third bit (slot i = bit i): 96 bytes per
// 256 values, exactly 3 bits/weight, same shift-and-mask decode. A CUDA warp reads two blocks as one
// coalesced 128-byte transaction and each thread decodes its own word.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lm::quant {

// Quantization settings of one tensor.
struct QuantSpec {
  int bits = 4;          // 2, 3, 4 or 8
  int group = 64;        // inputs per (scale, zero) pair: 16, 32, 64 or 128; divides cols
  int meta_group = 256;  // groups per fp16 (min, step) pair of the 8-bit scale / zero codes
};

// Values per block and bytes per block for a bit width (the packing unit along a row).
constexpr int block_values(int bits) { return bits == 3 ? 256 : 16 * (32 / bits); }
constexpr int block_bytes(int bits) { return bits == 3 ? 96 : 64; }
constexpr int kLanes = 16;  // 32-bit words per block (the low part of a 3-bit block)

// Returns "" when `spec` is valid for a [rows, cols] matrix, else a message saying what is wrong.
std::string validate_spec(const QuantSpec& spec, int64_t rows, int64_t cols);

// Bytes of packed codes per row. A row whose cols is not a multiple of the block size ends with one
// partially used block (its unused slots are zero), so every row starts on a 32-byte boundary
// relative to the tensor start and the kernels need no tail path for the codes themselves.
inline int64_t row_bytes(int bits, int64_t cols) {
  const int64_t bv = block_values(bits);
  return (cols + bv - 1) / bv * block_bytes(bits);
}

// Non-owning view of a packed tensor (e.g. into an mmap'ed model file). All arrays are little-endian.
struct PackedView {
  QuantSpec spec;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* codes = nullptr;       // [rows, row_bytes(bits, cols)]
  const uint8_t* scale_codes = nullptr; // [rows * cols / group]  8-bit scale codes
  const uint8_t* zero_codes = nullptr;  // [rows * cols / group]  8-bit zero codes
  const uint16_t* scale_meta = nullptr; // [n_meta, 2] fp16 (min, step) per meta group of scales
  const uint16_t* zero_meta = nullptr;  // [n_meta, 2] fp16 (min, step) per meta group of zeros
  int scale_shift = 0;                  // scales are stored multiplied by 2^scale_shift

  int64_t groups_per_row() const { return cols / spec.group; }
  int64_t n_groups() const { return rows * groups_per_row(); }
  int64_t n_meta() const { return (n_groups() + spec.meta_group - 1) / spec.meta_group; }
};

// Owning packed tensor (what the quantizer produces).
struct PackedTensor {
  QuantSpec spec;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> codes;
  std::vector<uint8_t> scale_codes;
  std::vector<uint8_t> zero_codes;
  std::vector<uint16_t> scale_meta;
  std::vector<uint16_t> zero_meta;
  int scale_shift = 0;

  PackedView view() const {
    return PackedView{spec,         rows, cols, codes.data(), scale_codes.data(), zero_codes.data(),
                      scale_meta.data(), zero_meta.data(), scale_shift};
  }
  // Total stored bytes (codes + 8-bit scale/zero + fp16 meta pairs).
  int64_t bytes() const {
    return static_cast<int64_t>(codes.size() + scale_codes.size() + zero_codes.size() +
                                2 * (scale_meta.size() + zero_meta.size()));
  }
};

// Storage bits per weight of a spec for a [rows, cols] matrix (codes + scale/zero + meta).
double bits_per_weight(const QuantSpec& spec, int64_t rows, int64_t cols);

// Dequantized scale and zero of group t (row-major group index) of a view; the same fp32 arithmetic
// as every kernel uses, so kernels and references agree bit for bit on Ŵ.
float dequant_scale(const PackedView& v, int64_t t);
float dequant_zero(const PackedView& v, int64_t t);
// 2^−shift as a float: the exact factor that undoes scale_shift.
float scale_unshift(int shift);

}  // namespace lm::quant
