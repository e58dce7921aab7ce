// AVX-512F row kernels for the packed HQQ layout. Compiled with -mavx512f -mfma only (see gemv_abi.h).
//
// Design: a block is one 64-byte register; slot i of every lane is (v >> bits·i) & mask, i.e. 16
// codes of 16 contiguous inputs, converted to fp32 and multiplied with one unaligned load of x. Per
// group the partial sums t are scaled once (acc += s·t), so the inner loop is shift, and, convert, FMA.
// The zero-point term is one multiply-add per group, vectorized over groups at the end of the row
// (y = Σ s·Σ Q·x − Σ s·z·Σ x, with Σ x per group computed once per x by the caller), so Ŵ is never
// formed. Templates on (bits, slots per group) let the compiler unroll a block and
// place the group flushes at compile time.
#include <immintrin.h>

#include "gemv_abi.h"

namespace lm::quant {
namespace {

template <int BITS>
struct Blk {
  static constexpr int kSlots = BITS == 3 ? 16 : 32 / BITS;  // slots per block
  static constexpr int kBytes = BITS == 3 ? 96 : 64;
  static constexpr int kLow = BITS == 3 ? 2 : BITS;          // bits in the 32-bit words
};

// Decoder state of one block: the words (shifted as slots are consumed) and, for 3-bit, the
// third-bit plane widened to 32-bit lanes.
template <int BITS>
struct Decoder {
  __m512i v, hv;
  explicit Decoder(const uint8_t* blk) {
    v = _mm512_loadu_si512(blk);
    if constexpr (BITS == 3)
      hv = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64)));
    else
      hv = _mm512_setzero_si512();
  }
  __m512 next() {
    const __m512i mask = _mm512_set1_epi32((1 << Blk<BITS>::kLow) - 1);
    __m512i q = _mm512_and_si512(v, mask);
    v = _mm512_srli_epi32(v, Blk<BITS>::kLow);
    if constexpr (BITS == 3) {
      q = _mm512_or_si512(q, _mm512_slli_epi32(_mm512_and_si512(hv, _mm512_set1_epi32(1)), 2));
      hv = _mm512_srli_epi32(hv, 1);
    }
    return _mm512_cvtepi32_ps(q);
  }
};

// Latency, not bandwidth, limits a single FMA chain (4 cycles per 16 weights), so partial sums
// alternate between two registers by slot parity and group sums between four accumulators.
template <int SPG>
inline void slot_fma(__m512 q, const float* xs, int64_t slot, const float* s, __m512 (&t)[2],
                     __m512 (&acc)[4]) {
  const int p = static_cast<int>(slot & 1);
  t[p] = _mm512_fmadd_ps(q, _mm512_loadu_ps(xs), t[p]);
  if ((slot + 1) % SPG == 0) {
    const __m512 tt = SPG == 1 ? t[p] : _mm512_add_ps(t[0], t[1]);
    const int a = static_cast<int>((slot / SPG) & 3);
    acc[a] = _mm512_fmadd_ps(_mm512_set1_ps(s[slot / SPG]), tt, acc[a]);
    t[0] = t[1] = _mm512_setzero_ps();
  }
}

template <int BITS, int SPG>
float row_dot_t(const uint8_t* row, int64_t cols, const float* x, const float* s, const float* z,
                const float* xsum) {
  using B = Blk<BITS>;
  const int64_t n_slots = cols / 16;
  const int64_t full = n_slots / B::kSlots;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  __m512 t[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t j = 0; j < full; ++j) {
    Decoder<BITS> d(row + j * B::kBytes);
#pragma GCC unroll 16
    for (int i = 0; i < B::kSlots; ++i) {
      const int64_t slot = j * B::kSlots + i;
      slot_fma<SPG>(d.next(), x + slot * 16, slot, s, t, acc);
    }
  }
  const int rem = static_cast<int>(n_slots - full * B::kSlots);
  if (rem > 0) {
    Decoder<BITS> d(row + full * B::kBytes);
    for (int i = 0; i < rem; ++i) {
      const int64_t slot = full * B::kSlots + i;
      slot_fma<SPG>(d.next(), x + slot * 16, slot, s, t, acc);
    }
  }
  const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
  // Zero-point term Σ_g s·z·xsum, vectorized over the row's cols/group groups.
  const int64_t n_groups = n_slots / SPG;
  __m512 bv = _mm512_setzero_ps();
  int64_t gi = 0;
  for (; gi + 16 <= n_groups; gi += 16)
    bv = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(s + gi), _mm512_loadu_ps(z + gi)), _mm512_loadu_ps(xsum + gi), bv);
  float bias = _mm512_reduce_add_ps(bv);
  for (; gi < n_groups; ++gi) bias += s[gi] * z[gi] * xsum[gi];
  return _mm512_reduce_add_ps(sum) - bias;
}

template <int BITS>
float row_dot_bits(const uint8_t* row, int64_t cols, int group, const float* x, const float* s,
                   const float* z, const float* xsum) {
  switch (group) {
    case 16: return row_dot_t<BITS, 1>(row, cols, x, s, z, xsum);
    case 32: return row_dot_t<BITS, 2>(row, cols, x, s, z, xsum);
    case 64: return row_dot_t<BITS, 4>(row, cols, x, s, z, xsum);
    default: return row_dot_t<BITS, 8>(row, cols, x, s, z, xsum);  // 128 (validated by the caller)
  }
}

float row_dot(const uint8_t* row, int64_t cols, int bits, int group, const float* x,
              const float* s, const float* z, const float* xsum) {
  switch (bits) {
    case 2: return row_dot_bits<2>(row, cols, group, x, s, z, xsum);
    case 3: return row_dot_bits<3>(row, cols, group, x, s, z, xsum);
    case 4: return row_dot_bits<4>(row, cols, group, x, s, z, xsum);
    default: return row_dot_bits<8>(row, cols, group, x, s, z, xsum);
  }
}

template <int BITS>
void row_dequant_t(const uint8_t* row, int64_t cols, int group, const float* s, const float* z,
                   float* out) {
  using B = Blk<BITS>;
  const int64_t n_slots = cols / 16;
  const int spg = group / 16;
  for (int64_t j = 0; j * B::kSlots < n_slots; ++j) {
    Decoder<BITS> d(row + j * B::kBytes);
    for (int i = 0; i < B::kSlots && j * B::kSlots + i < n_slots; ++i) {
      const int64_t slot = j * B::kSlots + i;
      const int64_t g = slot / spg;
      const __m512 w = _mm512_mul_ps(_mm512_set1_ps(s[g]), _mm512_sub_ps(d.next(), _mm512_set1_ps(z[g])));
      _mm512_storeu_ps(out + slot * 16, w);
    }
  }
}

void row_dequant(const uint8_t* row, int64_t cols, int bits, int group, const float* s,
                 const float* z, float* out) {
  switch (bits) {
    case 2: return row_dequant_t<2>(row, cols, group, s, z, out);
    case 3: return row_dequant_t<3>(row, cols, group, s, z, out);
    case 4: return row_dequant_t<4>(row, cols, group, s, z, out);
    default: return row_dequant_t<8>(row, cols, group, s, z, out);
  }
}

float dot(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

}  // namespace

const RowKernels kRowKernelsAvx512{"avx512", row_dot, row_dequant, dot};

}  // namespace lm::quant
