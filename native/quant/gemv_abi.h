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

// One call of the fused batch-1 GEMV over a range of rows (the fast path; see gemv.cpp). Everything
// a kernel needs to dequantize a row's scales and zeros itself (vectorized) is passed in; the
// per-x preparation (prepare_x) is made once per call and shared by all rows.
struct GemvRowsArgs {
  const uint8_t* codes = nullptr;        // packed codes of the first row
  int64_t row_stride = 0;                // bytes per row of codes
  int64_t rows = 0;                      // rows to compute
  int64_t cols = 0;
  int bits = 0, group = 0;
  const uint8_t* scale_codes = nullptr;  // the whole tensor's 8-bit codes (indexed by global group)
  const uint8_t* zero_codes = nullptr;
  const uint16_t* scale_meta = nullptr;  // the whole tensor's fp16 (min, step) pairs
  const uint16_t* zero_meta = nullptr;
  int meta_group = 0;
  int64_t group0 = 0;                    // global group index of the first row's first group
  float unshift = 1.0f;                  // scale_unshift(scale_shift)
  const float* xs = nullptr;             // prepare_x output: x scaled per slot
  const float* xsum = nullptr;           // prepare_x output: Σx per group (scaled)
  float* scratch = nullptr;              // >= 8·cols/group floats, private to the calling thread
  float* y = nullptr;                    // y[t·ldy + r], r < rows: the first row's output first
  bool accumulate = false;
  int T = 1;                             // tokens (T > 1: xs, xsum, y hold T vectors)
  int64_t ldxs = 0;                      // floats between tokens' xs (xsum: cols/group apart)
  int64_t ldy = 0;
};

constexpr int kMaxFusedTokens = 8;  // packed_matmul takes gemv_rows up to this many tokens

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
  // Optional fast path for T <= kMaxFusedTokens tokens (nullptr: the dispatcher uses row_dot, or
  // row_dequant + dot for T > 1). prepare_x fills xs [cols] and xsum_out [cols/group] from one x
  // and its xsum (Σ x per group, summed in order by the caller); gemv_rows then computes rows with
  // results bit-identical to row_dot's, each token as if alone.
  void (*prepare_x)(const float* x, const float* xsum, int64_t cols, int bits, int group, float* xs,
                    float* xsum_out);
  void (*gemv_rows)(const GemvRowsArgs& a);
};

extern const RowKernels kRowKernelsScalar;
extern const RowKernels kRowKernelsAvx2;    // needs AVX2 + FMA (only compiled on x86-64)
extern const RowKernels kRowKernelsAvx512;  // needs AVX-512F   (only compiled on x86-64)

}  // namespace lm::quant
