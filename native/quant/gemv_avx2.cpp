// AVX2 + FMA row kernels for the packed HQQ layout. Compiled with -mavx2 -mfma only (see gemv_abi.h).
//
// Same design as gemv_avx512.cpp with the 16-lane block held as two 8-lane halves: lanes 0..7 of
// slot i are inputs 16·i + 0..7, lanes 8..15 are 16·i + 8..15, so each half multiplies one unaligned
// 8-float load of x. The two halves keep separate partial sums (two FMA chains in flight).
#include <immintrin.h>

#include "gemv_abi.h"

namespace lm::quant {
namespace {

template <int BITS>
struct Blk {
  static constexpr int kSlots = BITS == 3 ? 16 : 32 / BITS;
  static constexpr int kBytes = BITS == 3 ? 96 : 64;
  static constexpr int kLow = BITS == 3 ? 2 : BITS;
};

template <int BITS>
struct Decoder {
  __m256i v0, v1, h0, h1;
  explicit Decoder(const uint8_t* blk) {
    v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
    v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32));
    if constexpr (BITS == 3) {
      h0 = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 64)));
      h1 = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 80)));
    } else {
      h0 = h1 = _mm256_setzero_si256();
    }
  }
  static __m256 take(__m256i& v, __m256i& h) {
    const __m256i mask = _mm256_set1_epi32((1 << Blk<BITS>::kLow) - 1);
    __m256i q = _mm256_and_si256(v, mask);
    v = _mm256_srli_epi32(v, Blk<BITS>::kLow);
    if constexpr (BITS == 3) {
      q = _mm256_or_si256(q, _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(1)), 2));
      h = _mm256_srli_epi32(h, 1);
    }
    return _mm256_cvtepi32_ps(q);
  }
  __m256 next_lo() { return take(v0, h0); }
  __m256 next_hi() { return take(v1, h1); }
};

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// One FMA chain per half would be latency-bound (4 cycles per 8 weights): partial sums alternate
// between two registers per half by slot parity, group sums between two accumulators per half.
template <int BITS, int SPG>
inline void slot_step(Decoder<BITS>& d, int64_t slot, const float* x, const float* s, __m256 (&t)[2][2],
                      __m256 (&acc)[2][2]) {
  const int p = static_cast<int>(slot & 1);
  t[p][0] = _mm256_fmadd_ps(d.next_lo(), _mm256_loadu_ps(x + slot * 16), t[p][0]);
  t[p][1] = _mm256_fmadd_ps(d.next_hi(), _mm256_loadu_ps(x + slot * 16 + 8), t[p][1]);
  if ((slot + 1) % SPG == 0) {
    const __m256 sc = _mm256_set1_ps(s[slot / SPG]);
    const int a = static_cast<int>((slot / SPG) & 1);
    const __m256 lo = SPG == 1 ? t[p][0] : _mm256_add_ps(t[0][0], t[1][0]);
    const __m256 hi = SPG == 1 ? t[p][1] : _mm256_add_ps(t[0][1], t[1][1]);
    acc[a][0] = _mm256_fmadd_ps(sc, lo, acc[a][0]);
    acc[a][1] = _mm256_fmadd_ps(sc, hi, acc[a][1]);
    t[0][0] = t[0][1] = t[1][0] = t[1][1] = _mm256_setzero_ps();
  }
}

template <int BITS, int SPG>
float row_dot_t(const uint8_t* row, int64_t cols, const float* x, const float* s, const float* z,
                const float* xsum) {
  using B = Blk<BITS>;
  const int64_t n_slots = cols / 16;
  const int64_t full = n_slots / B::kSlots;
  __m256 acc[2][2], t[2][2];
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) acc[a][b] = t[a][b] = _mm256_setzero_ps();
  for (int64_t j = 0; j < full; ++j) {
    Decoder<BITS> d(row + j * B::kBytes);
#pragma GCC unroll 16
    for (int i = 0; i < B::kSlots; ++i) slot_step<BITS, SPG>(d, j * B::kSlots + i, x, s, t, acc);
  }
  const int rem = static_cast<int>(n_slots - full * B::kSlots);
  if (rem > 0) {
    Decoder<BITS> d(row + full * B::kBytes);
    for (int i = 0; i < rem; ++i) slot_step<BITS, SPG>(d, full * B::kSlots + i, x, s, t, acc);
  }
  const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0][0], acc[0][1]), _mm256_add_ps(acc[1][0], acc[1][1]));
  // Zero-point term Σ_g s·z·xsum, vectorized over the row's cols/group groups.
  const int64_t n_groups = n_slots / SPG;
  __m256 bv = _mm256_setzero_ps();
  int64_t gi = 0;
  for (; gi + 8 <= n_groups; gi += 8)
    bv = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(s + gi), _mm256_loadu_ps(z + gi)), _mm256_loadu_ps(xsum + gi), bv);
  float bias = hsum(bv);
  for (; gi < n_groups; ++gi) bias += s[gi] * z[gi] * xsum[gi];
  return hsum(sum) - bias;
}

template <int BITS>
float row_dot_bits(const uint8_t* row, int64_t cols, int group, const float* x, const float* s,
                   const float* z, const float* xsum) {
  switch (group) {
    case 16: return row_dot_t<BITS, 1>(row, cols, x, s, z, xsum);
    case 32: return row_dot_t<BITS, 2>(row, cols, x, s, z, xsum);
    case 64: return row_dot_t<BITS, 4>(row, cols, x, s, z, xsum);
    default: return row_dot_t<BITS, 8>(row, cols, x, s, z, xsum);
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
      const __m256 sc = _mm256_set1_ps(s[g]);
      const __m256 zc = _mm256_set1_ps(z[g]);
      _mm256_storeu_ps(out + slot * 16, _mm256_mul_ps(sc, _mm256_sub_ps(d.next_lo(), zc)));
      _mm256_storeu_ps(out + slot * 16 + 8, _mm256_mul_ps(sc, _mm256_sub_ps(d.next_hi(), zc)));
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
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

}  // namespace

const RowKernels kRowKernelsAvx2{"avx2", row_dot, row_dequant, dot, nullptr, nullptr};

}  // namespace lm::quant
