// Fused dequantize + GEMV (and the small-batch variant) of every ISA this CPU runs, against the
// naive double-precision reference, for every bit width and group size, including rows whose
// length ends in a partial block.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "quant/gemv.h"
#include "quant/hqq.h"
#include "quant_test_util.h"

using namespace lm::quant;

// Tolerance derivation (STYLE.md 4.1/4.2). The fused kernel evaluates
//   y = Σ_g s_g · (Σ_{k∈g} Q_k x_k) − Σ_g s_g z_g X_g,   X_g = Σ_{k∈g} x_k,
// in fp32. A product Q_k·x_k passes through at most g (inner sum; the scalar kernel adds a group's
// terms one by one, SIMD ones g/16 deep) + 1 (× s_g) + cols/g (outer sum) + 4 (horizontal
// reduction) roundings; a zero term through g (X_g) + 2 (s·z, × X_g) + cols/g + 4; then 2 more
// (the subtraction, the result). So n = g + cols/g + 8 roundings of relative size u = 2^-24 and the
// classic summation bound gives |y − y_ref| <= γ_n · A, γ_n = n·u/(1 − n·u), where
// A = Σ|s·Q·x| + Σ|s·z|·Σ|x| is the magnitude of the terms actually summed. For cols = 4096, g = 16
// this is ~1.6e-5·A; a single wrong code moves y by s·|x_k| ≈ A/cols·(a few) = 2.4e-4·A, so the
// test catches one misplaced value.
static double fused_tol(int64_t cols, int group, double A) {
  const double n = group + static_cast<double>(cols) / group + 8;
  const double u = std::ldexp(1.0, -24);
  return n * u / (1 - n * u) * A;
}

static int64_t g_checked = 0;

static void check_case(const RowKernels* k, int bits, int group, int64_t rows, int64_t cols,
                       uint32_t seed) {
  const auto w = qtest::weights(qtest::Dist::StudentT3, rows * cols, seed);
  const auto x = qtest::weights(qtest::Dist::Gaussian, cols, seed + 1, 1.0f);
  const PackedTensor p = quantize(w.data(), rows, cols, QuantSpec{bits, group, 128}, Method::Hqq);
  const PackedView v = p.view();

  std::vector<double> y_ref(rows), mag(rows);
  gemv_reference(v, x.data(), y_ref.data(), mag.data());

  // 1. Fused GEMV over two row ranges (the split a thread pool would make).
  std::vector<float> y(rows, std::nanf(""));
  gemv(v, x.data(), y.data(), 0, rows / 3, k);
  gemv(v, x.data(), y.data(), rows / 3, rows, k);
  for (int64_t r = 0; r < rows; ++r) {
    const double tol = fused_tol(cols, group, mag[r]);
    QCHECK(std::fabs(y[r] - y_ref[r]) <= tol,
           "%s bits=%d g=%d %lldx%lld row %lld: y=%.9g ref=%.9g |diff|=%.3g > tol %.3g", k->name,
           bits, group, static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(r), y[r], y_ref[r],
           std::fabs(y[r] - y_ref[r]), tol);
  }

  // 1b. The fast batch-1 path (gemv_rows, when the ISA has one) computes every row with the same
  //     roundings in the same order as the per-row kernel (row_dot): bit-identical, on any row range.
  if (k->gemv_rows) {
    RowKernels per_row = *k;
    per_row.gemv_rows = nullptr;
    std::vector<float> y_row(rows);
    gemv(v, x.data(), y_row.data(), 0, rows, &per_row);
    for (int64_t r = 0; r < rows; ++r)
      QCHECK(std::memcmp(&y[r], &y_row[r], sizeof(float)) == 0 || y[r] == y_row[r],
             "%s bits=%d g=%d cols=%lld row %lld: fast path %.9g != row kernel %.9g", k->name, bits,
             group, static_cast<long long>(cols), static_cast<long long>(r), y[r], y_row[r]);
  }

  // 2. Row dequantization is bit-identical to the reference dequantize() (same fp32 expression).
  std::vector<float> full(rows * cols), row(cols);
  dequantize(v, full.data());
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(v, r, row.data(), k);
    QCHECK(std::memcmp(row.data(), full.data() + r * cols, cols * sizeof(float)) == 0,
           "%s bits=%d g=%d cols=%lld: dequantize_row(%lld) differs from dequantize()", k->name,
           bits, group, static_cast<long long>(cols), static_cast<long long>(r));
  }

  // 3. Small batch: Y[b] = Ŵ·X[b]. Ŵ rows are exact (checked above), so only the fp32 dot remains:
  //    n = cols (scalar chain) + 1 roundings against Σ|Ŵ·x| of the same fp32 Ŵ summed in double.
  const int batch = 3, max_t = 8;  // X holds max_t vectors for check 4's T = 8
  const int64_t ldx = cols + 16, ldy = rows + 5;
  std::vector<float> X(max_t * ldx), Y(batch * ldy, std::nanf(""));
  for (int b = 0; b < max_t; ++b) {
    const auto xb = qtest::weights(qtest::Dist::Gaussian, cols, seed + 10 + b, 1.0f);
    std::copy(xb.begin(), xb.end(), X.begin() + b * ldx);
  }
  gemm_small(v, X.data(), ldx, batch, Y.data(), ldy, 0, rows, k);
  for (int b = 0; b < batch; ++b) {
    for (int64_t r = 0; r < rows; ++r) {
      double ref = 0, a = 0;
      for (int64_t c = 0; c < cols; ++c) {
        ref += static_cast<double>(full[r * cols + c]) * X[b * ldx + c];
        a += std::fabs(static_cast<double>(full[r * cols + c]) * X[b * ldx + c]);
      }
      const double n = static_cast<double>(cols) + 1, u = std::ldexp(1.0, -24);
      const double tol = n * u / (1 - n * u) * a;
      QCHECK(std::fabs(Y[b * ldy + r] - ref) <= tol, "%s bits=%d g=%d batch %d row %lld: %.9g vs %.9g",
             k->name, bits, group, b, static_cast<long long>(r), Y[b * ldy + r], ref);
    }
  }
  // 4. The backend entry: T = 1, 3 and 8, with accumulation into existing values.
  for (int T : {1, 3, 8}) {
    std::vector<float> Y0(max_t * ldy), Y1(max_t * ldy);
    for (size_t i = 0; i < Y0.size(); ++i) Y0[i] = Y1[i] = 0.25f * static_cast<float>(i % 7);
    PackedMatmulArgs a;
    a.w = &v;
    a.x = X.data();
    a.ldx = ldx;
    a.T = T;
    a.y = Y1.data();
    a.ldy = ldy;
    a.accumulate = true;
    a.n0 = 1;
    a.n1 = rows - 1;  // a middle range: rows 0 and rows-1 must stay untouched
    packed_matmul(a, k);
    std::vector<float> plain(max_t * ldy);
    if (T == 1) gemv(v, X.data(), plain.data(), 0, rows, k);
    else if (k->gemv_rows)  // small T on the fast path: each token exactly as a T = 1 call
      for (int t = 0; t < T; ++t) gemv(v, X.data() + t * ldx, plain.data() + t * ldy, 0, rows, k);
    else gemm_small(v, X.data(), ldx, T, plain.data(), ldy, 0, rows, k);
    for (int t = 0; t < T; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        const size_t i = static_cast<size_t>(t * ldy + r);
        const float expect = (r == 0 || r == rows - 1) ? Y0[i] : Y0[i] + plain[i];
        QCHECK(Y1[i] == expect, "%s packed_matmul T=%d row %lld: %g != %g", k->name, T,
               static_cast<long long>(r), Y1[i], expect);
      }
  }
  ++g_checked;
}

int main() {
  int n_isa = 0;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    const RowKernels* k = row_kernels(isa);
    if (!k) {
      std::printf("%s: not supported on this CPU, skipped\n", isa_name(isa));
      continue;
    }
    ++n_isa;
    for (int bits : {2, 3, 4, 8})
      for (int group : {16, 32, 64, 128}) {
        check_case(k, bits, group, 19, 4096, 100 + bits * 7 + group);  // whole blocks
        check_case(k, bits, group, 7, 384, 200 + bits + group);        // 3-bit/2-bit: 1.5 blocks
        if (group <= 32) check_case(k, bits, group, 5, 160, 300 + bits);  // tiny model's F
        check_case(k, bits, group, 9, 4480, 400 + bits + group);  // rows in 2 column chunks, partial block
      }
    std::printf("%s: OK\n", k->name);
  }
  QCHECK(n_isa >= 1, "no kernels at all");
  std::printf("quant_gemv_test: OK (%lld cases, best ISA here: %s)\n", static_cast<long long>(g_checked),
              isa_name(best_isa()));
  return 0;
}
