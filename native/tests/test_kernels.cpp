// Kernels vs naive loops: every matmul variant this CPU supports (scalar, AVX2, AVX-512) against a
// plain double-precision reference, for every weight dtype, decode (T=1) and prefill tile shapes, and
// odd sizes (K not a multiple of 8/16, N not a multiple of 4, T not a multiple of 4). Also the
// thread-pooled backend ops against the same references.
//
// Tolerance: |y - ref| <= 1e-5 * sum_k |w_k x_k| + 1e-6. The reference is exact up to double
// rounding; an fp32 dot of K terms in any order is within ~K * 2^-24 * sum|w x| (K <= 1100 here:
// ~6.6e-5 worst case, ~sqrt(K) * 6e-8 ~ 2e-6 typical), so 1e-5 relative to the absolute sum catches
// any wrong index, dtype conversion or tail handling while allowing fp32 reordering.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "check.h"
#include "common/dtype.h"
#include "cpu/cpu_backend.h"
#include "cpu/kernels.h"
#include "cpu/thread_pool.h"

namespace {

using lm::DType;

struct Weights {
  DType dtype;
  int64_t N, K;
  std::vector<uint16_t> half;  // bf16 / fp16 storage
  std::vector<float> f32;      // fp32 storage
  const void* data() const { return dtype == DType::F32 ? static_cast<const void*>(f32.data()) : half.data(); }
  float at(int64_t n, int64_t k) const { return lm::load_f32(data(), dtype, size_t(n * K + k)); }
  lm::WeightView view() const { return lm::WeightView{data(), dtype, N, K}; }
};

Weights make_weights(DType dtype, int64_t N, int64_t K, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Weights w{dtype, N, K, {}, {}};
  for (int64_t i = 0; i < N * K; ++i) {
    const float v = dist(rng);
    if (dtype == DType::F32) w.f32.push_back(v);
    else w.half.push_back(dtype == DType::BF16 ? lm::f32_to_bf16(v) : lm::f32_to_f16(v));
  }
  return w;
}

// Naive reference: y[t][n] = sum_k x[t][k] * W[n][k], in double.
void reference(const Weights& w, const std::vector<float>& x, int T, std::vector<double>& y,
               std::vector<double>& abs_sum) {
  y.assign(size_t(T) * size_t(w.N), 0.0);
  abs_sum.assign(y.size(), 0.0);
  for (int t = 0; t < T; ++t)
    for (int64_t n = 0; n < w.N; ++n) {
      double s = 0, a = 0;
      for (int64_t k = 0; k < w.K; ++k) {
        const double p = double(w.at(n, k)) * double(x[size_t(t * w.K + k)]);
        s += p;
        a += std::fabs(p);
      }
      y[size_t(t * w.N + n)] = s;
      abs_sum[size_t(t * w.N + n)] = a;
    }
}

int compare(const std::vector<float>& got, const std::vector<double>& ref, const std::vector<double>& abs_sum,
            const char* what) {
  int bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double tol = 1e-5 * abs_sum[i] + 1e-6;
    if (!(std::fabs(double(got[i]) - ref[i]) <= tol)) {
      if (++bad <= 5) std::fprintf(stderr, "  %s: [%zu] got %.7g want %.7g (tol %.2g)\n", what, i, double(got[i]), ref[i], tol);
      if (bad >= 10) break;  // stop after 10 mismatches
    }
  }
  return bad;
}

void test_matmul_variants() {
  std::mt19937 rng(42);
  const int64_t sizes[][2] = {{1, 1}, {4, 16}, {5, 17}, {7, 33}, {64, 64}, {13, 100}, {96, 257}, {33, 1100}};
  const int tokens[] = {1, 2, 3, 4, 5, 9};
  const lm::cpu::Isa isas[] = {lm::cpu::Isa::Scalar, lm::cpu::Isa::Avx2, lm::cpu::Isa::Avx512};
  int tested_isas = 0;
  for (lm::cpu::Isa isa : isas) {
    if (!lm::cpu::isa_supported(isa)) {
      std::printf("kernels: %d not supported on this CPU, skipped\n", int(isa));
      continue;
    }
    ++tested_isas;
    const lm::cpu::Kernels& k = lm::cpu::kernels_for(isa);
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      for (const auto& nk : sizes) {
        const Weights w = make_weights(dt, nk[0], nk[1], rng);
        for (int T : tokens) {
          std::vector<float> x(size_t(T * w.K));
          std::normal_distribution<float> dist(0.0f, 1.0f);
          for (float& v : x) v = dist(rng);
          std::vector<double> ref, abs_sum;
          reference(w, x, T, ref, abs_sum);
          // Plain, then accumulate into a known y, then a sub-range of rows.
          std::vector<float> y(size_t(T * w.N), 0.0f);
          lm::cpu::MatmulArgs a{w.data(), int(dt), w.K, 0, w.N, x.data(), w.K, T, y.data(), w.N, false};
          k.matmul(a);
          char what[128];
          std::snprintf(what, sizeof what, "%s %s N=%lld K=%lld T=%d", k.name, lm::dtype_name(dt),
                        static_cast<long long>(w.N), static_cast<long long>(w.K), T);
          CHECK_MSG(compare(y, ref, abs_sum, what) == 0, what);
          std::vector<float> acc(y.size(), 1.5f);
          a.y = acc.data();
          a.accumulate = true;
          k.matmul(a);
          std::vector<double> ref_acc(ref);
          for (double& v : ref_acc) v += 1.5;
          CHECK_MSG(compare(acc, ref_acc, abs_sum, what) == 0, std::string(what) + " accumulate");
          if (w.N >= 3) {
            std::vector<float> part(y.size(), -7.0f);
            a.y = part.data();
            a.accumulate = false;
            a.n0 = 1;
            a.n1 = w.N - 1;
            k.matmul(a);
            bool rows_ok = true;
            for (int t = 0; t < T; ++t) {
              rows_ok = rows_ok && part[size_t(t * w.N)] == -7.0f && part[size_t(t * w.N + w.N - 1)] == -7.0f;
              for (int64_t n = 1; n < w.N - 1; ++n)
                rows_ok = rows_ok && std::fabs(double(part[size_t(t * w.N + n)]) - double(y[size_t(t * w.N + n)])) <=
                                         1e-5 * abs_sum[size_t(t * w.N + n)] + 1e-6;
            }
            CHECK_MSG(rows_ok, std::string(what) + " row range [1, N-1) writes only its rows");
          }
        }
      }
    }
  }
  CHECK(tested_isas >= 1);
}

void test_dtype_conversions() {
  // Round trips and known values of the scalar conversions the kernels are checked against.
  CHECK(lm::bf16_to_f32(0x3f80) == 1.0f);
  CHECK(lm::f16_to_f32(0x3c00) == 1.0f);
  CHECK(lm::f16_to_f32(0xc000) == -2.0f);
  CHECK(lm::f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(lm::f16_to_f32(0x7bff) == 65504.0f);
  CHECK(std::isinf(lm::f16_to_f32(0x7c00)));
  CHECK(std::isnan(lm::f16_to_f32(0x7e00)));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;  // inf/NaN
    const float f = lm::f16_to_f32(uint16_t(h));
    if (lm::f32_to_f16(f) != uint16_t(h)) {
      CHECK_MSG(false, "fp16 round trip of " + std::to_string(h));
      break;
    }
  }
  CHECK(lm::f32_to_bf16(1.0f) == 0x3f80);
  CHECK(lm::f32_to_bf16(lm::bf16_to_f32(0x4049)) == 0x4049);
}

void test_dot_axpy() {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (lm::cpu::Isa isa : {lm::cpu::Isa::Scalar, lm::cpu::Isa::Avx2, lm::cpu::Isa::Avx512}) {
    if (!lm::cpu::isa_supported(isa)) continue;
    const lm::cpu::Kernels& k = lm::cpu::kernels_for(isa);
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 32, 48, 100, 129}) {
      std::vector<float> a(size_t(n) + 1), b(size_t(n) + 1), y(size_t(n) + 1), y0;
      for (size_t i = 0; i < a.size(); ++i) {
        a[i] = dist(rng);
        b[i] = dist(rng);
        y[i] = dist(rng);
      }
      double ref = 0, abs_sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref += double(a[size_t(i)]) * double(b[size_t(i)]);
        abs_sum += std::fabs(double(a[size_t(i)]) * double(b[size_t(i)]));
      }
      CHECK_MSG(std::fabs(double(k.dot(a.data(), b.data(), n)) - ref) <= 1e-5 * abs_sum + 1e-6,
                std::string(k.name) + " dot n=" + std::to_string(n));
      y0 = y;
      k.axpy(0.75f, a.data(), y.data(), n);
      bool ok = y[size_t(n)] == y0[size_t(n)];  // nothing written past n
      for (int64_t i = 0; i < n; ++i)
        ok = ok && std::fabs(double(y[size_t(i)]) - (double(y0[size_t(i)]) + 0.75 * double(a[size_t(i)]))) <= 1e-6 * (1 + std::fabs(double(y0[size_t(i)])));
      CHECK_MSG(ok, std::string(k.name) + " axpy n=" + std::to_string(n));
    }
  }
}

void test_thread_pool() {
  lm::cpu::ThreadPool pool(3);
  CHECK(pool.size() == 3);
  std::vector<int> hits(1000, 0);
  for (int rep = 0; rep < 200; ++rep)  // many regions back to back: no lost or doubled work
    pool.parallel_for(1000, 1000, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)] += 1;
    });
  bool all = true;
  for (int h : hits) all = all && h == 200;
  CHECK(all);
  std::vector<int> workers(3, 0);
  pool.parallel_ranges(3, 1 << 20, [&](int w, int64_t, int64_t) { workers[size_t(w)] += 1; });
  CHECK(workers[0] == 1 && workers[1] == 1 && workers[2] == 1);
}

void test_backend_ops() {
  lm::cpu::CpuBackend be(2, 64);
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  // Threaded matmul vs reference (large enough to be split across threads).
  const Weights w = make_weights(DType::BF16, 203, 97, rng);
  for (int T : {1, 6}) {
    std::vector<float> x(size_t(T * w.K));
    for (float& v : x) v = dist(rng);
    std::vector<double> ref, abs_sum;
    reference(w, x, T, ref, abs_sum);
    std::vector<float> y(ref.size());
    be.matmul(w.view(), x.data(), T, y.data(), false);
    CHECK(compare(y, ref, abs_sum, "backend matmul") == 0);
  }
  // rmsnorm vs formula.
  const int D = 37;
  std::vector<float> x(2 * D), y(2 * D), g(D);
  for (float& v : x) v = dist(rng);
  for (float& v : g) v = dist(rng);
  be.rmsnorm(x.data(), lm::WeightView{g.data(), DType::F32, 1, D}, 1e-5f, 2, D, y.data());
  for (int t = 0; t < 2; ++t) {
    double ss = 0;
    for (int i = 0; i < D; ++i) ss += double(x[size_t(t * D + i)]) * double(x[size_t(t * D + i)]);
    const double inv = 1.0 / std::sqrt(ss / D + 1e-5);
    for (int i = 0; i < D; ++i)
      CHECK(std::fabs(double(y[size_t(t * D + i)]) - double(g[size_t(i)]) * double(x[size_t(t * D + i)]) * inv) < 1e-5);
  }
  // Attention: one query over 3 cached positions, window 2 -> only positions 1 and 2 count.
  const int Dh = 4;
  std::vector<float> q = {1, 0, 0, 0}, kc(64 * Dh, 0.0f), vc(64 * Dh, 0.0f), out(Dh);
  for (int j = 0; j < 3; ++j) {
    kc[size_t(j * Dh)] = float(j);
    vc[size_t(j * Dh + 1)] = float(10 * (j + 1));
  }
  lm::AttentionArgs a;
  a.q = q.data();
  a.k_cache = kc.data();
  a.v_cache = vc.data();
  a.out = out.data();
  a.T = 1;
  a.pos0 = 2;
  a.heads = 1;
  a.kv_heads = 1;
  a.head_dim = Dh;
  a.sliding_window = 2;
  a.scale = 1.0f;
  be.attention(a);
  const double w1 = std::exp(1.0), w2 = std::exp(2.0);
  CHECK(std::fabs(double(out[1]) - (20 * w1 + 30 * w2) / (w1 + w2)) < 1e-4);
  a.sliding_window = 0;  // full causal: positions 0..2
  be.attention(a);
  const double w0 = 1.0;
  CHECK(std::fabs(double(out[1]) - (10 * w0 + 20 * w1 + 30 * w2) / (w0 + w1 + w2)) < 1e-4);
}

}  // namespace

int main() {
  test_dtype_conversions();
  test_matmul_variants();
  test_dot_axpy();
  test_thread_pool();
  test_backend_ops();
  return lm_test::finish("test_kernels");
}
