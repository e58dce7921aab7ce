// AVX-512 matmul kernel (compiled with -mavx512f -mavx512bw -mavx512vl -mfma; chosen at run time).
//
// Design: a tile of RB weight rows x TB tokens keeps RB*TB fp32 accumulators in zmm registers. Each
// 16-wide chunk of a weight row is loaded once in its stored dtype, widened to fp32 in registers
// (bf16: zero-extend + shift left 16; fp16: vcvtph2ps) and reused for TB tokens. Decode (T = 1) uses
// 4 rows x 1 token (4 independent FMA chains hide latency while streaming weights); prefill uses
// 2 rows x 4 tokens (weight conversion amortised over 4 tokens). The K tail uses masked loads, so any
// K works without reading past a row. Reference: matmul_scalar / the naive loop in tests.
// See kernel_abi.h for why this file includes nothing else.
#include <immintrin.h>

#include "cpu/kernel_abi.h"

namespace lm::cpu {

namespace {

template <int DT>
inline __m512 load16(const void* w, int64_t i) {
  if constexpr (DT == kF32) {
    return _mm512_loadu_ps(static_cast<const float*>(w) + i);
  } else if constexpr (DT == kF16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i)));
  } else {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <int DT>
inline __m512 load16_masked(const void* w, int64_t i, __mmask16 m) {
  if constexpr (DT == kF32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + i);
  } else if constexpr (DT == kF16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i));
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <int DT, int RB, int TB>
inline void tile(const MatmulArgs& a, int64_t n, int t) {
  const int64_t K = a.K;
  __m512 acc[RB][TB];
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < TB; ++j) acc[r][j] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 xv[TB];
#pragma GCC unroll 8
    for (int j = 0; j < TB; ++j) xv[j] = _mm512_loadu_ps(a.x + (t + j) * a.ldx + k);
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) {
      const __m512 wv = load16<DT>(a.w, (n + r) * K + k);
#pragma GCC unroll 8
      for (int j = 0; j < TB; ++j) acc[r][j] = _mm512_fmadd_ps(wv, xv[j], acc[r][j]);
    }
  }
  if (k < K) {
    const __mmask16 m = __mmask16((1u << (K - k)) - 1u);
    __m512 xv[TB];
#pragma GCC unroll 8
    for (int j = 0; j < TB; ++j) xv[j] = _mm512_maskz_loadu_ps(m, a.x + (t + j) * a.ldx + k);
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) {
      const __m512 wv = load16_masked<DT>(a.w, (n + r) * K + k, m);
#pragma GCC unroll 8
      for (int j = 0; j < TB; ++j) acc[r][j] = _mm512_fmadd_ps(wv, xv[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < TB; ++j) {
      const float s = _mm512_reduce_add_ps(acc[r][j]);
      float& y = a.y[(t + j) * a.ldy + n + r];
      y = a.accumulate ? y + s : s;
    }
}

template <int DT>
void run(const MatmulArgs& a) {
  int64_t n = a.n0;
  if (a.T == 1) {
    for (; n + 4 <= a.n1; n += 4) tile<DT, 4, 1>(a, n, 0);
    for (; n < a.n1; ++n) tile<DT, 1, 1>(a, n, 0);
    return;
  }
  for (; n + 2 <= a.n1; n += 2) {
    int t = 0;
    for (; t + 4 <= a.T; t += 4) tile<DT, 2, 4>(a, n, t);
    for (; t < a.T; ++t) tile<DT, 2, 1>(a, n, t);
  }
  for (; n < a.n1; ++n) {
    int t = 0;
    for (; t + 4 <= a.T; t += 4) tile<DT, 1, 4>(a, n, t);
    for (; t < a.T; ++t) tile<DT, 1, 1>(a, n, t);
  }
}

}  // namespace

void matmul_avx512(const MatmulArgs& a) {
  switch (a.wtype) {
    case kF32: run<kF32>(a); break;
    case kF16: run<kF16>(a); break;
    case kBF16: run<kBF16>(a); break;
    default: break;
  }
}

float dot_avx512(const float* a, const float* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1u);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

void axpy_avx512(float alpha, const float* x, float* y, int64_t n) {
  const __m512 av = _mm512_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

}  // namespace lm::cpu
