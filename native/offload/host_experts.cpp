// HostExperts: see host_experts.h.
#include "offload/host_experts.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "common/check.h"
#include "quant/gemv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LM_HOST_RELAX() _mm_pause()
#else
#define LM_HOST_RELAX() std::this_thread::yield()
#endif

namespace lm::offload {

namespace {

constexpr int64_t kRowBlock = 4;  // rows per unit of work: the packed kernels' 4-row decode tile

uint64_t view_bytes(const quant::PackedView& v) {
  return uint64_t(v.rows * quant::row_bytes(v.spec.bits, v.cols)) + 2 * uint64_t(v.n_groups()) +
         8 * uint64_t(v.n_meta());
}

// y[t·ldy + n] = Σ_k Ŵ[n, k]·x[t·ldx + k] for n in [n0, n1), t < T.
void rows_of(const quant::PackedView& w, const float* x, int64_t ldx, int T, float* y, int64_t ldy, int64_t n0,
             int64_t n1, const quant::RowKernels* kernels) {
  quant::PackedMatmulArgs a;
  a.w = &w;
  a.x = x;
  a.ldx = ldx;
  a.T = T;
  a.y = y;
  a.ldy = ldy;
  a.n0 = n0;
  a.n1 = n1;
  quant::packed_matmul(a, kernels);
}

}  // namespace

uint64_t HostExperts::expert_bytes(const quant::PackedExpert& e) {
  return view_bytes(e.w1) + view_bytes(e.w2) + view_bytes(e.w3);
}

HostExperts::HostExperts(cpu::ThreadPool& pool, int64_t hidden, int64_t intermediate, int max_rows,
                         const quant::RowKernels* kernels)
    : pool_(pool), D_(hidden), F_(intermediate), max_rows_(std::max(1, max_rows)), kernels_(kernels) {
  x_.assign(size_t(max_rows_) * size_t(D_), 0.0f);
  gate_.assign(size_t(max_rows_) * size_t(F_), 0.0f);
  up_.assign(size_t(max_rows_) * size_t(F_), 0.0f);
  y_.assign(size_t(max_rows_) * size_t(D_), 0.0f);
  offset_.reserve(65);
}

void HostExperts::run(const HostExpertJob* jobs, int n_jobs, const float* h, float* out) {
  if (n_jobs <= 0) return;
  const int64_t D = D_, F = F_;
  offset_.resize(size_t(n_jobs) + 1);  // within the reserved capacity for any real model (E <= 64)
  offset_[0] = 0;
  for (int j = 0; j < n_jobs; ++j) {
    const HostExpertJob& job = jobs[j];
    LM_ASSERT(job.count >= 1 && job.w.w1.rows == F && job.w.w1.cols == D && job.w.w2.rows == D &&
                  job.w.w2.cols == F && job.w.w3.rows == F && job.w.w3.cols == D,
              "host expert job shape");
    offset_[size_t(j) + 1] = offset_[size_t(j)] + job.count;
  }
  LM_ASSERT(offset_[size_t(n_jobs)] <= max_rows_, "more (token, expert) rows than HostExperts was sized for");

  // Inputs: one token reads its row of h in place; several are gathered (row-contiguous for the
  // dequantize-once small GEMM). Done here, before the region: at most a few MB per prefill chunk.
  const float* xin[64];
  LM_ASSERT(n_jobs <= 64, "at most 64 experts per host call");
  for (int j = 0; j < n_jobs; ++j) {
    const HostExpertJob& job = jobs[j];
    if (job.count == 1) {
      xin[j] = h + (job.rows ? int64_t(job.rows[0]) : 0) * D;
      continue;
    }
    float* xs = x_.data() + size_t(offset_[size_t(j)]) * size_t(D);
    for (int i = 0; i < job.count; ++i)
      std::memcpy(xs + int64_t(i) * D, h + (job.rows ? int64_t(job.rows[i]) : int64_t(i)) * D, size_t(D) * sizeof(float));
    xin[j] = xs;
  }

  const int64_t up_blocks = (F + kRowBlock - 1) / kRowBlock;  // per job
  const int64_t down_blocks = (D + kRowBlock - 1) / kRowBlock;
  const int64_t units1 = up_blocks * n_jobs;
  arrived_.store(0, std::memory_order_relaxed);
  const quant::RowKernels* rk = kernels_;

  auto body = [&](int w, int nw) {
    // Phase 1: this thread's share of the (job, 4-row block) units of w1/w3, job-major, so a thread
    // touches at most two jobs' contiguous row ranges.
    const int64_t u0 = units1 * w / nw, u1 = units1 * (w + 1) / nw;
    for (int64_t u = u0; u < u1;) {
      const int j = int(u / up_blocks);
      const int64_t b_end = std::min(u1, int64_t(j + 1) * up_blocks);
      const int64_t r0 = (u - int64_t(j) * up_blocks) * kRowBlock;
      const int64_t r1 = std::min(F, (b_end - int64_t(j) * up_blocks) * kRowBlock);
      const HostExpertJob& job = jobs[j];
      float* g = gate_.data() + size_t(offset_[size_t(j)]) * size_t(F);
      float* v = up_.data() + size_t(offset_[size_t(j)]) * size_t(F);
      rows_of(job.w.w1, xin[j], D, job.count, g, F, r0, r1, rk);
      rows_of(job.w.w3, xin[j], D, job.count, v, F, r0, r1, rk);
      for (int t = 0; t < job.count; ++t)
        for (int64_t n = r0; n < r1; ++n) {  // silu(g)·v, as CpuBackend::swiglu
          const float a = g[t * F + n];
          g[t * F + n] = a / (1.0f + std::exp(-a)) * v[t * F + n];
        }
      u = b_end;
    }
    // Every intermediate row must be ready before any w2 row: a spin barrier (the region's threads
    // all run at once; yield in case one was descheduled on a busy machine).
    arrived_.fetch_add(1, std::memory_order_acq_rel);
    for (int spins = 0; arrived_.load(std::memory_order_acquire) < nw; ++spins) {
      if (spins < 4096) LM_HOST_RELAX();
      else std::this_thread::yield();
    }
    // Phase 2: this thread's output rows of every job's w2, then of the combined result.
    const int64_t r0 = std::min(D, down_blocks * w / nw * kRowBlock);
    const int64_t r1 = std::min(D, down_blocks * (w + 1) / nw * kRowBlock);
    if (r0 >= r1) return;
    for (int j = 0; j < n_jobs; ++j) {
      const HostExpertJob& job = jobs[j];
      const float* a = gate_.data() + size_t(offset_[size_t(j)]) * size_t(F);
      float* y = job.y ? job.y : y_.data() + size_t(offset_[size_t(j)]) * size_t(D);
      rows_of(job.w.w2, a, F, job.count, y, D, r0, r1, rk);
    }
    if (!out) return;
    for (int j = 0; j < n_jobs; ++j) {
      const HostExpertJob& job = jobs[j];
      const float* y = job.y ? job.y : y_.data() + size_t(offset_[size_t(j)]) * size_t(D);
      for (int i = 0; i < job.count; ++i) {
        float* o = out + (job.rows ? int64_t(job.rows[i]) : int64_t(i)) * D;
        const float wt = job.weights ? job.weights[i] : 1.0f;
        for (int64_t n = r0; n < r1; ++n) o[n] += wt * y[i * D + n];
      }
    }
  };
  pool_.run(body);
}

}  // namespace lm::offload
