// AVX2 matmul kernel (compiled with -mavx2 -mfma -mf16c; chosen at run time).
//
// Same design as kernels_avx512.cpp with 8-wide ymm registers: RB weight rows x TB tokens of fp32
// accumulators, each weight chunk widened once (bf16: zero-extend + shift; fp16: vcvtph2ps) and
// reused for TB tokens. AVX2 has no masked 16-bit loads, so the K tail (< 8) is finished in scalar
// code with local conversions. See kernel_abi.h for why this file includes nothing else.
#include <immintrin.h>

#include "cpu/kernel_abi.h"

namespace lm::cpu {

namespace {

template <int DT>
inline __m256 load8(const void* w, int64_t i) {
  if constexpr (DT == kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  } else if constexpr (DT == kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

// One element, for the K tail (F16C converts a single half through the vector unit).
template <int DT>
inline float load1(const void* w, int64_t i) {
  if constexpr (DT == kF32) {
    return static_cast<const float*>(w)[i];
  } else if constexpr (DT == kF16) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<const uint16_t*>(w)[i])));
  } else {
    return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(int(uint32_t(static_cast<const uint16_t*>(w)[i]) << 16))));
  }
}

inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

template <int DT, int RB, int TB>
inline void tile(const MatmulArgs& a, int64_t n, int t) {
  const int64_t K = a.K;
  __m256 acc[RB][TB];
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < TB; ++j) acc[r][j] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 xv[TB];
#pragma GCC unroll 8
    for (int j = 0; j < TB; ++j) xv[j] = _mm256_loadu_ps(a.x + (t + j) * a.ldx + k);
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) {
      const __m256 wv = load8<DT>(a.w, (n + r) * K + k);
#pragma GCC unroll 8
      for (int j = 0; j < TB; ++j) acc[r][j] = _mm256_fmadd_ps(wv, xv[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < TB; ++j) {
      float s = hsum(acc[r][j]);
      for (int64_t kk = k; kk < K; ++kk) s += load1<DT>(a.w, (n + r) * K + kk) * a.x[(t + j) * a.ldx + kk];
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

void matmul_avx2(const MatmulArgs& a) {
  switch (a.wtype) {
    case kF32: run<kF32>(a); break;
    case kF16: run<kF16>(a); break;
    case kBF16: run<kBF16>(a); break;
    default: break;
  }
}

float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = hsum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_avx2(float alpha, const float* x, float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace lm::cpu
