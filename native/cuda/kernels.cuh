// Device kernels of the CUDA backend other than the packed matmul (packed_matvec.cu). Included by
// cuda_backend.cu only. Kernels that depend on the decode position take it either as a value or,
// inside a captured CUDA graph, from device memory (`pos_dev` non-null), so one recorded decode step
// replays at any position.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace lm::cuda {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;  // warps (output rows) per block in the 16-bit matmul

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

// 16 bytes of weights converted to fp32: 8 halves or 4 floats.
template <typename WT>
struct Vec16 {
  static constexpr int N = 16 / int(sizeof(WT));
  float v[N];
  __device__ __forceinline__ void load(const WT* p) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const WT* e = reinterpret_cast<const WT*>(&raw);
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = to_f32(e[i]);
  }
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ int position(int pos0, const int* pos_dev) { return pos_dev ? *pos_dev : pos0; }

// y[T, N] (+)= x[T, K] · W[N, K]ᵀ for 16/32-bit weights. One warp per output row; each lane
// streams 16-byte chunks of the row and multiplies them by up to TB token rows of x, so a weight
// row is read once per TB tokens. Decode (T = 1) is the TB = 1 instance: a bandwidth-bound GEMV.
template <typename WT, int TB, bool kVec>
__global__ void matmul_kernel(const WT* __restrict__ W, const float* __restrict__ x,
                              float* __restrict__ y, int N, int K, int T, bool accumulate) {
  const int lane = threadIdx.x % kWarp;
  const int n = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int t0 = blockIdx.y * TB;
  if (n >= N) return;
  const WT* row = W + size_t(n) * size_t(K);
  float acc[TB];
#pragma unroll
  for (int i = 0; i < TB; ++i) acc[i] = 0.0f;
  if constexpr (kVec) {
    constexpr int V = Vec16<WT>::N;
    for (int k = lane * V; k < K; k += kWarp * V) {
      Vec16<WT> w;
      w.load(row + k);
#pragma unroll
      for (int i = 0; i < TB; ++i) {
        if (t0 + i < T) {
          const float* xr = x + size_t(t0 + i) * size_t(K) + k;
#pragma unroll
          for (int j = 0; j < V; ++j) acc[i] += w.v[j] * xr[j];
        }
      }
    }
  } else {
    for (int k = lane; k < K; k += kWarp) {
      const float w = to_f32(row[k]);
#pragma unroll
      for (int i = 0; i < TB; ++i)
        if (t0 + i < T) acc[i] += w * x[size_t(t0 + i) * size_t(K) + k];
    }
  }
#pragma unroll
  for (int i = 0; i < TB; ++i) {
    const float s = warp_sum(acc[i]);
    if (lane == 0 && t0 + i < T) {
      float* out = y + size_t(t0 + i) * size_t(N) + n;
      *out = accumulate ? *out + s : s;
    }
  }
}

template <typename WT>
__global__ void embed_kernel(const WT* __restrict__ table, const int32_t* __restrict__ tokens,
                             int D, float* __restrict__ x) {
  const int t = blockIdx.x;
  const WT* row = table + size_t(tokens[t]) * size_t(D);
  for (int i = threadIdx.x; i < D; i += blockDim.x) x[size_t(t) * D + i] = to_f32(row[i]);
}

template <typename WT>
__global__ void rmsnorm_kernel(const float* __restrict__ x, const WT* __restrict__ w, float eps,
                               int D, float* __restrict__ y) {
  __shared__ float partial[32];
  const float* xr = x + size_t(blockIdx.x) * D;
  float* yr = y + size_t(blockIdx.x) * D;
  // The row is read once into registers (up to 32 values per thread), so the second pass does
  // not go back to memory: a decode step runs 65 of these back to back.
  constexpr int kMax = 32;
  float v[kMax];
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < kMax; ++j) {
    const int i = int(threadIdx.x) + j * int(blockDim.x);
    v[j] = i < D ? xr[i] : 0.0f;
    ss += v[j] * v[j];
  }
  for (int i = threadIdx.x + kMax * blockDim.x; i < D; i += blockDim.x) ss += xr[i] * xr[i];
  ss = warp_sum(ss);
  if (threadIdx.x % kWarp == 0) partial[threadIdx.x / kWarp] = ss;
  __syncthreads();
  if (threadIdx.x < kWarp) {
    float p = threadIdx.x < blockDim.x / kWarp ? partial[threadIdx.x] : 0.0f;
    p = warp_sum(p);
    if (threadIdx.x == 0) partial[0] = p;
  }
  __syncthreads();
  const float inv = 1.0f / sqrtf(partial[0] / float(D) + eps);
#pragma unroll
  for (int j = 0; j < kMax; ++j) {
    const int i = int(threadIdx.x) + j * int(blockDim.x);
    if (i < D) yr[i] = to_f32(w[i]) * (v[j] * inv);
  }
  for (int i = threadIdx.x + kMax * blockDim.x; i < D; i += blockDim.x) yr[i] = to_f32(w[i]) * (xr[i] * inv);
}

// rotate_half convention: pairs (i, i + Dh/2) of each head.
__global__ void rope_kernel(float* __restrict__ x, int heads, int head_dim, int pos0, const int* pos_dev,
                            const float* __restrict__ cos_t, const float* __restrict__ sin_t) {
  const int t = blockIdx.x, h = blockIdx.y, half = head_dim / 2;
  const int p = position(pos0, pos_dev) + t;
  float* v = x + (size_t(t) * heads + h) * head_dim;
  const float* c = cos_t + size_t(p) * half;
  const float* s = sin_t + size_t(p) * half;
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float a = v[i], b = v[i + half];
    v[i] = a * c[i] - b * s[i];
    v[i + half] = b * c[i] + a * s[i];
  }
}

// cache[pos0 + t, :] = src[t, :] for keys and values.                     src [T, width]
__global__ void store_kv_kernel(const float* __restrict__ k, const float* __restrict__ v, int T, int width,
                                int pos0, const int* pos_dev, float* __restrict__ k_cache,
                                float* __restrict__ v_cache) {
  const size_t off = size_t(position(pos0, pos_dev)) * size_t(width);
  const size_t n = size_t(T) * size_t(width);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    k_cache[off + i] = k[i];
    v_cache[off + i] = v[i];
  }
}

// One block per (query token t, head h); visible keys [lo, p] with p = pos0 + t. Scores: one warp
// per key (lanes split the head dimension: coalesced reads of the key row), kept in dynamic shared
// memory; softmax in fp32 as the CPU backend does; output: one thread per head dimension, reading
// value rows coalesced.
__global__ void attention_kernel(const float* __restrict__ q, const float* __restrict__ k_cache,
                                 const float* __restrict__ v_cache, float* __restrict__ out,
                                 int pos0, const int* pos_dev, int heads, int kv_heads, int head_dim,
                                 int window, float scale) {
  extern __shared__ float smem[];  // [head_dim] query, then scores [p - lo + 1]
  __shared__ float red[32];
  const int t = blockIdx.x, h = blockIdx.y;
  const int p = position(pos0, pos_dev) + t;
  const int lo = window > 0 ? max(0, p - window + 1) : 0;
  const int kvh = h / (heads / kv_heads);
  const int kv_width = kv_heads * head_dim;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  float* qs = smem;
  float* scores = smem + head_dim;
  const float* qr = q + (size_t(t) * heads + h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) qs[d] = qr[d];
  __syncthreads();

  for (int j = lo + warp; j <= p; j += warps) {
    const float* kr = k_cache + size_t(j) * kv_width + size_t(kvh) * head_dim;
    float s = 0.0f;
    for (int d = lane; d < head_dim; d += kWarp) s += qs[d] * kr[d];
    s = warp_sum(s);
    if (lane == 0) scores[j - lo] = s * scale;
  }
  __syncthreads();
  float local_max = -INFINITY;
  for (int j = lo + int(threadIdx.x); j <= p; j += blockDim.x) local_max = fmaxf(local_max, scores[j - lo]);
  for (int o = kWarp / 2; o > 0; o >>= 1) local_max = fmaxf(local_max, __shfl_xor_sync(0xffffffffu, local_max, o));
  if (lane == 0) red[warp] = local_max;
  __syncthreads();
  float mx = -INFINITY;
  for (int i = 0; i < warps; ++i) mx = fmaxf(mx, red[i]);
  __syncthreads();
  float local_sum = 0.0f;
  for (int j = lo + int(threadIdx.x); j <= p; j += blockDim.x) {
    const float e = expf(scores[j - lo] - mx);
    scores[j - lo] = e;
    local_sum += e;
  }
  local_sum = warp_sum(local_sum);
  if (lane == 0) red[warp] = local_sum;
  __syncthreads();
  float sum = 0.0f;
  for (int i = 0; i < warps; ++i) sum += red[i];
  const float inv = 1.0f / sum;
  float* o = out + (size_t(t) * heads + h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    const float* vcol = v_cache + size_t(kvh) * head_dim + d;
    float acc = 0.0f;
    for (int j = lo; j <= p; ++j) acc += scores[j - lo] * vcol[size_t(j) * kv_width];
    o[d] = acc * inv;
  }
}

// Prefill attention, tiled (T > 1, head_dim ≤ 128 and a multiple of 4, heads/kv_heads dividing 64):
// a block owns QT = 64 / G consecutive query tokens × the G query heads that share one KV head
// (64 query rows, 4 threads each), walks the keys its rows can see in tiles of 32 staged in shared
// memory, and keeps an online softmax in fp32 (running max and sum per row, output rescaled per
// tile), so each key/value row is read once per block instead of once per query row and head.
constexpr int kAttnRows = 64, kAttnKeys = 32, kAttnMaxDim = 128;
inline size_t attention_prefill_smem(int head_dim) {
  return sizeof(float) * (size_t(kAttnRows) * (head_dim + 4) + size_t(kAttnKeys) * (head_dim + 4) +
                          size_t(kAttnKeys) * head_dim + size_t(kAttnRows) * (kAttnKeys + 1));
}
__global__ void __launch_bounds__(256) attention_prefill_kernel(const float* __restrict__ q,
                                                                const float* __restrict__ k_cache,
                                                                const float* __restrict__ v_cache,
                                                                float* __restrict__ out, int T, int pos0,
                                                                const int* pos_dev, int heads, int kv_heads,
                                                                int head_dim, int window, float scale) {
  extern __shared__ __align__(16) float smem[];
  const int D = head_dim, DS = head_dim + 4;
  float* Qs = smem;                        // [64][D + 4]
  float* Ks = Qs + kAttnRows * DS;         // [32][D + 4]
  float* Vs = Ks + kAttnKeys * DS;         // [32][D]
  float* Ps = Vs + kAttnKeys * D;          // [64][33]
  const int G = heads / kv_heads, QT = kAttnRows / G;
  const int kvh = blockIdx.y, t0 = int(blockIdx.x) * QT;
  const int base = position(pos0, pos_dev);
  const int kv_width = kv_heads * D;
  const int r = threadIdx.x / 4, c = threadIdx.x % 4;  // this thread's query row and quarter
  const int t = t0 + r / G, h = kvh * G + r % G;
  const bool live = t < T;
  const int p = base + t;                                   // last key this row sees
  const int lo = window > 0 ? max(0, p - window + 1) : 0;   // first key this row sees
  const int t_last = min(T, t0 + QT) - 1;
  const int k_end = base + t_last + 1;
  const int k_begin = window > 0 ? max(0, base + t0 - window + 1) : 0;
  for (int i = threadIdx.x; i < kAttnRows * (D / 4); i += blockDim.x) {
    const int rr = i / (D / 4), d4 = i % (D / 4);
    const int tt = t0 + rr / G, hh = kvh * G + rr % G;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (tt < T) v = *reinterpret_cast<const float4*>(q + (size_t(tt) * heads + hh) * D + 4 * d4);
    *reinterpret_cast<float4*>(Qs + rr * DS + 4 * d4) = v;
  }
  constexpr int kMaxD4 = kAttnMaxDim / 16;  // float4 groups of output per thread
  float4 o[kMaxD4];
#pragma unroll
  for (int i = 0; i < kMaxD4; ++i) o[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  float m = -INFINITY, l = 0.0f;
  for (int k0 = k_begin; k0 < k_end; k0 += kAttnKeys) {
    __syncthreads();  // Q staged / the previous tile consumed
    for (int i = threadIdx.x; i < kAttnKeys * (D / 4); i += blockDim.x) {
      const int kk = i / (D / 4), d4 = i % (D / 4);
      const int j = k0 + kk;
      float4 kv = make_float4(0.0f, 0.0f, 0.0f, 0.0f), vv = kv;
      if (j < k_end) {
        kv = *reinterpret_cast<const float4*>(k_cache + size_t(j) * kv_width + size_t(kvh) * D + 4 * d4);
        vv = *reinterpret_cast<const float4*>(v_cache + size_t(j) * kv_width + size_t(kvh) * D + 4 * d4);
      }
      *reinterpret_cast<float4*>(Ks + kk * DS + 4 * d4) = kv;
      *reinterpret_cast<float4*>(Vs + kk * D + 4 * d4) = vv;
    }
    __syncthreads();
    // Scores of keys c, c + 4, ..., c + 28 of the tile for row r.
    float s[kAttnKeys / 4];
#pragma unroll
    for (int i = 0; i < kAttnKeys / 4; ++i) s[i] = 0.0f;
    for (int d = 0; d < D; d += 4) {
      const float4 qv = *reinterpret_cast<const float4*>(Qs + r * DS + d);
#pragma unroll
      for (int i = 0; i < kAttnKeys / 4; ++i) {
        const float4 kv = *reinterpret_cast<const float4*>(Ks + (c + 4 * i) * DS + d);
        s[i] += qv.x * kv.x + qv.y * kv.y + qv.z * kv.z + qv.w * kv.w;
      }
    }
    float mx = -INFINITY;
#pragma unroll
    for (int i = 0; i < kAttnKeys / 4; ++i) {
      const int j = k0 + c + 4 * i;
      s[i] = live && j >= lo && j <= p ? s[i] * scale : -INFINITY;
      mx = fmaxf(mx, s[i]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(m, mx);
    const float alpha = m_new == -INFINITY ? 1.0f : expf(m - m_new);
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kAttnKeys / 4; ++i) {
      const float e = m_new == -INFINITY ? 0.0f : expf(s[i] - m_new);
      Ps[r * (kAttnKeys + 1) + c + 4 * i] = e;
      sum += e;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    l = l * alpha + sum;
    m = m_new;
    __syncwarp();  // the row's 4 threads (one warp) wrote its probabilities
#pragma unroll
    for (int i = 0; i < kMaxD4; ++i) {
      o[i].x *= alpha, o[i].y *= alpha, o[i].z *= alpha, o[i].w *= alpha;
    }
    for (int kk = 0; kk < kAttnKeys; ++kk) {
      const float pk = Ps[r * (kAttnKeys + 1) + kk];
#pragma unroll
      for (int i = 0; i < kMaxD4; ++i) {
        const int d = 16 * i + 4 * c;
        if (d < D) {
          const float4 vv = *reinterpret_cast<const float4*>(Vs + kk * D + d);
          o[i].x += pk * vv.x, o[i].y += pk * vv.y, o[i].z += pk * vv.z, o[i].w += pk * vv.w;
        }
      }
    }
  }
  if (!live) return;
  const float inv = 1.0f / l;
  float* dst = out + (size_t(t) * heads + h) * D;
#pragma unroll
  for (int i = 0; i < kMaxD4; ++i) {
    const int d = 16 * i + 4 * c;
    if (d < D) *reinterpret_cast<float4*>(dst + d) = make_float4(o[i].x * inv, o[i].y * inv, o[i].z * inv, o[i].w * inv);
  }
}

__global__ void swiglu_kernel(float* __restrict__ a, const float* __restrict__ b, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const float v = a[i];
    a[i] = v / (1.0f + expf(-v)) * b[i];
  }
}

__global__ void add_kernel(float* __restrict__ x, const float* __restrict__ y, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    x[i] += y[i];
}

__global__ void gather_rows_kernel(const float* __restrict__ src, const int32_t* __restrict__ rows,
                                   int D, float* __restrict__ dst) {
  const float* s = src + size_t(rows[blockIdx.x]) * D;
  float* d = dst + size_t(blockIdx.x) * D;
  for (int i = threadIdx.x; i < D; i += blockDim.x) d[i] = s[i];
}

// Rows are distinct within one call (one expert gets each token once), so no atomics are needed.
__global__ void scatter_add_rows_kernel(const float* __restrict__ src, const int32_t* __restrict__ rows,
                                        const float* __restrict__ weights, int D, float* __restrict__ dst) {
  const float* s = src + size_t(blockIdx.x) * D;
  float* d = dst + size_t(rows[blockIdx.x]) * D;
  const float w = weights[blockIdx.x];
  for (int i = threadIdx.x; i < D; i += blockDim.x) d[i] += w * s[i];
}

// Router, as the host's MixtralModel::route: softmax over E (fp32), top-K by repeated argmax (the
// lower index wins ties), weights renormalised to sum 1. One thread per token (E and K are small).
// usage[e] counts tokens routed to expert e (read back by counters()).
// forced (may be null): [T, K] experts to take instead of the top-k (routing replay); their
// weights are still the router's probabilities, renormalised over the K taken.
__global__ void topk_kernel(const float* __restrict__ logits, int T, int E, int K, const int32_t* __restrict__ forced,
                            int32_t* __restrict__ ids, float* __restrict__ weights, unsigned long long* __restrict__ usage) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= T) return;
  const float* r = logits + size_t(t) * E;
  float mx = r[0];
  for (int e = 1; e < E; ++e) mx = fmaxf(mx, r[e]);
  float sum = 0.0f;
  for (int e = 0; e < E; ++e) sum += expf(r[e] - mx);
  int32_t* idx = ids + size_t(t) * K;
  float* wt = weights + size_t(t) * K;
  float wsum = 0.0f;
  for (int k = 0; k < K; ++k) {
    int best = -1;
    float bp = 0.0f;
    for (int e = 0; e < E; ++e) {
      bool taken = false;
      for (int i = 0; i < k; ++i) taken = taken || idx[i] == e;
      const float pe = expf(r[e] - mx) / sum;
      if (!taken && (best < 0 || pe > bp)) best = e, bp = pe;
    }
    if (forced != nullptr) best = forced[size_t(t) * K + k], bp = expf(r[best] - mx) / sum;
    idx[k] = best;
    wt[k] = bp;
    wsum += bp;
  }
  for (int k = 0; k < K; ++k) {
    wt[k] /= wsum;
    if (usage) atomicAdd(usage + idx[k], 1ull);
  }
}

// x[d] += Σ_k w_k · y[k, d] for one token, summing the experts in ascending expert id (the order
// the host path accumulates them), K <= 8.
__global__ void combine_kernel(float* __restrict__ x, const float* __restrict__ y, const int32_t* __restrict__ ids,
                               const float* __restrict__ weights, int K, int D) {
  int order[8];
  for (int k = 0; k < K; ++k) order[k] = k;
  for (int a = 1; a < K; ++a)
    for (int b = a; b > 0 && ids[order[b]] < ids[order[b - 1]]; --b) {
      const int tmp = order[b];
      order[b] = order[b - 1];
      order[b - 1] = tmp;
    }
  for (int d = blockIdx.x * blockDim.x + threadIdx.x; d < D; d += gridDim.x * blockDim.x) {
    float m = 0.0f;
    for (int k = 0; k < K; ++k) m += weights[order[k]] * y[size_t(order[k]) * D + d];
    x[d] += m;
  }
}

}  // namespace lm::cuda
