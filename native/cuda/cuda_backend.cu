// CUDA backend: see cuda_backend.h. Kernel notes:
//  - matmul: y[T, N] (+)= x[T, K] · W[N, K]ᵀ. One warp per output row; each lane streams 16-byte
//    chunks of the row (8 bf16/fp16 or 4 fp32), converts to fp32 and multiplies by up to TB token
//    rows of x held back to back, so a weight row is read once per TB tokens. Decode (T = 1) is
//    the TB = 1 instance: a plain bandwidth-bound GEMV.
//  - attention: one block per (query token, head); scores for the visible positions live in
//    dynamic shared memory (max_context floats), softmax in fp32 as the CPU backend does.
//  - everything runs on one stream in order; copy_to_host synchronises it.
#include "cuda/cuda_backend.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/check.h"

namespace lm::cuda {

namespace {

void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  if (err == cudaErrorMemoryAllocation)
    fail("out of GPU memory while ", what,
         ": use a smaller model or context, a smaller VRAM budget, or the CPU device");
  fail("CUDA error while ", what, ": ", cudaGetErrorString(err));
}

#define LM_CUDA(call, what) check((call), (what))

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;  // warps (output rows) per block in matmul

// ---------- weight loads ----------

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

// ---------- kernels ----------

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
  float ss = 0.0f;
  for (int i = threadIdx.x; i < D; i += blockDim.x) ss += xr[i] * xr[i];
  ss = warp_sum(ss);
  if (threadIdx.x % kWarp == 0) partial[threadIdx.x / kWarp] = ss;
  __syncthreads();
  if (threadIdx.x < kWarp) {
    float v = threadIdx.x < blockDim.x / kWarp ? partial[threadIdx.x] : 0.0f;
    v = warp_sum(v);
    if (threadIdx.x == 0) partial[0] = v;
  }
  __syncthreads();
  const float inv = 1.0f / sqrtf(partial[0] / float(D) + eps);
  for (int i = threadIdx.x; i < D; i += blockDim.x) yr[i] = to_f32(w[i]) * (xr[i] * inv);
}

// rotate_half convention: pairs (i, i + Dh/2) of each head.
__global__ void rope_kernel(float* __restrict__ x, int heads, int head_dim, int pos0,
                            const float* __restrict__ cos_t, const float* __restrict__ sin_t) {
  const int t = blockIdx.x, h = blockIdx.y, half = head_dim / 2;
  float* v = x + (size_t(t) * heads + h) * head_dim;
  const float* c = cos_t + size_t(pos0 + t) * half;
  const float* s = sin_t + size_t(pos0 + t) * half;
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float a = v[i], b = v[i + half];
    v[i] = a * c[i] - b * s[i];
    v[i + half] = b * c[i] + a * s[i];
  }
}

// One block per (query token t, head h). Visible keys: [lo, p] with p = pos0 + t.
__global__ void attention_kernel(const float* __restrict__ q, const float* __restrict__ k_cache,
                                 const float* __restrict__ v_cache, float* __restrict__ out,
                                 int pos0, int heads, int kv_heads, int head_dim, int window,
                                 float scale) {
  extern __shared__ float smem[];  // [head_dim] query, then scores [p + 1]
  __shared__ float red[32];
  const int t = blockIdx.x, h = blockIdx.y;
  const int p = pos0 + t;
  const int lo = window > 0 ? max(0, p - window + 1) : 0;
  const int kvh = h / (heads / kv_heads);
  const int kv_width = kv_heads * head_dim;
  float* qs = smem;
  float* scores = smem + head_dim;
  const float* qr = q + (size_t(t) * heads + h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) qs[d] = qr[d];
  __syncthreads();

  float local_max = -INFINITY;
  for (int j = lo + threadIdx.x; j <= p; j += blockDim.x) {
    const float* kr = k_cache + size_t(j) * kv_width + size_t(kvh) * head_dim;
    float s = 0.0f;
    for (int d = 0; d < head_dim; ++d) s += qs[d] * kr[d];
    s *= scale;
    scores[j - lo] = s;
    local_max = fmaxf(local_max, s);
  }
  // block max
  for (int o = kWarp / 2; o > 0; o >>= 1) local_max = fmaxf(local_max, __shfl_xor_sync(0xffffffffu, local_max, o));
  if (threadIdx.x % kWarp == 0) red[threadIdx.x / kWarp] = local_max;
  __syncthreads();
  float mx = -INFINITY;
  for (int i = 0; i < int(blockDim.x / kWarp); ++i) mx = fmaxf(mx, red[i]);
  __syncthreads();
  float local_sum = 0.0f;
  for (int j = lo + threadIdx.x; j <= p; j += blockDim.x) {
    const float e = expf(scores[j - lo] - mx);
    scores[j - lo] = e;
    local_sum += e;
  }
  local_sum = warp_sum(local_sum);
  if (threadIdx.x % kWarp == 0) red[threadIdx.x / kWarp] = local_sum;
  __syncthreads();
  float sum = 0.0f;
  for (int i = 0; i < int(blockDim.x / kWarp); ++i) sum += red[i];
  const float inv = 1.0f / sum;
  float* o = out + (size_t(t) * heads + h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    const float* vcol = v_cache + size_t(kvh) * head_dim + d;
    float acc = 0.0f;
    for (int j = lo; j <= p; ++j) acc += scores[j - lo] * vcol[size_t(j) * kv_width];
    o[d] = acc * inv;
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

// ---------- host side ----------

class DeviceBuffer final : public Buffer {
 public:
  DeviceBuffer(size_t bytes, cudaStream_t stream) : bytes_(bytes) {
    LM_CUDA(cudaMalloc(&data_, std::max<size_t>(bytes, 4)), "allocating activations / KV cache");
    LM_CUDA(cudaMemsetAsync(data_, 0, std::max<size_t>(bytes, 4), stream), "clearing a buffer");
  }
  ~DeviceBuffer() override { cudaFree(data_); }
  float* f32() override { return static_cast<float*>(data_); }
  size_t bytes() const override { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

int blocks_for(size_t n, int threads) {
  return int(std::min<size_t>((n + size_t(threads) - 1) / size_t(threads), 65535));
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) {
    LM_CUDA(cudaSetDevice(device), "selecting the GPU");
    cudaDeviceProp prop{};
    LM_CUDA(cudaGetDeviceProperties(&prop, device), "reading GPU properties");
    name_ = str("cuda:", device, " ", prop.name);
    max_smem_ = int(prop.sharedMemPerBlockOptin) - 1024;  // leave room for static shared memory
    LM_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a CUDA stream");
    LM_CUDA(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem_),
            "configuring the attention kernel");
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    for (void* p : placed_) cudaFree(p);
    if (scratch_) cudaFree(scratch_);
    cudaStreamDestroy(stream_);
  }

  const char* name() const override { return name_.c_str(); }

  WeightView place(const WeightView& host, MemoryKind kind) override {
    WeightView dev = host;
    void* p = nullptr;
    LM_CUDA(cudaMalloc(&p, std::max<size_t>(host.bytes(), 16)), kind == MemoryKind::Experts ? "uploading experts" : "uploading dense weights");
    placed_.push_back(p);
    LM_CUDA(cudaMemcpy(p, host.data, host.bytes(), cudaMemcpyHostToDevice), "uploading weights");
    (kind == MemoryKind::Experts ? use_.experts : use_.dense) += host.bytes();
    dev.data = p;
    return dev;
  }

  MemoryUse memory_use() const override { return use_; }

  std::unique_ptr<Buffer> alloc(size_t bytes) override {
    auto b = std::make_unique<DeviceBuffer>(bytes, stream_);
    use_.activations += bytes;
    return b;
  }

  void copy_to_host(const float* src, size_t n, float* host) override {
    if (n == 0) return;
    LM_CUDA(cudaMemcpyAsync(host, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_), "copying to the host");
    LM_CUDA(cudaStreamSynchronize(stream_), "running the forward pass");
  }
  void copy_from_host(const float* host, size_t n, float* dst) override {
    if (n == 0) return;
    LM_CUDA(cudaMemcpyAsync(dst, host, n * sizeof(float), cudaMemcpyHostToDevice, stream_), "copying to the GPU");
    LM_CUDA(cudaStreamSynchronize(stream_), "copying to the GPU");
  }

  void embed(const WeightView& table, const int32_t* tokens, int T, float* x) override {
    int32_t* dtok = stage_ints(tokens, T);
    const int D = int(table.cols);
    dispatch(table.dtype, [&](auto tag) {
      using WT = decltype(tag);
      embed_kernel<WT><<<T, 256, 0, stream_>>>(static_cast<const WT*>(table.data), dtok, D, x);
    });
    launched("embed");
  }

  void rmsnorm(const float* x, const WeightView& w, float eps, int T, int D, float* y) override {
    dispatch(w.dtype, [&](auto tag) {
      using WT = decltype(tag);
      rmsnorm_kernel<WT><<<T, 256, 0, stream_>>>(x, static_cast<const WT*>(w.data), eps, D, y);
    });
    launched("rmsnorm");
  }

  void matmul(const WeightView& w, const float* x, int T, float* y, bool accumulate) override {
    const int N = int(w.rows), K = int(w.cols);
    dispatch(w.dtype, [&](auto tag) {
      using WT = decltype(tag);
      const bool vec = K % (16 / int(sizeof(WT))) == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
      const dim3 block(kRowsPerBlock * kWarp);
      const WT* W = static_cast<const WT*>(w.data);
      if (T == 1) {
        const dim3 grid((N + kRowsPerBlock - 1) / kRowsPerBlock, 1);
        if (vec) matmul_kernel<WT, 1, true><<<grid, block, 0, stream_>>>(W, x, y, N, K, T, accumulate);
        else matmul_kernel<WT, 1, false><<<grid, block, 0, stream_>>>(W, x, y, N, K, T, accumulate);
      } else {
        constexpr int TB = 8;
        const dim3 grid((N + kRowsPerBlock - 1) / kRowsPerBlock, (T + TB - 1) / TB);
        if (vec) matmul_kernel<WT, TB, true><<<grid, block, 0, stream_>>>(W, x, y, N, K, T, accumulate);
        else matmul_kernel<WT, TB, false><<<grid, block, 0, stream_>>>(W, x, y, N, K, T, accumulate);
      }
    });
    launched("matmul");
  }

  void rope(float* x, int T, int heads, int head_dim, int pos0, const RopeTable& table) override {
    rope_kernel<<<dim3(T, heads), 64, 0, stream_>>>(x, heads, head_dim, pos0, table.cos, table.sin);
    launched("rope");
  }

  void store_kv(const float* k, const float* v, int T, int width, int pos0, float* k_cache,
                float* v_cache) override {
    const size_t off = size_t(pos0) * size_t(width), n = size_t(T) * size_t(width) * sizeof(float);
    LM_CUDA(cudaMemcpyAsync(k_cache + off, k, n, cudaMemcpyDeviceToDevice, stream_), "storing keys");
    LM_CUDA(cudaMemcpyAsync(v_cache + off, v, n, cudaMemcpyDeviceToDevice, stream_), "storing values");
  }

  void attention(const AttentionArgs& a) override {
    const int visible = a.pos0 + a.T;  // at most this many scores per query
    const size_t smem = size_t(a.head_dim + visible) * sizeof(float);
    if (smem > size_t(max_smem_))
      fail("context of ", visible, " tokens exceeds this GPU's attention scratch (", max_smem_ / 4 - a.head_dim,
           " positions); load with a smaller max_context");
    attention_kernel<<<dim3(a.T, a.heads), 128, smem, stream_>>>(a.q, a.k_cache, a.v_cache, a.out, a.pos0,
                                                                  a.heads, a.kv_heads, a.head_dim,
                                                                  a.sliding_window, a.scale);
    launched("attention");
  }

  void swiglu(float* a, const float* b, size_t n) override {
    swiglu_kernel<<<blocks_for(n, 256), 256, 0, stream_>>>(a, b, n);
    launched("swiglu");
  }

  void gather_rows(const float* src, const int32_t* rows, int n, int D, float* dst) override {
    const int32_t* drows = stage_ints(rows, n);
    gather_rows_kernel<<<n, 256, 0, stream_>>>(src, drows, D, dst);
    launched("gather_rows");
  }

  void scatter_add_rows(const float* src, const int32_t* rows, const float* weights, int n, int D,
                        float* dst) override {
    // rows and weights come from the host router: stage both in one copy.
    ensure_scratch(size_t(n) * 8);
    std::memcpy(host_stage_.data(), rows, size_t(n) * 4);
    std::memcpy(host_stage_.data() + size_t(n) * 4, weights, size_t(n) * 4);
    LM_CUDA(cudaMemcpyAsync(scratch_, host_stage_.data(), size_t(n) * 8, cudaMemcpyHostToDevice, stream_),
            "staging routing");
    const auto* drows = static_cast<const int32_t*>(scratch_);
    const auto* dweights = reinterpret_cast<const float*>(static_cast<const uint8_t*>(scratch_) + size_t(n) * 4);
    scatter_add_rows_kernel<<<n, 256, 0, stream_>>>(src, drows, dweights, D, dst);
    launched("scatter_add_rows");
  }

  void add(float* x, const float* y, size_t n) override {
    add_kernel<<<blocks_for(n, 256), 256, 0, stream_>>>(x, y, n);
    launched("add");
  }

  void zero(float* x, size_t n) override {
    LM_CUDA(cudaMemsetAsync(x, 0, n * sizeof(float), stream_), "clearing a buffer");
  }

 private:
  template <typename F>
  static void dispatch(DType t, F&& f) {
    switch (t) {
      case DType::F32: f(float{}); return;
      case DType::F16: f(__half{}); return;
      case DType::BF16: f(__nv_bfloat16{}); return;
    }
    LM_ASSERT(false, "unsupported weight dtype on the CUDA backend");
  }

  void launched(const char* what) { LM_CUDA(cudaGetLastError(), what); }

  void ensure_scratch(size_t bytes) {
    if (bytes <= scratch_bytes_) return;
    // Grows to the largest chunk once, then never again: no allocation per token.
    if (scratch_) {
      LM_CUDA(cudaStreamSynchronize(stream_), "growing scratch");
      cudaFree(scratch_);
    }
    scratch_bytes_ = std::max<size_t>(bytes, 4096);
    LM_CUDA(cudaMalloc(&scratch_, scratch_bytes_), "allocating scratch");
    host_stage_.resize(scratch_bytes_);
  }

  // Copies host ints to device scratch. The copy is ordered on the stream before the kernel that
  // reads it; cudaMemcpyAsync from pageable memory returns once the source has been consumed, so
  // the host buffer may change afterwards.
  int32_t* stage_ints(const int32_t* host, int n) {
    ensure_scratch(size_t(n) * 4);
    LM_CUDA(cudaMemcpyAsync(scratch_, host, size_t(n) * 4, cudaMemcpyHostToDevice, stream_), "staging indices");
    return static_cast<int32_t*>(scratch_);
  }

  std::string name_;
  cudaStream_t stream_ = nullptr;
  int max_smem_ = 48 * 1024;
  std::vector<void*> placed_;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  std::vector<uint8_t> host_stage_;
  MemoryUse use_;
};

}  // namespace

bool compiled_in() { return true; }

std::string unavailable_reason() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaErrorNoDevice || (err == cudaSuccess && n == 0)) return "no CUDA GPU was found";
  // Also what the runtime says when no driver is installed at all.
  if (err == cudaErrorInsufficientDriver)
    return "no usable NVIDIA driver was found (none is installed, or it is older than this build needs)";
  if (err != cudaSuccess) return str("the CUDA driver could not be used (", cudaGetErrorString(err), ")");
  return "";
}

std::unique_ptr<Backend> make_backend(int device_index) {
  const std::string why = unavailable_reason();
  if (!why.empty()) fail("the CUDA device was requested but ", why, "; use the CPU device instead");
  return std::make_unique<CudaBackend>(device_index);
}

}  // namespace lm::cuda
