// Backend::matmul on HQQ-packed WeightViews (the CPU backend's dispatch to quant::packed_matmul,
// rows split over its thread pool) against the answer key: dequantize the whole matrix with
// quant::dequantize, then y = x·Ŵᵀ summed in double. Every bit width, the group sizes the presets
// use, row counts that do not split evenly into the backend's 4-row blocks, T = 1 (fused GEMV,
// decode) and T > 1 (dequantize-once GEMM, prefill), overwrite and accumulate.
//
// Tolerance (STYLE.md 4.2), per output y[t, n] with A = Σ_k |ŝ·Q_k·x_k| + Σ_g |ŝ·ẑ|·Σ_{k∈g}|x_k|
// (quant::gemv_reference's abs_terms: the magnitude of the terms the kernels really add):
//   - the reference uses Ŵ = fl(ŝ·fl(Q − ẑ)), two roundings of relative size u = 2^-24 on each
//     entry, |Ŵ_k − ŝ(Q_k − ẑ)| <= 2u·|ŝ|·(|Q_k| + |ẑ|), so it moves y by at most 2u·A;
//   - T = 1 sums Σ_g ŝ_g Σ Q x − Σ_g ŝ_g ẑ_g X_g in fp32 through at most n = g + K/g + 8 roundings
//     (derivation in quant_gemv_test.cpp); T > 1 dots the exact fp32 row with x, n <= K + 4;
//   - accumulate adds one more rounding of |y0| + |y|.
// So |y − ref| <= (γ_n + 2u)·A + u·(|y0| + |ref|) with γ_n = n·u / (1 − n·u). One wrong code moves
// y by ŝ·|x_k| ≈ A / K · (a few), far above this bound for K ≥ 64, so a misplaced value fails.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "cpu/cpu_backend.h"
#include "quant/gemv.h"
#include "quant/hqq.h"

namespace {

using lm::quant::QuantSpec;

int g_cases = 0;

void check_case(lm::cpu::CpuBackend& be, int bits, int group, int64_t N, int64_t K, int T, bool accumulate,
                uint32_t seed) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> heavy(3.0f);  // LLM weights have heavy tails
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(size_t(N * K));
  for (float& v : w) v = 0.02f * heavy(rng);
  const QuantSpec spec{bits, group, 128};
  const lm::quant::PackedTensor pt = lm::quant::quantize(w.data(), N, K, spec, lm::quant::Method::Hqq);
  const lm::quant::PackedView pv = pt.view();
  std::vector<float> deq(size_t(N * K));
  lm::quant::dequantize(pv, deq.data());

  std::vector<float> x(size_t(T * K)), y(size_t(T * N)), y0(size_t(T * N));
  for (float& v : x) v = normal(rng);
  for (float& v : y0) v = accumulate ? normal(rng) : 0.0f;
  y = y0;
  lm::WeightView view;
  view.rows = N;
  view.cols = K;
  view.packed = &pv;
  be.matmul(view, x.data(), T, y.data(), accumulate);

  const double u = std::ldexp(1.0, -24);
  const double n = T == 1 ? double(group) + double(K) / group + 8 : double(K) + 4;
  const double gamma = n * u / (1 - n * u);
  std::vector<double> ref(static_cast<size_t>(N)), mag(static_cast<size_t>(N));
  int bad = 0;
  for (int t = 0; t < T && bad < 10; ++t) {
    lm::quant::gemv_reference(pv, x.data() + t * K, ref.data(), mag.data());  // for A only
    for (int64_t r = 0; r < N && bad < 10; ++r) {
      double exact = 0.0;
      for (int64_t k = 0; k < K; ++k) exact += double(deq[size_t(r * K + k)]) * double(x[size_t(t * K + k)]);
      const double want = double(y0[size_t(t * N + r)]) + exact;
      const double got = double(y[size_t(t * N + r)]);
      const double tol = (gamma + 2 * u) * mag[size_t(r)] + u * (std::fabs(double(y0[size_t(t * N + r)])) + std::fabs(want));
      if (!(std::fabs(got - want) <= tol)) {
        ++bad;
        char msg[256];
        std::snprintf(msg, sizeof msg, "bits=%d g=%d %lldx%lld T=%d acc=%d [t=%d, n=%lld]: got %.9g want %.9g |diff| %.3g > tol %.3g",
                      bits, group, static_cast<long long>(N), static_cast<long long>(K), T, int(accumulate), t,
                      static_cast<long long>(r), got, want, std::fabs(got - want), tol);
        CHECK_MSG(false, msg);
      }
    }
  }
  ++g_cases;
}

}  // namespace

int main() {
  lm::cpu::CpuBackend be(3, 16);  // 3 threads: row ranges of uneven length
  uint32_t seed = 1;
  struct Shape { int64_t N, K; };
  // 37 and 5 rows: not multiples of the 4-row blocks the backend splits; K = 224 / 256 are the
  // embedded model's hidden and expert sizes (224 = 7·32: a partial 3-bit block per row).
  const Shape shapes[] = {{37, 256}, {5, 224}, {64, 512}};
  for (int bits : {2, 3, 4, 8})
    for (int group : {16, 32, 64})
      for (const Shape& s : shapes) {
        if (s.K % group != 0) continue;
        for (int T : {1, 3})
          for (bool acc : {false, true}) check_case(be, bits, group, s.N, s.K, T, acc, seed++);
      }
  std::printf("test_packed_matmul: %d cases on %s\n", g_cases, be.name());
  CHECK(g_cases >= 80);
  return lm_test::finish("test_packed_matmul");
}
