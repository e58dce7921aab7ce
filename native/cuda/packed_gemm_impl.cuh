// The tensor-core packed matmul (see packed_gemm.h), instantiated per bit width in
// packed_gemm_b{2,3,4}.cu.
//
// Per job: y[T, N] = x[T, K] · Ŵᵀ with Ŵ = ŝ·(Q − ẑ) from the packed layout (quant/packed_tensor.h).
//  1. prep_x (packed_gemm.cu): x → fp16 in a permuted order (below), each token row scaled by a
//     power of two 2^e that brings max|x| into [2^12, 2^13): no fp16 overflow whatever the
//     activations, full fp16 precision for small rows; 2^−e is applied to the fp32 result.
//  2. prep_table: per row, per K tile of 256 inputs, per "pair" π (8 per tile) the half2
//     (ŝ', ŝ') and (−ẑ·ŝ', −ẑ·ŝ') of the two groups that π's two halves fall in; ŝ' is the scale
//     without the per-tensor 2^−shift (so it lies in [0, 2): safe in fp16), applied at the end.
//     The scale/zero arithmetic is quant::dequant_scale / dequant_zero's, in fp32.
//  3. gemm_kernel: a block owns 128 "A rows" (128 rows of W, or 64 rows of w and the same 64 of
//     up for a SwiGLU pair) × BM tokens, walks K in tiles of 256 with a cp.async pipeline (codes,
//     table and fp16 x of a tile per stage), dequantizes codes straight into mma A fragments and
//     runs mma.sync m16n8k16 (fp16 in, fp32 accumulate). 8 warps: 4 along rows (32 A rows each =
//     two m16 tiles) × 2 along tokens (BM/2 each). Small grids split K into at most 8 fixed slices
//     whose partials a second kernel adds in a fixed order: deterministic, no atomics.
//
// Fragment trick: an mma's K order is arbitrary as long as A and B agree. A thread (g = lane/4,
// t = lane%4) owns lanes 4t..4t+3 (four 32-bit words) of each of its rows' code blocks. One
// and/or on a word gives a half2 1024 + code of two slots at once: slots (π, π+8) for 2/3-bit
// (bits 2π and 16+2π), (p, p+4) of sub-block π/4 for 4-bit. K step (π, wp) of the tile uses words
// 2wp (A cols 2t, 2t+1) and 2wp+1 (cols 2t+8, 2t+9); x is stored in exactly that order, so a
// thread's B fragments for both wp of one π are one 16-byte shared load.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/packed_device.cuh"
#include "cuda/packed_matvec.h"

namespace lm::cuda::gemm {

constexpr int kThreads = 256;
constexpr int kRowsA = 128;    // A rows per block
constexpr int kTileK = 256;    // inputs per K tile
constexpr int kXStride = 576;  // bytes per token row of the x tile in shared memory (512 + pad)
constexpr int kTabStride = 80; // bytes per A row of the table tile in shared memory (64 + pad)
constexpr int kMaxSplits = 8;

template <int BITS> __host__ __device__ constexpr int code_bytes() { return BITS == 3 ? 96 : BITS == 4 ? 128 : 64; }
template <int BM> __host__ __device__ constexpr int stages() { return BM == 64 ? 3 : 2; }
template <int BITS, int BM> __host__ __device__ constexpr int stage_bytes() {
  return kRowsA * code_bytes<BITS>() + kRowsA * kTabStride + BM * kXStride;
}
template <int BITS, int BM> constexpr int smem_bytes() { return stages<BM>() * stage_bytes<BITS, BM>(); }

// One job, prepared on the host.
struct Args {
  MatvecJob job;
  int T = 0;
  int tiles = 0;             // K tiles of 256
  int tiles_per_split = 0;
  int splits = 1;
  const __half* xq = nullptr;   // [T][tiles * 256] permuted, scaled fp16 inputs
  const float* xinv = nullptr;  // [T] 2^−e of each token row
  const uint2* tab_w = nullptr; // [rows][tiles][8] (half2 scales, half2 −zero·scale)
  const uint2* tab_up = nullptr;
  float* part = nullptr;        // splits > 1: [splits][2][T][rows]
};

// The matrix of a job (0: w, 1: up), its pointers resolved on the device for indirect jobs.
__device__ __forceinline__ PackedMatrix resolve(const MatvecJob& job, int which) {
  return which ? packed::job_matrix(job, job.up, job.up_off, job.which_up)
               : packed::job_matrix(job, job.w, job.w_off, job.which);
}

// Tile-local input index of half `h` of pair π (the first input of its 16-input slot).
template <int BITS> __host__ __device__ __forceinline__ int pair_input(int pi, int h) {
  return BITS == 4 ? (pi / 4) * 128 + 16 * (pi % 4 + 4 * h) : 16 * (pi + 8 * h);
}

template <int BITS>
__global__ void prep_table_kernel(const __grid_constant__ MatvecJob job, int which, int tiles, uint2* __restrict__ tab) {
  const PackedMatrix m = resolve(job, which);
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= int64_t(m.rows) * tiles * 8) return;
  const int pi = int(idx % 8);
  const int kt = int((idx / 8) % tiles);
  const int row = int(idx / (8 * int64_t(tiles)));
  const int gpr = m.cols / m.group;
  float s[2], nz[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int k = kt * kTileK + pair_input<BITS>(pi, h);
    s[h] = nz[h] = 0.0f;
    if (k >= m.cols) continue;
    const int t = row * gpr + k / m.group;  // row-major group index (< 2^31, as everywhere)
    const int mg = t / m.meta_group;
    const float smin = packed::half_bits(__ldg(m.scale_meta + 2 * mg)), sstep = packed::half_bits(__ldg(m.scale_meta + 2 * mg + 1));
    const float zmin = packed::half_bits(__ldg(m.zero_meta + 2 * mg)), zstep = packed::half_bits(__ldg(m.zero_meta + 2 * mg + 1));
    const float sv = packed::dequant_meta(smin, sstep, __ldg(m.scale_codes + t));
    const float zv = packed::dequant_meta(zmin, zstep, __ldg(m.zero_codes + t));
    s[h] = sv;
    nz[h] = -zv * sv;
  }
  const __half2 s2 = __floats2half2_rn(s[0], s[1]), z2 = __floats2half2_rn(nz[0], nz[1]);
  tab[idx] = make_uint2(*reinterpret_cast<const uint32_t*>(&s2), *reinterpret_cast<const uint32_t*>(&z2));
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// cp.async and mma.sync m16n8k16 (f16) need sm_80. The default fat binary also targets Turing
// (sm_75): there these compile to a trap and the host never launches the kernel
// (packed_gemm_supported checks the device), so prefill takes the fp32 token-tile kernel.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define LM_GEMM_SM80(...) __VA_ARGS__
#else
#define LM_GEMM_SM80(...) __trap()
#endif

// 16-byte async copy; `bytes` = 0 fills the destination with zeros (nothing is read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int bytes) {
  LM_GEMM_SM80(asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                            "r"(bytes)));
}
__device__ __forceinline__ void cp_async_commit() { LM_GEMM_SM80(asm volatile("cp.async.commit_group;\n" ::)); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  LM_GEMM_SM80(asm volatile("cp.async.wait_group %0;\n" ::"n"(N)));
}

__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  LM_GEMM_SM80(asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1)));
}
#undef LM_GEMM_SM80

// half2 (1024 + code_lo, 1024 + code_hi) → (code − ẑ)·ŝ' for both halves: exact code, one
// subtraction (exact), one fused multiply-add in fp16.
__device__ __forceinline__ uint32_t dequant2(uint32_t magic_codes, uint2 tb) {
  const __half2 q = __hsub2(*reinterpret_cast<const __half2*>(&magic_codes), __half2half2(__ushort_as_half(0x6400)));
  const __half2 r = __hfma2(q, *reinterpret_cast<const __half2*>(&tb.x), *reinterpret_cast<const __half2*>(&tb.y));
  return *reinterpret_cast<const uint32_t*>(&r);
}

template <int BITS, int BM>
__global__ void __launch_bounds__(kThreads, 1) gemm_kernel(const __grid_constant__ Args a) {
  extern __shared__ __align__(16) uint8_t smem[];
  constexpr int CB = code_bytes<BITS>(), CH = CB / 16, S = stages<BM>(), SB = stage_bytes<BITS, BM>();
  constexpr int WT = BM / 2, NI = WT / 8;          // tokens per warp, n8 tiles per warp
  constexpr int NW = BITS == 4 ? 8 : 4;            // code words per row per thread per tile
  const MatvecJob& job = a.job;
  const bool pair = job.mode == MatvecMode::SwiGlu;
  const PackedMatrix mw = resolve(job, 0);
  const PackedMatrix mu = pair ? resolve(job, 1) : mw;
  const int N = mw.rows, T = a.T;
  const int n0 = int(blockIdx.x) * (pair ? kRowsA / 2 : kRowsA);
  const int m0 = int(blockIdx.y) * BM;
  const int kt0 = int(blockIdx.z) * a.tiles_per_split;
  const int kt1 = min(a.tiles, kt0 + a.tiles_per_split);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const int wn = warp % 4, wm = warp / 4;
  const int64_t kpad = int64_t(a.tiles) * kTileK;

  // A row r of the block → matrix (0 w, 1 up) and row of that matrix.
  auto arow = [&](int r, int& mat) {
    if (pair) {
      mat = (r >> 4) & 1;
      return n0 + (r >> 5) * 16 + (r & 15);
    }
    mat = 0;
    return n0 + r;
  };

  auto load_stage = [&](int kt, int st) {
    uint8_t* As = smem + st * SB;
    uint8_t* Ts = As + kRowsA * CB;
    uint8_t* Xs = Ts + kRowsA * kTabStride;
    for (int c = tid; c < kRowsA * CH; c += kThreads) {
      const int r = c / CH, q = c % CH;
      int mat;
      const int row = arow(r, mat);
      const uint8_t* codes = mat ? mu.codes : mw.codes;
      const int rb = mat ? mu.row_bytes : mw.row_bytes;
      const int64_t off = int64_t(kt) * CB + 16 * q;
      const bool ok = row < N && off < rb;
      const uint8_t* src = ok ? codes + int64_t(row) * rb + off : codes;
      int dst;
      if constexpr (BITS == 2) dst = r * 64 + q * 16;
      else if constexpr (BITS == 4) dst = (q / 4) * (kRowsA * 64) + r * 64 + (q % 4) * 16;
      else dst = q < 4 ? r * 64 + q * 16 : kRowsA * 64 + r * 32 + (q - 4) * 16;
      cp_async16(As + dst, src, ok ? 16 : 0);
    }
    for (int c = tid; c < kRowsA * 4; c += kThreads) {
      const int r = c / 4, q = c % 4;
      int mat;
      const int row = arow(r, mat);
      const uint2* tab = mat ? a.tab_up : a.tab_w;
      const bool ok = row < N;
      const uint2* src = ok ? tab + (int64_t(row) * a.tiles + kt) * 8 + 2 * q : tab;
      cp_async16(Ts + r * kTabStride + q * 16, src, ok ? 16 : 0);
    }
    for (int c = tid; c < BM * 32; c += kThreads) {
      const int tok = c / 32, q = c % 32;
      const bool ok = m0 + tok < T;
      const __half* src = ok ? a.xq + int64_t(m0 + tok) * kpad + int64_t(kt) * kTileK + 8 * q : a.xq;
      cp_async16(Xs + tok * kXStride + q * 16, src, ok ? 16 : 0);
    }
  };

  float acc[2][NI][4];
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0.0f;

#pragma unroll
  for (int s = 0; s < S - 1; ++s) {
    if (kt0 + s < kt1) load_stage(kt0 + s, s);
    cp_async_commit();
  }
  for (int kt = kt0; kt < kt1; ++kt) {
    cp_async_wait<S - 2>();
    __syncthreads();  // stage (kt - kt0) % S has landed for every thread; the one refilled below is consumed
    {
      const int nk = kt + S - 1;
      if (nk < kt1) load_stage(nk, (nk - kt0) % S);
      cp_async_commit();
    }
    const uint8_t* As = smem + ((kt - kt0) % S) * SB;
    const uint8_t* Ts = As + kRowsA * CB;
    const uint8_t* Xs = Ts + kRowsA * kTabStride;

    uint32_t cw[2][2][NW];
    uint32_t hs[2][2][4];  // 3-bit: third bits of words j, spread to bits 2 + i (slot i < 8), 18 + (i − 8)
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int ar = wn * 32 + mi * 16 + h * 8 + g;
#pragma unroll
        for (int pl = 0; pl < NW / 4; ++pl) {
          const uint4 v = *reinterpret_cast<const uint4*>(As + pl * (kRowsA * 64) + ar * 64 + 16 * t4);
          cw[mi][h][4 * pl + 0] = v.x, cw[mi][h][4 * pl + 1] = v.y, cw[mi][h][4 * pl + 2] = v.z, cw[mi][h][4 * pl + 3] = v.w;
        }
        if constexpr (BITS == 3) {
          const uint2 hv = *reinterpret_cast<const uint2*>(As + kRowsA * 64 + ar * 32 + 8 * t4);
          const uint32_t h16[4] = {hv.x & 0xFFFFu, hv.x >> 16, hv.y & 0xFFFFu, hv.y >> 16};
#pragma unroll
          for (int j = 0; j < 4; ++j) hs[mi][h][j] = ((h16[j] & 0xFFu) | ((h16[j] & 0xFF00u) << 8)) << 2;
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j) hs[mi][h][j] = 0;
        }
      }

#pragma unroll
    for (int pi = 0; pi < 8; ++pi) {
      uint2 tb[2][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h)
          tb[mi][h] = *reinterpret_cast<const uint2*>(Ts + (wn * 32 + mi * 16 + h * 8 + g) * kTabStride + pi * 8);
      uint4 xb[NI];
#pragma unroll
      for (int ni = 0; ni < NI; ++ni)
        xb[ni] = *reinterpret_cast<const uint4*>(Xs + (wm * WT + ni * 8 + g) * kXStride + (pi * 4 + t4) * 16);
#pragma unroll
      for (int wp = 0; wp < 2; ++wp) {
        uint32_t af[2][4];
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int which = 0; which < 2; ++which)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              const int j = 2 * wp + which;
              uint32_t c;
              if constexpr (BITS == 4) c = (cw[mi][h][(pi / 4) * 4 + j] >> (4 * (pi % 4))) & 0x000F000Fu;
              else c = (cw[mi][h][j] >> (2 * pi)) & 0x00030003u;
              if constexpr (BITS == 3) c |= (hs[mi][h][j] >> pi) & 0x00040004u;
              af[mi][which * 2 + h] = dequant2(c | 0x64006400u, tb[mi][h]);
            }
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int ni = 0; ni < NI; ++ni)
            mma16816(acc[mi][ni], af[mi], wp ? xb[ni].z : xb[ni].x, wp ? xb[ni].w : xb[ni].y);
      }
    }
  }
  cp_async_wait<0>();

  // Epilogue: undo the scale shift and the token's input scaling, then store (or hand the
  // partial to the fixed-order split-K sum).
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int ar = wn * 32 + mi * 16 + h * 8 + g;
          int mat;
          const int row = arow(ar, mat);
          const int tok = m0 + wm * WT + ni * 8 + 2 * t4 + e;
          if (row >= N || tok >= T) continue;
          const float v = acc[mi][ni][2 * h + e] * (mat ? mu.unshift : mw.unshift) * a.xinv[tok];
          if (a.splits > 1) {
            a.part[((int64_t(blockIdx.z) * 2 + mat) * T + tok) * N + row] = v;
            continue;
          }
          float* out = job.y + int64_t(tok) * job.ldy + row;
          if (pair) {
            if (mi != 0) continue;
            const float u = acc[1][ni][2 * h + e] * mu.unshift * a.xinv[tok];
            *out = v / (1.0f + expf(-v)) * u;
          } else if (job.mode == MatvecMode::Accumulate) {
            *out += v;
          } else {
            *out = v;
          }
        }
}

template <int BITS, int BM>
void launch_gemm(const Args& a, dim3 grid, cudaStream_t stream) {
  static bool configured = false;  // per instantiation; one device per process
  if (!configured) {
    const cudaError_t e = cudaFuncSetAttribute(gemm_kernel<BITS, BM>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               smem_bytes<BITS, BM>());
    if (e != cudaSuccess) return;  // the launch below reports the error
    configured = true;
  }
  gemm_kernel<BITS, BM><<<grid, kThreads, smem_bytes<BITS, BM>(), stream>>>(a);
}

template <int BITS>
void run_bits(const Args& a, int bm, dim3 grid, cudaStream_t stream) {
  const bool pair = a.job.mode == MatvecMode::SwiGlu;
  const int64_t n = int64_t(a.job.w.rows) * a.tiles * 8;
  const unsigned blocks = unsigned((n + 255) / 256);
  prep_table_kernel<BITS><<<blocks, 256, 0, stream>>>(a.job, 0, a.tiles, const_cast<uint2*>(a.tab_w));
  if (pair) prep_table_kernel<BITS><<<blocks, 256, 0, stream>>>(a.job, 1, a.tiles, const_cast<uint2*>(a.tab_up));
  if (bm == 64) launch_gemm<BITS, 64>(a, grid, stream);
  else launch_gemm<BITS, 128>(a, grid, stream);
}

}  // namespace lm::cuda::gemm

namespace lm::cuda {
// Per bit width (packed_gemm_b*.cu).
template <int BITS>
void packed_gemm_bits(const gemm::Args& a, int bm, dim3 grid, cudaStream_t stream);
}  // namespace lm::cuda
