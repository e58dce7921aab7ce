// ISA detection, the per-row scale/zero prelude shared by all kernels, and the naive reference.
#include "gemv.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fp16.h"
#include "pack.h"

namespace lm::quant {
namespace {

bool cpu_has(Isa isa) {
#if defined(__x86_64__) && !defined(LM_QUANT_NO_X86_KERNELS)
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512: return __builtin_cpu_supports("avx512f");
  }
  return false;
#else
  return isa == Isa::Scalar;
#endif
}

// Dequantized scales and zeros of one row's groups. Loops run per meta group so they vectorize; the
// arithmetic is exactly packed_tensor.cpp's dequant_scale/dequant_zero (min + step·c, no contraction).
void row_prelude(const PackedView& w, int64_t row, float* s, float* z) {
  const int64_t gpr = w.groups_per_row();
  const int64_t t0 = row * gpr, t1 = t0 + gpr;
  const int mg = w.spec.meta_group;
  for (int64_t t = t0; t < t1;) {
    const int64_t m = t / mg;
    const int64_t e = std::min<int64_t>(t1, (m + 1) * mg);
    const float smin = half_to_float(w.scale_meta[2 * m]);
    const float sstep = half_to_float(w.scale_meta[2 * m + 1]);
    const float unshift = scale_unshift(w.scale_shift);
    const float zmin = half_to_float(w.zero_meta[2 * m]);
    const float zstep = half_to_float(w.zero_meta[2 * m + 1]);
    for (int64_t u = t; u < e; ++u) s[u - t0] = (smin + sstep * static_cast<float>(w.scale_codes[u])) * unshift;
    for (int64_t u = t; u < e; ++u) z[u - t0] = zmin + zstep * static_cast<float>(w.zero_codes[u]);
    t = e;
  }
}

const RowKernels* pick(const RowKernels* k) {
  if (k) return k;
  const RowKernels* best = row_kernels(best_isa());  // never null: best_isa() is one this CPU runs
  return best ? best : &kRowKernelsScalar;
}

// The kernels' fast path (gemv_rows) for T tokens: Σx per group summed in order (as the per-row
// path does), x prepared once per token for all rows of the range, scales dequantized in the
// kernel. Per-thread scratch grows once and is reused (no allocation per call after the first).
void fused(const PackedView& w, const float* X, int64_t ldx, int T, float* Y, int64_t ldy, int64_t r0,
           int64_t r1, const RowKernels* k, bool accumulate) {
  if (r1 <= r0) return;
  const int64_t gpr = w.groups_per_row();
  const int g = w.spec.group;
  thread_local std::vector<float> buf;
  buf.resize(size_t(T) * size_t(w.cols + 2 * gpr) + 8 * size_t(gpr));
  float* xs = buf.data();                         // [T, cols]
  float* xsum = xs + T * w.cols;                  // [T, gpr] as the kernel wants it (scaled)
  float* raw = xsum + T * gpr;                    // [gpr] Σx of one token, then kernel scratch
  for (int t = 0; t < T; ++t) {
    const float* x = X + t * ldx;
    for (int64_t gi = 0; gi < gpr; ++gi) {
      float acc = 0.0f;
      for (int j = 0; j < g; ++j) acc += x[gi * g + j];
      raw[gi] = acc;
    }
    k->prepare_x(x, raw, w.cols, w.spec.bits, g, xs + t * w.cols, xsum + t * gpr);
  }
  const int64_t rb = row_bytes(w.spec.bits, w.cols);
  GemvRowsArgs a;
  a.codes = w.codes + r0 * rb;
  a.row_stride = rb;
  a.rows = r1 - r0;
  a.cols = w.cols;
  a.bits = w.spec.bits;
  a.group = g;
  a.scale_codes = w.scale_codes;
  a.zero_codes = w.zero_codes;
  a.scale_meta = w.scale_meta;
  a.zero_meta = w.zero_meta;
  a.meta_group = w.spec.meta_group;
  a.group0 = r0 * gpr;
  a.unshift = scale_unshift(w.scale_shift);
  a.xs = xs;
  a.xsum = xsum;
  a.scratch = raw;
  a.y = Y + r0;
  a.accumulate = accumulate;
  a.T = T;
  a.ldxs = w.cols;
  a.ldy = ldy;
  k->gemv_rows(a);
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

const RowKernels* row_kernels(Isa isa) {
  if (!cpu_has(isa)) return nullptr;
  switch (isa) {
    case Isa::Scalar: return &kRowKernelsScalar;
#if defined(__x86_64__) && !defined(LM_QUANT_NO_X86_KERNELS)
    case Isa::Avx2: return &kRowKernelsAvx2;
    case Isa::Avx512: return &kRowKernelsAvx512;
#else
    default: return nullptr;
#endif
  }
  return nullptr;
}

Isa best_isa() {
  static const Isa best = [] {
    Isa b = cpu_has(Isa::Avx512) ? Isa::Avx512 : cpu_has(Isa::Avx2) ? Isa::Avx2 : Isa::Scalar;
    if (const char* env = std::getenv("LOCALMOE_QUANT_ISA")) {
      for (Isa want : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
        if (std::strcmp(env, isa_name(want)) == 0 && cpu_has(want)) b = want;
    }
    return b;
  }();
  return best;
}

void gemv(const PackedView& w, const float* x, float* y, int64_t r0, int64_t r1,
          const RowKernels* kernels, bool accumulate) {
  const RowKernels* k = pick(kernels);
  if (k->gemv_rows) return fused(w, x, 0, 1, y, 0, r0, r1, k, accumulate);
  const int64_t gpr = w.groups_per_row();
  const int g = w.spec.group;
  thread_local std::vector<float> scratch;
  scratch.resize(3 * gpr);
  float* s = scratch.data();
  float* z = s + gpr;
  float* xsum = z + gpr;
  for (int64_t gi = 0; gi < gpr; ++gi) {
    float acc = 0.0f;
    for (int j = 0; j < g; ++j) acc += x[gi * g + j];
    xsum[gi] = acc;
  }
  const int64_t rb = row_bytes(w.spec.bits, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    row_prelude(w, r, s, z);
    const float v = k->row_dot(w.codes + r * rb, w.cols, w.spec.bits, g, x, s, z, xsum);
    y[r] = accumulate ? y[r] + v : v;
  }
}

void dequantize_row(const PackedView& w, int64_t row, float* out, const RowKernels* kernels) {
  const RowKernels* k = pick(kernels);
  const int64_t gpr = w.groups_per_row();
  thread_local std::vector<float> scratch;
  scratch.resize(2 * gpr);
  row_prelude(w, row, scratch.data(), scratch.data() + gpr);
  k->row_dequant(w.codes + row * row_bytes(w.spec.bits, w.cols), w.cols, w.spec.bits,
                 w.spec.group, scratch.data(), scratch.data() + gpr, out);
}

void gemm_small(const PackedView& w, const float* X, int64_t ldx, int batch, float* Y, int64_t ldy,
                int64_t r0, int64_t r1, const RowKernels* kernels, bool accumulate) {
  const RowKernels* k = pick(kernels);
  thread_local std::vector<float> row;
  row.resize(w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    dequantize_row(w, r, row.data(), k);
    for (int b = 0; b < batch; ++b) {
      const float v = k->dot(row.data(), X + b * ldx, w.cols);
      Y[b * ldy + r] = accumulate ? Y[b * ldy + r] + v : v;
    }
  }
}

void packed_matmul(const PackedMatmulArgs& a, const RowKernels* kernels) {
  const RowKernels* k = pick(kernels);
  if (k->gemv_rows && a.T >= 1 && a.T <= kMaxFusedTokens)
    return fused(*a.w, a.x, a.ldx, a.T, a.y, a.ldy, a.n0, a.n1, k, a.accumulate);
  if (a.T == 1)
    gemv(*a.w, a.x, a.y, a.n0, a.n1, kernels, a.accumulate);
  else
    gemm_small(*a.w, a.x, a.ldx, a.T, a.y, a.ldy, a.n0, a.n1, kernels, a.accumulate);
}

void gemv_reference(const PackedView& w, const float* x, double* y, double* abs_terms) {
  const int64_t gpr = w.groups_per_row();
  const int g = w.spec.group;
  std::vector<uint8_t> q(w.cols);
  const int64_t rb = row_bytes(w.spec.bits, w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    unpack_codes(w.codes + r * rb, 1, w.cols, w.spec.bits, q.data());
    double acc = 0.0, mag = 0.0;
    for (int64_t gi = 0; gi < gpr; ++gi) {
      const double s = dequant_scale(w, r * gpr + gi);
      const double z = dequant_zero(w, r * gpr + gi);
      double xabs = 0.0;
      for (int j = 0; j < g; ++j) {
        const int64_t c = gi * g + j;
        const double xc = x[c];
        acc += s * (q[c] - z) * xc;
        mag += std::fabs(s * q[c] * xc);
        xabs += std::fabs(xc);
      }
      mag += std::fabs(s * z) * xabs;
    }
    y[r] = acc;
    if (abs_terms) abs_terms[r] = mag;
  }
}

}  // namespace lm::quant
