// Host side of the tensor-core packed matmul (packed_gemm.h): input conversion, workspace,
// split-K choice and the fixed-order split-K sum. Kernel: packed_gemm_impl.cuh.
#include "cuda/packed_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

#include "common/check.h"
#include "cuda/cuda_check.h"
#include "cuda/packed_gemm_impl.cuh"

namespace lm::cuda {

namespace {

int g_min_tokens_override = 0;

// x [T, ldx] fp32 → xq [T, tiles·256] fp16 in the kernel's permuted order (packed_gemm_impl.cuh),
// each row scaled by 2^e so that max|x| lands in [2^12, 2^13) (no overflow; 2^−e in xinv).
template <int BITS>
__global__ void prep_x_kernel(const float* __restrict__ x, int64_t ldx, int K, int tiles, __half* __restrict__ xq,
                              float* __restrict__ xinv) {
  __shared__ float red[32];
  const int t = blockIdx.x;
  const float* src = x + int64_t(t) * ldx;
  float amax = 0.0f;
  for (int k = threadIdx.x; k < K; k += blockDim.x) amax = fmaxf(amax, fabsf(src[k]));
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = amax;
  __syncthreads();
  if (threadIdx.x < 32) {
    amax = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    if (threadIdx.x == 0) red[0] = amax;
  }
  __syncthreads();
  amax = red[0];
  int e = 0;
  if (amax > 0.0f && amax <= 3.0e38f) {  // finite and nonzero; NaN/Inf rows pass through unscaled
    int ex;
    frexpf(amax, &ex);  // amax ∈ [2^(ex−1), 2^ex)
    e = min(max(13 - ex, -100), 100);
  }
  const int64_t kp = int64_t(tiles) * gemm::kTileK;
  __half* dst = xq + int64_t(t) * kp;
  for (int64_t p = threadIdx.x; p < kp; p += blockDim.x) {
    const int pos = int(p % gemm::kTileK);
    const int half = pos & 1, which = (pos >> 1) & 1, wp = (pos >> 2) & 1, t4 = (pos >> 3) & 3, pi = pos >> 5;
    const int64_t k = (p - pos) + gemm::pair_input<BITS>(pi, half) + 4 * t4 + 2 * wp + which;
    dst[p] = __float2half_rn(k < K ? ldexpf(src[k], e) : 0.0f);
  }
  if (threadIdx.x == 0) xinv[t] = ldexpf(1.0f, -e);
}

// Fixed-order sum of the split-K partials [splits][2][T][N] and the job's epilogue.
__global__ void finalize_kernel(const float* __restrict__ part, int splits, int T, int N, float* __restrict__ y,
                                int64_t ldy, int mode) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(T) * N) return;
  const int64_t tn = int64_t(T) * N;
  float a = 0.0f, u = 0.0f;
  for (int s = 0; s < splits; ++s) {
    a += part[(2 * s) * tn + i];
    if (mode == int(MatvecMode::SwiGlu)) u += part[(2 * s + 1) * tn + i];
  }
  float* out = y + (i / N) * ldy + (i % N);
  if (mode == int(MatvecMode::SwiGlu)) *out = a / (1.0f + expf(-a)) * u;
  else if (mode == int(MatvecMode::Accumulate)) *out += a;
  else *out = a;
}

struct Workspace {
  uint8_t* p = nullptr;
  size_t bytes = 0;
};
std::mutex g_mutex;
std::map<cudaStream_t, Workspace> g_workspaces;  // one per stream: launches on a stream are ordered

uint8_t* workspace(cudaStream_t stream, size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mutex);
  Workspace& w = g_workspaces[stream];
  if (bytes > w.bytes) {
    if (w.p) {
      check(cudaStreamSynchronize(stream), "growing the tensor-core matmul workspace");
      cudaFree(w.p);
      w.p = nullptr;
      w.bytes = 0;
    }
    const size_t grown = std::max(bytes, size_t(16) << 20);
    check(cudaMalloc(&w.p, grown), "allocating the tensor-core matmul workspace");
    w.bytes = grown;
  }
  return w.p;
}

int sm_count() {
  static int n = 0;
  if (n == 0) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      n = 132;
  }
  return n;
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// The tensor-core kernel needs sm_80 (cp.async, mma m16n8k16); per device, asked once.
bool device_has_sm80() {
  static int cached[64];  // 0 unknown, 1 yes, 2 no
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
  if (cached[dev] == 0) {
    int major = 0;
    cached[dev] = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major >= 8 ? 1 : 2;
  }
  return cached[dev] == 1;
}

}  // namespace

int packed_gemm_min_tokens() {
  if (g_min_tokens_override > 0) return std::max(2, g_min_tokens_override);
  static const int from_env = [] {
    const char* s = std::getenv("LOCALMOE_TC_MIN_T");
    return s && std::atoi(s) > 0 ? std::atoi(s) : 16;
  }();
  return std::max(2, from_env);
}

void set_packed_gemm_min_tokens(int tokens) { g_min_tokens_override = tokens; }

bool packed_gemm_supported(const MatvecLaunch& L, cudaStream_t stream) {
  if (L.T < 2 || L.n_jobs < 1 || !device_has_sm80()) return false;
  const int bits = L.jobs[0].w.bits, group = L.jobs[0].w.group;
  if (bits != 2 && bits != 3 && bits != 4) return false;
  if (group != 16 && group != 32 && group != 64 && group != 128) return false;
  for (int j = 0; j < L.n_jobs; ++j)
    if (L.jobs[j].w.row_bytes % 16 != 0 || L.jobs[j].silu_gate != nullptr) return false;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &capture) != cudaSuccess || capture != cudaStreamCaptureStatusNone) return false;
  return true;
}

void packed_gemm(const MatvecLaunch& L, cudaStream_t stream) {
  const char* bm_var = std::getenv("LOCALMOE_TC_BM");  // read per call: tests switch it
  const int bm_env = bm_var ? std::atoi(bm_var) : 0;
  for (int j = 0; j < L.n_jobs; ++j) {
    const MatvecJob& job = L.jobs[j];
    const bool pair = job.mode == MatvecMode::SwiGlu;
    const int T = L.T, N = job.w.rows, K = job.w.cols, bits = job.w.bits;
    gemm::Args a;
    a.job = job;
    a.T = T;
    a.tiles = (K + gemm::kTileK - 1) / gemm::kTileK;
    // Token tile: 128, unless 64 pads the last tile by fewer tokens (T = 130: 3 × 64, not 2 × 128).
    const int bm = bm_env == 64 || bm_env == 128 ? bm_env : ((T + 127) / 128 * 128 - T >= 64 ? 64 : 128);
    const int nb_n = (N + (pair ? gemm::kRowsA / 2 : gemm::kRowsA) - 1) / (pair ? gemm::kRowsA / 2 : gemm::kRowsA);
    const int nb_m = (T + bm - 1) / bm;
    const int blocks = nb_n * nb_m;
    int splits = 1;
    if (blocks < sm_count()) splits = std::max(1, std::min({sm_count() / blocks, a.tiles / 2, gemm::kMaxSplits}));
    a.tiles_per_split = (a.tiles + splits - 1) / splits;
    a.splits = (a.tiles + a.tiles_per_split - 1) / a.tiles_per_split;
    // Workspace: xq | xinv | tab_w | tab_up | partials.
    const size_t kp = size_t(a.tiles) * gemm::kTileK;
    const size_t x_bytes = align256(size_t(T) * kp * 2), inv_bytes = align256(size_t(T) * 4);
    const size_t tab_bytes = align256(size_t(N) * size_t(a.tiles) * 8 * 8);
    const size_t part_bytes = a.splits > 1 ? size_t(a.splits) * 2 * size_t(T) * size_t(N) * 4 : 0;
    uint8_t* ws = workspace(stream, x_bytes + inv_bytes + tab_bytes * (pair ? 2 : 1) + part_bytes);
    a.xq = reinterpret_cast<const __half*>(ws);
    a.xinv = reinterpret_cast<const float*>(ws + x_bytes);
    a.tab_w = reinterpret_cast<const uint2*>(ws + x_bytes + inv_bytes);
    a.tab_up = pair ? reinterpret_cast<const uint2*>(ws + x_bytes + inv_bytes + tab_bytes) : nullptr;
    a.part = a.splits > 1 ? reinterpret_cast<float*>(ws + x_bytes + inv_bytes + tab_bytes * (pair ? 2 : 1)) : nullptr;
    __half* xq = reinterpret_cast<__half*>(ws);
    float* xinv = reinterpret_cast<float*>(ws + x_bytes);
    switch (bits) {
      case 2: prep_x_kernel<2><<<T, 256, 0, stream>>>(job.x, job.ldx, K, a.tiles, xq, xinv); break;
      case 3: prep_x_kernel<3><<<T, 256, 0, stream>>>(job.x, job.ldx, K, a.tiles, xq, xinv); break;
      case 4: prep_x_kernel<4><<<T, 256, 0, stream>>>(job.x, job.ldx, K, a.tiles, xq, xinv); break;
      default: fail("packed weights with ", bits, " bits are not supported by the tensor-core matmul");
    }
    const dim3 grid(unsigned(nb_n), unsigned(nb_m), unsigned(a.splits));
    switch (bits) {
      case 2: packed_gemm_bits<2>(a, bm, grid, stream); break;
      case 3: packed_gemm_bits<3>(a, bm, grid, stream); break;
      default: packed_gemm_bits<4>(a, bm, grid, stream); break;
    }
    if (a.splits > 1) {
      const int64_t n = int64_t(T) * N;
      finalize_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(a.part, a.splits, T, N, job.y, job.ldy,
                                                                      int(job.mode));
    }
  }
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail("tensor-core packed matmul launch failed: ", cudaGetErrorString(e));
}

}  // namespace lm::cuda
