// The plain boundary between the packed-GEMV dispatcher (gemv.cpp) and the per-ISA kernel files.
//
// gemv_avx2.cpp / gemv_avx512.cpp are compiled with -mavx2 / -mavx512f (per-file flags, never
// -march=native). An inline function they instantiated from a shared header (std::, fp16.h) could be
// emitted with those instructions and chosen by the linker for the whole program, crashing older CPUs
// (the ODR trap native/cpu/kernel_abi.h describes). So those files include only this header and
// <immintrin.h>, keep everything else in an anonymous namespace and export one table each.
//
// Kernels work one row at a time on decoded per-group scales; the dispatcher dequantizes the 8-bit
// scale/zero codes of a row (cheap, shared by all ISAs, bit-identical everywhere).
#pragma once

#include <cstdint>

namespace lm::quant {

struct RowKernels {
  const char* name;  // "scalar" | "avx2" | "avx512"
  // y = Σ_g s[g] · Σ_{k∈g} Q[k]·x[k]  −  Σ_g s[g]·z[g]·xsum[g]   over one packed row, where
  // xsum[g] = Σ_{k∈g} x[k] (computed once per x by the caller). cols % 16 == 0,
  // group ∈ {16, 32, 64, 128}; s, z, xsum hold cols/group values.
  float (*row_dot)(const uint8_t* row, int64_t cols, int bits, int group, const float* x,
                   const float* s, const float* z, const float* xsum);
  // out[k] = s[g] · (Q[k] − z[g]) in fp32 (sub, then mul: bit-identical across ISAs).
  void (*row_dequant)(const uint8_t* row, int64_t cols, int bits, int group, const float* s,
                      const float* z, float* out);
  // Σ a[i]·b[i], n % 16 == 0.
  float (*dot)(const float* a, const float* b, int64_t n);
};

extern const RowKernels kRowKernelsScalar;
extern const RowKernels kRowKernelsAvx2;    // needs AVX2 + FMA (only compiled on x86-64)
extern const RowKernels kRowKernelsAvx512;  // needs AVX-512F   (only compiled on x86-64)

}  // namespace lm::quant
