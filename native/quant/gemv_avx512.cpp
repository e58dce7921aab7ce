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

// ---- Fast batch-1 path (gemv_rows): the same arithmetic as row_dot, fewer instructions per byte.
//
// Shift-free decode: slot i's code is masked in place, (v & (mask << p_i)) = Q·2^p_i, and converted
// to fp32 exactly (vcvtudq2ps; at most 3 significant bits at positions < 32). The power of two is
// undone for free on the x side: prepare_x stores xs = x·2^(K − p_i) (K = the largest p_i), so
// every product Q·2^p_i · x·2^(K − p_i) is the exact product Q·x·2^K, and the group scale carries
// 2^−K (s' = (min + step·c)·(2^−shift·2^−K)). Power-of-two scalings are exact, so each row's
// partial sums, flushes and zero-point term are bit-identical to row_dot's (same order, same
// roundings); the per-slot work drops from and + shift + convert + FMA to and + convert + FMA.
// 3-bit: the third-bit plane (bit i of a 16-bit lane word) is spread once per block to bit 2i + 2,
// then slot i is one bit-select (vpternlogd) of bits 2i..2i+1 from the low word and bit 2i+2 from the
// spread plane, and one mask. The 8-bit scale / zero codes are dequantized 16 groups per
// instruction (same fp32 expression as row_prelude, so bit-identical).

template <int BITS>
struct Fast {
  static constexpr int kSlots = Blk<BITS>::kSlots;
  static constexpr int kBytes = Blk<BITS>::kBytes;
  // Bit position of slot i's code after decoding (its value is Q·2^pos).
  static constexpr int pos(int i) { return BITS == 3 ? (i == 15 ? 28 : 2 * i) : BITS * i; }
  static constexpr int kTop = pos(kSlots - 1);  // K
};

inline float pow2f(int e) {  // 2^e for |e| < 127, exact
  return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128((e + 127) << 23)));
}

// fp16 -> fp32, exact (the same values as fp16.h's half_to_float, including subnormals).
inline float half_to_f32(uint16_t h) {
  return _mm512_cvtss_f32(_mm512_cvtph_ps(_mm256_castsi128_si256(_mm_cvtsi32_si128(h))));
}

template <int BITS>
void prepare_x_t(const float* x, const float* xsum, int64_t cols, int group, float* xs, float* xsum_out) {
  using F = Fast<BITS>;
  const int64_t n_slots = cols / 16;
  for (int64_t slot = 0; slot < n_slots; ++slot) {
    const __m512 f = _mm512_set1_ps(pow2f(F::kTop - F::pos(static_cast<int>(slot % F::kSlots))));
    _mm512_storeu_ps(xs + slot * 16, _mm512_mul_ps(_mm512_loadu_ps(x + slot * 16), f));
  }
  const float top = pow2f(F::kTop);
  for (int64_t g = 0; g < cols / group; ++g) xsum_out[g] = xsum[g] * top;
}

void prepare_x(const float* x, const float* xsum, int64_t cols, int bits, int group, float* xs,
               float* xsum_out) {
  switch (bits) {
    case 2: return prepare_x_t<2>(x, xsum, cols, group, xs, xsum_out);
    case 3: return prepare_x_t<3>(x, xsum, cols, group, xs, xsum_out);
    case 4: return prepare_x_t<4>(x, xsum, cols, group, xs, xsum_out);
    default: return prepare_x_t<8>(x, xsum, cols, group, xs, xsum_out);
  }
}

template <int BITS>
struct FastDecoder {
  __m512i v, s2, s0;  // low words; 3-bit: third-bit plane spread to bit 2i+2 (s2) and 2i (s0)
  explicit FastDecoder(const uint8_t* blk) {
    v = _mm512_loadu_si512(blk);
    if constexpr (BITS == 3) {
      __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64)));
      // Spread bit i to bit 2i: (h | h << k) & mask, k = 8, 4, 2, 1 (0xA8: (a | b) & c).
      h = _mm512_ternarylogic_epi32(h, _mm512_slli_epi32(h, 8), _mm512_set1_epi32(0x00FF00FF), 0xA8);
      h = _mm512_ternarylogic_epi32(h, _mm512_slli_epi32(h, 4), _mm512_set1_epi32(0x0F0F0F0F), 0xA8);
      h = _mm512_ternarylogic_epi32(h, _mm512_slli_epi32(h, 2), _mm512_set1_epi32(0x33333333), 0xA8);
      h = _mm512_ternarylogic_epi32(h, _mm512_slli_epi32(h, 1), _mm512_set1_epi32(0x55555555), 0xA8);
      s0 = h;
      s2 = _mm512_slli_epi32(h, 2);
    } else {
      s0 = s2 = _mm512_setzero_si512();
    }
  }
  // Q·2^pos(i) of slot i as fp32 (exact).
  __m512 get(int i) const {
    if constexpr (BITS == 3) {
      // 0xE4: c ? a : b per bit, with c = the mask of the low bits' positions.
      if (i == 15) {
        const __m512i sel = _mm512_ternarylogic_epi32(_mm512_srli_epi32(v, 2), s0, _mm512_set1_epi32(3 << 28), 0xE4);
        return _mm512_cvtepu32_ps(_mm512_and_si512(sel, _mm512_set1_epi32(7 << 28)));
      }
      const __m512i sel = _mm512_ternarylogic_epi32(v, s2, _mm512_set1_epi32(3 << (2 * i)), 0xE4);
      return _mm512_cvtepu32_ps(_mm512_and_si512(sel, _mm512_set1_epi32(7 << (2 * i))));
    } else {
      const unsigned mask = (BITS == 8 ? 0xFFu : (1u << BITS) - 1u) << (BITS * i);
      return _mm512_cvtepu32_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(mask))));
    }
  }
};

// s' (scale · 2^−K) and z of groups [t0, t0 + n) into s, z; returns the zero-point term
// Σ s'·z·xsum' in row_dot's order (16-group chunks, then a scalar tail).
inline float row_scales(const GemvRowsArgs& a, int64_t t0, int64_t n, float unshift, float* s, float* z) {
  const int64_t mg = a.meta_group;
  const int64_t t1 = t0 + n;
  int64_t m = t0 / mg;
  for (int64_t t = t0; t < t1; ++m) {
    const int64_t e = (m + 1) * mg < t1 ? (m + 1) * mg : t1;
    const float smin = half_to_f32(a.scale_meta[2 * m]), sstep = half_to_f32(a.scale_meta[2 * m + 1]);
    const float zmin = half_to_f32(a.zero_meta[2 * m]), zstep = half_to_f32(a.zero_meta[2 * m + 1]);
    const __m512 vsmin = _mm512_set1_ps(smin), vsstep = _mm512_set1_ps(sstep), vun = _mm512_set1_ps(unshift);
    const __m512 vzmin = _mm512_set1_ps(zmin), vzstep = _mm512_set1_ps(zstep);
    int64_t u = t;
    for (; u + 16 <= e; u += 16) {
      const __m512 cs = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.scale_codes + u))));
      const __m512 cz = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.zero_codes + u))));
      _mm512_storeu_ps(s + (u - t0), _mm512_mul_ps(_mm512_add_ps(vsmin, _mm512_mul_ps(vsstep, cs)), vun));
      _mm512_storeu_ps(z + (u - t0), _mm512_add_ps(vzmin, _mm512_mul_ps(vzstep, cz)));
    }
    for (; u < e; ++u) {
      s[u - t0] = (smin + sstep * static_cast<float>(a.scale_codes[u])) * unshift;
      z[u - t0] = zmin + zstep * static_cast<float>(a.zero_codes[u]);
    }
    t = e;
  }
  __m512 bv = _mm512_setzero_ps();
  int64_t gi = 0;
  for (; gi + 16 <= n; gi += 16)
    bv = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(s + gi), _mm512_loadu_ps(z + gi)), _mm512_loadu_ps(a.xsum + gi), bv);
  float bias = _mm512_reduce_add_ps(bv);
  for (; gi < n; ++gi) bias += s[gi] * z[gi] * a.xsum[gi];
  return bias;
}

template <int BITS, int SPG>
void gemv_rows_t(const GemvRowsArgs& a) {
  using F = Fast<BITS>;
  const int64_t n_slots = a.cols / 16;
  const int64_t full = n_slots / F::kSlots;
  const int rem = static_cast<int>(n_slots - full * F::kSlots);
  const int64_t gpr = n_slots / SPG;
  const float unshift = a.unshift * pow2f(-F::kTop);
  float* s = a.scratch;
  float* z = a.scratch + gpr;
  const float* xs = a.xs;
  for (int64_t r = 0; r < a.rows; ++r) {
    const uint8_t* row = a.codes + r * a.row_stride;
    const float bias = row_scales(a, a.group0 + r * gpr, gpr, unshift, s, z);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    __m512 t[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t j = 0; j < full; ++j) {
      const FastDecoder<BITS> d(row + j * F::kBytes);
#pragma GCC unroll 16
      for (int i = 0; i < F::kSlots; ++i) {
        const int64_t slot = j * F::kSlots + i;
        slot_fma<SPG>(d.get(i), xs + slot * 16, slot, s, t, acc);
      }
    }
    if (rem > 0) {
      const FastDecoder<BITS> d(row + full * F::kBytes);
      for (int i = 0; i < rem; ++i) {
        const int64_t slot = full * F::kSlots + i;
        slot_fma<SPG>(d.get(i), xs + slot * 16, slot, s, t, acc);
      }
    }
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    const float v = _mm512_reduce_add_ps(sum) - bias;
    a.y[r] = a.accumulate ? a.y[r] + v : v;
  }
}

template <int BITS>
void gemv_rows_bits(const GemvRowsArgs& a) {
  switch (a.group) {
    case 16: return gemv_rows_t<BITS, 1>(a);
    case 32: return gemv_rows_t<BITS, 2>(a);
    case 64: return gemv_rows_t<BITS, 4>(a);
    default: return gemv_rows_t<BITS, 8>(a);
  }
}

void gemv_rows(const GemvRowsArgs& a) {
  switch (a.bits) {
    case 2: return gemv_rows_bits<2>(a);
    case 3: return gemv_rows_bits<3>(a);
    case 4: return gemv_rows_bits<4>(a);
    default: return gemv_rows_bits<8>(a);
  }
}

}  // namespace

const RowKernels kRowKernelsAvx512{"avx512", row_dot, row_dequant, dot, prepare_x, gemv_rows};

}  // namespace lm::quant
