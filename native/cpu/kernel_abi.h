// The plain-C boundary between the dispatcher (cpu/kernels.cpp) and the per-ISA kernel files.
//
// kernels_avx2.cpp and kernels_avx512.cpp are compiled with -mavx2/-mavx512f. Any inline function
// they instantiate from a shared header (std::, common/dtype.h) could be emitted with those
// instructions and picked by the linker for the whole program, which would crash on an older CPU
// (an ODR trap). So those files include only this header and <immintrin.h>, keep everything else in
// an anonymous namespace, and export one function each with this signature.
#pragma once

#include <cstdint>

namespace lm::cpu {

// Weight dtype codes, equal to lm::DType's values (checked in kernels.cpp).
enum : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

// y[t * ldy + n] (+)= sum_k x[t * ldx + k] * W[n * K + k]   for n in [n0, n1), t in [0, T)
// W is [N, K] row-major in dtype `wtype`, converted to fp32 in registers; accumulation is fp32.
struct MatmulArgs {
  const void* w;
  int wtype;
  int64_t K;
  int64_t n0, n1;
  const float* x;
  int64_t ldx;
  int T;
  float* y;
  int64_t ldy;
  bool accumulate;  // y += instead of y =
};

using MatmulFn = void (*)(const MatmulArgs& a);
// sum_i a[i] * b[i] in fp32 (attention scores).
using DotFn = float (*)(const float* a, const float* b, int64_t n);
// y[i] += alpha * x[i] (attention's weighted sum of values).
using AxpyFn = void (*)(float alpha, const float* x, float* y, int64_t n);

void matmul_scalar(const MatmulArgs& a);
float dot_scalar(const float* a, const float* b, int64_t n);
void axpy_scalar(float alpha, const float* x, float* y, int64_t n);
void matmul_avx2(const MatmulArgs& a);    // needs AVX2 + FMA + F16C
float dot_avx2(const float* a, const float* b, int64_t n);
void axpy_avx2(float alpha, const float* x, float* y, int64_t n);
void matmul_avx512(const MatmulArgs& a);  // needs AVX-512 F/BW/VL
float dot_avx512(const float* a, const float* b, int64_t n);
void axpy_avx512(float alpha, const float* x, float* y, int64_t n);

}  // namespace lm::cpu
