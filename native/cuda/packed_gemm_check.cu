// packed_gemm_check: the tensor-core packed matmul (packed_gemm.h) against the fp32 CUDA-core
// kernel (packed_matvec with the tensor-core path off) on random packed matrices at Mixtral
// shapes and at odd small shapes: direct and indirect (expert table) jobs, Store / Accumulate /
// SwiGLU, split-K and not. Outputs are poisoned (NaN) before each run; prints per case the relative
// error ‖out − ref‖ / ‖ref‖, max |out − ref| / max |ref|, and both kernels' times (information only).
// Exit status 1 when any case exceeds the tolerance or produces a non-finite value.
// Usage: packed_gemm_check [--quick]
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda/packed_gemm.h"
#include "cuda/packed_matvec.h"

using namespace lm::cuda;

namespace {

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "CUDA error (%s): %s\n", what, cudaGetErrorString(e));
    std::exit(2);
  }
}

uint16_t to_half(float f) {
  const __half h = __float2half_rn(f);
  uint16_t u;
  std::memcpy(&u, &h, 2);
  return u;
}

// A random packed matrix laid out in one device buffer (codes | scale codes | zero codes | metas).
struct DevMatrix {
  PackedMatrix m;
  MatrixOffsets off;
  uint8_t* base = nullptr;
};

DevMatrix make_matrix(std::mt19937& rng, int bits, int group, int meta, int N, int K) {
  const int bv = bits == 3 ? 256 : bits == 4 ? 128 : 256, bb = bits == 3 ? 96 : 64;
  const int row_bytes = (K + bv - 1) / bv * bb;
  const int64_t groups = int64_t(N) * (K / group), n_meta = (groups + meta - 1) / meta;
  auto up = [](int64_t n) { return (n + 255) / 256 * 256; };
  DevMatrix d;
  d.off.codes = 0;
  d.off.scale_codes = up(int64_t(N) * row_bytes);
  d.off.zero_codes = d.off.scale_codes + up(groups);
  d.off.scale_meta = d.off.zero_codes + up(groups);
  d.off.zero_meta = d.off.scale_meta + up(n_meta * 4);
  const size_t total = d.off.zero_meta + up(n_meta * 4);
  std::vector<uint8_t> h(total, 0);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint64_t i = 0; i < d.off.scale_meta; ++i) h[i] = uint8_t(byte(rng));  // codes, scale and zero codes
  std::uniform_real_distribution<float> u01(0.0f, 1.0f);
  const float qmax = float((1 << bits) - 1);
  for (int64_t m = 0; m < n_meta; ++m) {
    const uint16_t sm[2] = {to_half(0.2f + 0.6f * u01(rng)), to_half((0.5f + u01(rng)) / 255.0f)};
    const uint16_t zm[2] = {to_half(-0.5f + 0.5f * u01(rng)), to_half((qmax + 0.5f) / 255.0f)};
    std::memcpy(&h[d.off.scale_meta + 4 * m], sm, 4);
    std::memcpy(&h[d.off.zero_meta + 4 * m], zm, 4);
  }
  ck(cudaMalloc(&d.base, total), "malloc matrix");
  ck(cudaMemcpy(d.base, h.data(), total, cudaMemcpyHostToDevice), "upload matrix");
  d.m.codes = d.base + d.off.codes;
  d.m.scale_codes = d.base + d.off.scale_codes;
  d.m.zero_codes = d.base + d.off.zero_codes;
  d.m.scale_meta = reinterpret_cast<const uint16_t*>(d.base + d.off.scale_meta);
  d.m.zero_meta = reinterpret_cast<const uint16_t*>(d.base + d.off.zero_meta);
  d.m.rows = N, d.m.cols = K, d.m.bits = bits, d.m.group = group, d.m.meta_group = meta;
  d.m.row_bytes = row_bytes;
  d.m.unshift = 1.0f / 256.0f;
  return d;
}

struct Case {
  const char* name;
  int bits, group, meta, N, K, T;
  MatvecMode mode;
  bool indirect;
  int bm = 0;  // token tile forced through LOCALMOE_TC_BM (0: the kernel's choice)
};

bool run_case(const Case& c, std::mt19937& rng) {
  const bool pair = c.mode == MatvecMode::SwiGlu;
  DevMatrix w = make_matrix(rng, c.bits, c.group, c.meta, c.N, c.K);
  DevMatrix u = pair ? make_matrix(rng, c.bits, c.group, c.meta, c.N, c.K) : DevMatrix{};
  // Inputs: uniform, with one huge and one tiny token row (the fp16 range guard).
  std::vector<float> hx(size_t(c.T) * c.K);
  std::uniform_real_distribution<float> pm(-1.0f, 1.0f);
  for (float& v : hx) v = pm(rng);
  if (c.T >= 3) {
    for (int k = 0; k < c.K; ++k) hx[size_t(1) * c.K + k] *= 3.0e5f, hx[size_t(2) * c.K + k] *= 1.0e-4f;
  }
  float *x = nullptr, *y_ref = nullptr, *y_tc = nullptr;
  const size_t ny = size_t(c.T) * c.N;
  ck(cudaMalloc(&x, hx.size() * 4), "malloc x");
  ck(cudaMalloc(&y_ref, ny * 4), "malloc y");
  ck(cudaMalloc(&y_tc, ny * 4), "malloc y");
  ck(cudaMemcpy(x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice), "upload x");
  std::vector<float> y0(ny);
  for (float& v : y0) v = c.mode == MatvecMode::Accumulate ? pm(rng) : std::nanf("");

  MatvecLaunch L;
  L.n_jobs = 1;
  L.T = c.T;
  MatvecJob& j = L.jobs[0];
  j.w = w.m;
  if (pair) j.up = u.m;
  j.x = x, j.ldx = c.K, j.ldy = c.N, j.mode = c.mode;
  const uint8_t** table = nullptr;
  int32_t* ids = nullptr;
  float* unshifts = nullptr;
  if (c.indirect) {
    // Expert table of 3 slots; the job uses slot 2 (offset 1 + id 1); w at its base, up at u.base
    // expressed as an offset from w.base.
    const uint8_t* base = pair && u.base < w.base ? u.base : w.base;
    const uint8_t* ht[3] = {nullptr, nullptr, base};
    const int32_t hid[2] = {0, 1};
    const float hu[9] = {0, 0, 0, 0, 0, 0, 1.0f / 256, 1.0f / 512, 1.0f / 128};
    ck(cudaMalloc(&table, sizeof(ht)), "malloc table");
    ck(cudaMalloc(&ids, sizeof(hid)), "malloc ids");
    ck(cudaMalloc(&unshifts, sizeof(hu)), "malloc unshifts");
    ck(cudaMemcpy(table, ht, sizeof(ht), cudaMemcpyHostToDevice), "table");
    ck(cudaMemcpy(ids, hid, sizeof(hid), cudaMemcpyHostToDevice), "ids");
    ck(cudaMemcpy(unshifts, hu, sizeof(hu), cudaMemcpyHostToDevice), "unshifts");
    j.table = table, j.ids = ids, j.id_index = 1, j.table_offset = 1, j.unshifts = unshifts;
    j.which = 0, j.which_up = 2;
    const uint64_t dw = uint64_t(w.base - base);
    j.w_off = MatrixOffsets{w.off.codes + dw, w.off.scale_codes + dw, w.off.zero_codes + dw, w.off.scale_meta + dw,
                            w.off.zero_meta + dw};
    j.w.codes = nullptr, j.w.scale_codes = nullptr, j.w.zero_codes = nullptr, j.w.scale_meta = nullptr, j.w.zero_meta = nullptr;
    if (pair) {
      const uint64_t d = uint64_t(u.base - base);
      j.up_off = MatrixOffsets{u.off.codes + d, u.off.scale_codes + d, u.off.zero_codes + d, u.off.scale_meta + d,
                               u.off.zero_meta + d};
      j.up.codes = nullptr;
    }
  }
  cudaEvent_t e0, e1;
  ck(cudaEventCreate(&e0), "event");
  ck(cudaEventCreate(&e1), "event");
  auto timed = [&](float* y, bool tc, int reps) {
    j.y = y;
    float best = 1e30f;
    for (int r = 0; r < reps; ++r) {
      ck(cudaMemcpy(y, y0.data(), ny * 4, cudaMemcpyHostToDevice), "poison");
      ck(cudaEventRecord(e0), "record");
      if (tc) packed_gemm(L, nullptr);
      else packed_matvec(L, nullptr);
      ck(cudaEventRecord(e1), "record");
      ck(cudaEventSynchronize(e1), "sync");
      float ms = 0;
      ck(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
      best = std::min(best, ms);
    }
    return best;
  };
  set_packed_gemm_min_tokens(INT_MAX);
  const float ms_ref = timed(y_ref, false, 2);
  set_packed_gemm_min_tokens(0);
  if (c.bm) setenv("LOCALMOE_TC_BM", std::to_string(c.bm).c_str(), 1);
  const float ms_tc = timed(y_tc, true, 3);
  unsetenv("LOCALMOE_TC_BM");
  ck(cudaDeviceSynchronize(), "kernels");
  std::vector<float> r(ny), o(ny);
  ck(cudaMemcpy(r.data(), y_ref, ny * 4, cudaMemcpyDeviceToHost), "download");
  ck(cudaMemcpy(o.data(), y_tc, ny * 4, cudaMemcpyDeviceToHost), "download");
  // Relative error per token row (rows 1 and 2 are scaled by 3e5 and 1e-4), worst row reported,
  // and over the whole output with each row normalized.
  double worst = 0, maxrel = 0;
  bool finite = true;
  for (int t = 0; t < c.T; ++t) {
    double num = 0, den = 0, mref = 0, mdiff = 0;
    for (int n = 0; n < c.N; ++n) {
      const double a = o[size_t(t) * c.N + n], b = r[size_t(t) * c.N + n];
      if (!std::isfinite(a) || !std::isfinite(b)) finite = false;
      num += (a - b) * (a - b), den += b * b;
      mref = std::max(mref, std::fabs(b)), mdiff = std::max(mdiff, std::fabs(a - b));
    }
    worst = std::max(worst, std::sqrt(num / std::max(den, 1e-300)));
    maxrel = std::max(maxrel, mdiff / std::max(mref, 1e-300));
  }
  const double flops = 2.0 * c.T * double(c.N) * c.K * (pair ? 2 : 1);
  const double tol = 4e-3;
  const bool ok = finite && worst <= tol;
  std::printf("%-34s bits %d g%-3d N %5d K %5d T %4d %-10s %s | rel err (worst token) %.2e, max|d|/max|ref| %.2e%s | "
              "fp32 kernel %8.3f ms, tensor-core %7.3f ms (%6.1f TFLOP/s) -> %s\n",
              c.name, c.bits, c.group, c.N, c.K, c.T,
              c.mode == MatvecMode::Store ? "store" : c.mode == MatvecMode::Accumulate ? "accumulate" : "swiglu",
              c.indirect ? "indirect" : "direct  ", worst, maxrel, finite ? "" : " NON-FINITE", ms_ref, ms_tc,
              flops / (ms_tc * 1e-3) / 1e12, ok ? "OK" : "FAIL");
  cudaFree(x), cudaFree(y_ref), cudaFree(y_tc), cudaFree(w.base);
  if (pair) cudaFree(u.base);
  if (table) cudaFree(table), cudaFree(ids), cudaFree(unshifts);
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  packed_matvec_init();
  std::mt19937 rng(1234);
  using M = MatvecMode;
  std::vector<Case> cases = {
      {"tiny attn 4b (K tail)", 4, 64, 256, 200, 224, 19, M::Store, false},
      {"tiny expert 2b g16 swiglu", 2, 16, 128, 256, 224, 5, M::SwiGlu, true},
      {"tiny 3b g32 accumulate", 3, 32, 128, 224, 256, 33, M::Accumulate, false},
      {"tiny 2b g128 store", 2, 128, 256, 96, 384, 70, M::Store, false},
      {"tiny 4b g16 swiglu K tail", 4, 16, 128, 130, 352, 40, M::SwiGlu, false},
      {"attn q/o 4b", 4, 64, 256, 4096, 4096, 512, M::Store, false},
      {"attn k/v 4b (split-K)", 4, 64, 256, 1024, 4096, 512, M::Store, false},
      {"w1/w3 2b g16 T512", 2, 16, 128, 14336, 4096, 512, M::SwiGlu, true},
      {"w2 2b g16 T512", 2, 16, 128, 4096, 14336, 512, M::Accumulate, true},
      {"w1/w3 2b g16 T128", 2, 16, 128, 14336, 4096, 128, M::SwiGlu, true},
      {"w2 2b g16 T128 (split-K)", 2, 16, 128, 4096, 14336, 128, M::Store, true},
      {"w1/w3 2b g16 T128 BM64", 2, 16, 128, 14336, 4096, 128, M::SwiGlu, true, 64},
      {"w2 2b g16 T128 BM64", 2, 16, 128, 4096, 14336, 128, M::Store, true, 64},
      {"w1/w3 2b g16 T150 (BM64)", 2, 16, 128, 14336, 4096, 150, M::SwiGlu, true},
      {"w1/w3 2b g16 T150 BM128", 2, 16, 128, 14336, 4096, 150, M::SwiGlu, true, 128},
      {"w2 2b g16 T150", 2, 16, 128, 4096, 14336, 150, M::Accumulate, true},
      {"w1/w3 2b g16 T512 BM64", 2, 16, 128, 14336, 4096, 512, M::SwiGlu, true, 64},
      {"w1/w3 3b g64 T128", 3, 64, 128, 14336, 4096, 128, M::SwiGlu, true},
      {"w2 3b g64 T128", 3, 64, 128, 4096, 14336, 128, M::Store, true},
      {"w1/w3 4b g64 T64", 4, 64, 256, 14336, 4096, 64, M::SwiGlu, true},
      {"w1/w3 2b g16 T32", 2, 16, 128, 14336, 4096, 32, M::SwiGlu, true},
      {"w1/w3 2b g16 T16", 2, 16, 128, 14336, 4096, 16, M::SwiGlu, true},
      {"w1/w3 2b g16 T8", 2, 16, 128, 14336, 4096, 8, M::SwiGlu, true},
      {"w2 2b g16 T16", 2, 16, 128, 4096, 14336, 16, M::Store, true},
      {"w2 2b g16 T8", 2, 16, 128, 4096, 14336, 8, M::Store, true},
  };
  if (quick) cases.resize(5);
  int failed = 0;
  for (const Case& c : cases) failed += run_case(c, rng) ? 0 : 1;
  std::printf("packed_gemm_check: %zu cases, %d failed\n", cases.size(), failed);
  return failed ? 1 : 0;
}
