// Packing of b-bit codes into the block layout described in packed_tensor.h.
//
// Bit positions (little-endian words): for bits b ∈ {2, 4, 8} a block is 16 uint32 words; the code of
// block-local input k = 16·i + w is bits [b·i, b·i + b) of word w. For b = 3 the block is 16 uint32
// words holding the low 2 bits exactly as for b = 2, followed by 16 uint16 whose bit i of entry w is
// bit 2 of the code at k = 16·i + w. Unused slots of a row's last block are zero.
#pragma once

#include <cstdint>

namespace lm::quant {

// codes: [rows, cols] values < 2^bits, one per byte.  out: [rows, row_bytes(bits, cols)].
void pack_codes(const uint8_t* codes, int64_t rows, int64_t cols, int bits, uint8_t* out);

// Inverse of pack_codes: packed [rows, row_bytes] -> codes [rows, cols].
void unpack_codes(const uint8_t* packed, int64_t rows, int64_t cols, int bits, uint8_t* codes);

}  // namespace lm::quant
