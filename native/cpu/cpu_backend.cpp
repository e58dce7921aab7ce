#include "cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "common/check.h"
#include "quant/gemv.h"

namespace lm::cpu {

namespace {

// 64-byte aligned, zero-filled host memory.
class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t bytes) : bytes_(bytes) {
    const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    data_ = static_cast<float*>(std::aligned_alloc(64, rounded));
    if (data_ == nullptr) throw std::bad_alloc();
    std::memset(data_, 0, rounded);
  }
  ~HostBuffer() override { std::free(data_); }
  float* f32() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  float* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace

CpuBackend::CpuBackend(int threads, int max_context, const Kernels& kernels)
    : pool_(threads), kernels_(kernels), max_context_(max_context) {
  scores_.assign(size_t(pool_.size()) * size_t(max_context), 0.0f);
  // The packed kernels pick their ISA on their own (LOCALMOE_QUANT_ISA lowers it); a forced
  // scalar 16-bit kernel set forces scalar packed kernels too, so one switch covers both.
  packed_kernels_ = std::string(kernels_.name) == "scalar" ? quant::row_kernels(quant::Isa::Scalar) : nullptr;
  name_ = str("cpu-", kernels_.name, " x", pool_.size());
}

std::unique_ptr<Buffer> CpuBackend::alloc(size_t bytes) { return std::make_unique<HostBuffer>(bytes); }

void CpuBackend::copy_to_host(const float* src, size_t n, float* host) {
  if (n > 0) std::memcpy(host, src, n * sizeof(float));
}

void CpuBackend::copy_from_host(const float* host, size_t n, float* dst) {
  if (n > 0) std::memcpy(dst, host, n * sizeof(float));
}

void CpuBackend::embed(const WeightView& table, const int32_t* tokens, int T, float* x) {
  const int64_t D = table.cols;
  LM_ASSERT(!table.is_packed(), "embedding tables are kept 16-bit by the quantizer");
  for (int t = 0; t < T; ++t) {
    LM_ASSERT(tokens[t] >= 0 && tokens[t] < table.rows, "token id out of range (checked by the engine)");
    const void* row = table.row(tokens[t]);
    for (int64_t i = 0; i < D; ++i) x[t * D + i] = load_f32(row, table.dtype, size_t(i));
  }
}

void CpuBackend::rmsnorm(const float* x, const WeightView& w, float eps, int T, int D, float* y) {
  LM_ASSERT(w.rows * w.cols == D && !w.is_packed(), "rmsnorm weight size (norms are never packed)");
  for (int t = 0; t < T; ++t) {
    const float* xr = x + int64_t(t) * D;
    float* yr = y + int64_t(t) * D;
    float ss = 0.0f;  // fp32, as transformers' MixtralRMSNorm computes the variance in fp32
    for (int i = 0; i < D; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / float(D) + eps);
    for (int i = 0; i < D; ++i) yr[i] = load_f32(w.data, w.dtype, size_t(i)) * (xr[i] * inv);
  }
}

void CpuBackend::matmul(const WeightView& w, const float* x, int T, float* y, bool accumulate) {
  const int64_t N = w.rows;
  const int64_t K = w.cols;
  if (w.is_packed()) {
    // HQQ-packed: fused dequantize + GEMV (T == 1) or dequantize-each-row-once GEMM (T > 1),
    // rows split across the pool exactly like the 16-bit path (quant/gemv.h).
    LM_ASSERT(w.packed->rows == N && w.packed->cols == K, "packed view shape differs from its WeightView");
    quant::PackedMatmulArgs args;
    args.w = w.packed;
    args.x = x;
    args.ldx = K;
    args.T = T;
    args.y = y;
    args.ldy = N;
    args.accumulate = accumulate;
    const quant::RowKernels* rk = packed_kernels_;
    const int64_t blocks = (N + 3) / 4;
    pool_.parallel_for(blocks, 4 * K * T, [&](int64_t b0, int64_t b1) {
      quant::PackedMatmulArgs part = args;
      part.n0 = b0 * 4;
      part.n1 = std::min(N, b1 * 4);
      quant::packed_matmul(part, rk);
    });
    return;
  }
  MatmulArgs args{w.data, int(w.dtype), K, 0, N, x, K, T, y, N, accumulate};
  const MatmulFn fn = kernels_.matmul;
  // Split output rows; keep ranges a multiple of 4 rows so each thread runs the 4-row decode tile.
  const int64_t blocks = (N + 3) / 4;
  pool_.parallel_for(blocks, 4 * K * T, [&](int64_t b0, int64_t b1) {
    MatmulArgs part = args;
    part.n0 = b0 * 4;
    part.n1 = std::min(N, b1 * 4);
    fn(part);
  });
}

void CpuBackend::rope(float* x, int T, int heads, int head_dim, int pos0, const RopeTable& table) {
  const int half = head_dim / 2;
  LM_ASSERT(half == table.half && pos0 + T <= table.max_pos, "rope table too small");
  for (int t = 0; t < T; ++t) {
    const float* c = table.cos + int64_t(pos0 + t) * half;
    const float* s = table.sin + int64_t(pos0 + t) * half;
    for (int h = 0; h < heads; ++h) {
      float* v = x + (int64_t(t) * heads + h) * head_dim;
      // rotate_half: out[i] = v[i] cos - v[i+half] sin; out[i+half] = v[i+half] cos + v[i] sin.
      for (int i = 0; i < half; ++i) {
        const float a = v[i];
        const float b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

void CpuBackend::store_kv(const float* k, const float* v, int T, int width, int pos0, float* k_cache,
                          float* v_cache) {
  const size_t n = size_t(T) * size_t(width);
  std::memcpy(k_cache + size_t(pos0) * size_t(width), k, n * sizeof(float));
  std::memcpy(v_cache + size_t(pos0) * size_t(width), v, n * sizeof(float));
}

void CpuBackend::attention(const AttentionArgs& a) {
  const int Dh = a.head_dim;
  const int group = a.heads / a.kv_heads;  // query heads per kv head (GQA)
  const int64_t q_stride = int64_t(a.heads) * Dh;
  const int64_t kv_stride = int64_t(a.kv_heads) * Dh;
  LM_ASSERT(a.pos0 + a.T <= max_context_, "attention past the KV cache");
  const int64_t tasks = int64_t(a.T) * a.heads;
  const DotFn dot = kernels_.dot;
  const AxpyFn axpy = kernels_.axpy;
  const int64_t cost = int64_t(a.pos0 + a.T) * Dh * 2;
  pool_.parallel_ranges(tasks, cost, [&](int worker, int64_t begin, int64_t end) {
    float* scores = scores_.data() + size_t(worker) * size_t(max_context_);
    for (int64_t task = begin; task < end; ++task) {
      const int t = int(task / a.heads);
      const int h = int(task % a.heads);
      const int p = a.pos0 + t;  // absolute position of this query
      const int first = a.sliding_window > 0 ? std::max(0, p - a.sliding_window + 1) : 0;
      const float* q = a.q + t * q_stride + int64_t(h) * Dh;
      const int64_t kv_off = int64_t(h / group) * Dh;
      float max_score = -std::numeric_limits<float>::infinity();
      for (int j = first; j <= p; ++j) {
        const float s = dot(q, a.k_cache + j * kv_stride + kv_off, Dh) * a.scale;
        scores[j] = s;
        max_score = std::max(max_score, s);
      }
      float sum = 0.0f;
      for (int j = first; j <= p; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        sum += scores[j];
      }
      const float inv = 1.0f / sum;
      float* out = a.out + t * q_stride + int64_t(h) * Dh;
      for (int i = 0; i < Dh; ++i) out[i] = 0.0f;
      for (int j = first; j <= p; ++j) {
        axpy(scores[j] * inv, a.v_cache + j * kv_stride + kv_off, out, Dh);
      }
    }
  });
}

void CpuBackend::swiglu(float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float g = a[i];
    a[i] = g / (1.0f + std::exp(-g)) * b[i];
  }
}

void CpuBackend::gather_rows(const float* src, const int32_t* rows, int n, int D, float* dst) {
  for (int i = 0; i < n; ++i)
    std::memcpy(dst + int64_t(i) * D, src + int64_t(rows[i]) * D, size_t(D) * sizeof(float));
}

void CpuBackend::scatter_add_rows(const float* src, const int32_t* rows, const float* weights, int n,
                                  int D, float* dst) {
  for (int i = 0; i < n; ++i) {
    float* d = dst + int64_t(rows[i]) * D;
    const float* s = src + int64_t(i) * D;
    const float w = weights[i];
    for (int j = 0; j < D; ++j) d[j] += w * s[j];
  }
}

void CpuBackend::add(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

void CpuBackend::zero(float* x, size_t n) {
  if (n > 0) std::memset(x, 0, n * sizeof(float));
}

}  // namespace lm::cpu
