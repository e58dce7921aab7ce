// offload::HostExperts (experts computed on the CPU for hybrid execution) against the CPU backend's
// own mixture-of-experts sequence on a small random quantized layer: per expert in id order,
// gather rows, w1 and w3 matmuls, swiglu, w2 matmul, scatter-add into a zeroed sum.
//
// Tolerance: none. Both run the same packed row kernels (same ISA) on the same rows with the same T
// per expert, the same silu formula and the same summation order, and every output row is
// independent of how rows are split across threads, so the results must be bit-identical. Also
// checked: the per-expert (unweighted) outputs the hybrid decode path ships to the GPU, odd thread
// counts (uneven row splits), each bit width, one token (fused GEMV) and several (small GEMM).
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "check.h"
#include "cpu/cpu_backend.h"
#include "cpu/thread_pool.h"
#include "offload/host_experts.h"
#include "quant/hqq.h"

namespace {

using lm::quant::PackedTensor;

struct Layer {
  std::vector<PackedTensor> w1, w2, w3;
  std::vector<lm::quant::PackedView> v1, v2, v3;
  lm::quant::PackedExpert expert(int e) const { return {v1[size_t(e)], v2[size_t(e)], v3[size_t(e)]}; }
};

Layer make_layer(int E, int64_t D, int64_t F, const lm::quant::QuantSpec& spec, std::mt19937& rng) {
  std::student_t_distribution<float> heavy(3.0f);
  Layer L;
  auto q = [&](int64_t rows, int64_t cols) {
    std::vector<float> w(size_t(rows * cols));
    for (float& v : w) v = 0.05f * heavy(rng);
    return lm::quant::quantize(w.data(), rows, cols, spec, lm::quant::Method::Hqq);
  };
  for (int e = 0; e < E; ++e) {
    L.w1.push_back(q(F, D));
    L.w2.push_back(q(D, F));
    L.w3.push_back(q(F, D));
  }
  for (int e = 0; e < E; ++e) {
    L.v1.push_back(L.w1[size_t(e)].view());
    L.v2.push_back(L.w2[size_t(e)].view());
    L.v3.push_back(L.w3[size_t(e)].view());
  }
  return L;
}

lm::WeightView packed_view(const lm::quant::PackedView& v) {
  lm::WeightView w;
  w.rows = v.rows;
  w.cols = v.cols;
  w.packed = &v;
  return w;
}

void check_layer(int threads, const lm::quant::QuantSpec& spec, int T, uint32_t seed) {
  constexpr int E = 4, K = 2;
  constexpr int64_t D = 128, F = 320;  // F: not a multiple of 4 threads x 4-row blocks
  std::mt19937 rng(seed);
  const Layer layer = make_layer(E, D, F, spec, rng);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> h(size_t(T * D));
  for (float& v : h) v = normal(rng);

  // Routing: K distinct experts per token with weights summing to 1, grouped by expert.
  std::vector<std::vector<int32_t>> rows(E);
  std::vector<std::vector<float>> wts(E);
  for (int t = 0; t < T; ++t) {
    const int a = int(rng() % E);
    int b = int(rng() % (E - 1));
    if (b >= a) ++b;
    const float wa = 0.3f + 0.4f * float(rng() % 1000) / 1000.0f;
    rows[size_t(a)].push_back(t), wts[size_t(a)].push_back(wa);
    rows[size_t(b)].push_back(t), wts[size_t(b)].push_back(1.0f - wa);
  }

  // The CPU backend's sequence (model/mixtral.cpp's expert loop).
  lm::cpu::CpuBackend be(threads, 16);
  std::vector<float> ref(size_t(T * D), 0.0f), xs(size_t(T * D)), a(size_t(T * F)), b(size_t(T * F)),
      ys(size_t(T * D));
  std::vector<std::vector<float>> ref_y(E);
  for (int e = 0; e < E; ++e) {
    const int n = int(rows[size_t(e)].size());
    if (n == 0) continue;
    be.gather_rows(h.data(), rows[size_t(e)].data(), n, int(D), xs.data());
    be.matmul(packed_view(layer.v1[size_t(e)]), xs.data(), n, a.data(), false);
    be.matmul(packed_view(layer.v3[size_t(e)]), xs.data(), n, b.data(), false);
    be.swiglu(a.data(), b.data(), size_t(n) * size_t(F));
    be.matmul(packed_view(layer.v2[size_t(e)]), a.data(), n, ys.data(), false);
    ref_y[size_t(e)].assign(ys.begin(), ys.begin() + n * D);
    be.scatter_add_rows(ys.data(), rows[size_t(e)].data(), wts[size_t(e)].data(), n, int(D), ref.data());
  }

  CHECK(lm::offload::HostExperts::expert_bytes(layer.expert(0)) ==
        uint64_t(layer.w1[0].bytes() + layer.w2[0].bytes() + layer.w3[0].bytes()));
  lm::cpu::ThreadPool pool(threads);
  lm::offload::HostExperts host(pool, D, F, T * K);
  std::vector<lm::offload::HostExpertJob> jobs;
  std::vector<std::vector<float>> own(E);
  for (int e = 0; e < E; ++e) {
    const int n = int(rows[size_t(e)].size());
    if (n == 0) continue;
    own[size_t(e)].assign(size_t(n * D), -1.0f);
    jobs.push_back({layer.expert(e), rows[size_t(e)].data(), wts[size_t(e)].data(), n, own[size_t(e)].data()});
  }
  std::vector<float> out(size_t(T * D), 0.0f);
  host.run(jobs.data(), int(jobs.size()), h.data(), out.data());
  CHECK_MSG(std::memcmp(out.data(), ref.data(), out.size() * sizeof(float)) == 0,
            "combined output differs from the CPU backend (bits " + std::to_string(spec.bits) + ", T " +
                std::to_string(T) + ", threads " + std::to_string(threads) + ")");
  for (int e = 0; e < E; ++e)
    if (!own[size_t(e)].empty())
      CHECK_MSG(std::memcmp(own[size_t(e)].data(), ref_y[size_t(e)].data(), own[size_t(e)].size() * sizeof(float)) == 0,
                "expert " + std::to_string(e) + "'s own output differs");

  // A second call on the same object (scratch reused; no state carried over).
  std::vector<float> again(size_t(T * D), 0.0f);
  host.run(jobs.data(), int(jobs.size()), h.data(), again.data());
  CHECK(std::memcmp(again.data(), out.data(), out.size() * sizeof(float)) == 0);
}

}  // namespace

int main() {
  const lm::quant::QuantSpec specs[] = {{2, 16, 128}, {3, 64, 128}, {4, 64, 256}};
  uint32_t seed = 7;
  for (const lm::quant::QuantSpec& s : specs)
    for (int threads : {1, 3, 4})
      for (int T : {1, 5}) check_layer(threads, s, T, seed++);
  return lm_test::finish("test_host_experts");
}
