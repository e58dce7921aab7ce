// Portable matmul kernel: the fallback on CPUs without AVX2 (and on non-x86 builds).
// Same tiling as the SIMD variants (one weight row converted once, reused for 4 tokens) so the
// compiler's auto-vectorisation at the baseline ISA has something to work with.
#include "common/dtype.h"
#include "cpu/kernel_abi.h"

namespace lm::cpu {

namespace {

template <typename Load>
void matmul_rows(const MatmulArgs& a, Load load) {
  const int64_t K = a.K;
  for (int64_t n = a.n0; n < a.n1; ++n) {
    int t = 0;
    for (; t + 4 <= a.T; t += 4) {
      const float* x0 = a.x + (t + 0) * a.ldx;
      const float* x1 = a.x + (t + 1) * a.ldx;
      const float* x2 = a.x + (t + 2) * a.ldx;
      const float* x3 = a.x + (t + 3) * a.ldx;
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t k = 0; k < K; ++k) {
        const float w = load(n * K + k);
        s0 += w * x0[k];
        s1 += w * x1[k];
        s2 += w * x2[k];
        s3 += w * x3[k];
      }
      float* y = a.y + n;
      const float s[4] = {s0, s1, s2, s3};
      for (int j = 0; j < 4; ++j) y[(t + j) * a.ldy] = a.accumulate ? y[(t + j) * a.ldy] + s[j] : s[j];
    }
    for (; t < a.T; ++t) {
      const float* x0 = a.x + t * a.ldx;
      float s0 = 0;
      for (int64_t k = 0; k < K; ++k) s0 += load(n * K + k) * x0[k];
      float& y = a.y[t * a.ldy + n];
      y = a.accumulate ? y + s0 : s0;
    }
  }
}

}  // namespace

void matmul_scalar(const MatmulArgs& a) {
  switch (a.wtype) {
    case kF32: {
      const float* w = static_cast<const float*>(a.w);
      matmul_rows(a, [w](int64_t i) { return w[i]; });
      break;
    }
    case kF16: {
      const uint16_t* w = static_cast<const uint16_t*>(a.w);
      matmul_rows(a, [w](int64_t i) { return f16_to_f32(w[i]); });
      break;
    }
    case kBF16: {
      const uint16_t* w = static_cast<const uint16_t*>(a.w);
      matmul_rows(a, [w](int64_t i) { return bf16_to_f32(w[i]); });
      break;
    }
  }
}

float dot_scalar(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_scalar(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace lm::cpu
