// The packed matvec kernel template and its launchers, instantiated per bit width in
// packed_matvec_b{2,3,4}.cu (separate files so nvcc compiles them in parallel). See packed_matvec.cu.
#pragma once

#include <cuda_fp16.h>

#include "common/check.h"
#include "cuda/packed_device.cuh"
#include "cuda/packed_matvec.h"

namespace lm::cuda {

namespace detail {

constexpr int kRows = 32;    // output rows per block (one per lane)
constexpr int kSplits = 8;   // warps per block, splitting the input dimension
constexpr int kThreads = kRows * kSplits;
using packed::block_bytes;
using packed::block_values;
using packed::dequant_meta;
using packed::MetaCache;

// Inputs staged in shared memory per pass (a multiple of every block size): decode 8192 values
// (a Mixtral hidden row in one pass, a 14336-wide expert row in two), prefill 2048 values for each
// of its 8 tokens.
template <int NT> __host__ __device__ constexpr int chunk() { return NT == 1 ? 8192 : 2048; }
// Bytes per staged row of 8-bit scale (or zero) codes: whole words, an odd number of them, so the
// 32 lanes (32 rows) reading the same group hit 32 different banks.
template <int NT, int GROUP> __host__ __device__ constexpr int staged_row() {
  return ((chunk<NT>() / GROUP + 3) / 4 * 4) + (((chunk<NT>() / GROUP + 3) / 4) % 2 == 0 ? 4 : 0);
}

template <int NT, int GROUP>
constexpr size_t smem_bytes() {
  return sizeof(float) * (size_t(NT) * chunk<NT>() + size_t(NT) * (chunk<NT>() / GROUP)) +
         size_t(4) * kRows * staged_row<NT, GROUP>();  // scale + zero codes of w (and up)
}

// The 16 lanes (and for 3-bit the 16 high-bit halves) of one code block.
template <int BITS>
struct Block {
  uint32_t lo[16];
  uint32_t hi[8];  // 3-bit: 16 uint16, two per word
  __device__ __forceinline__ void load(const uint8_t* p) { packed::load_block<BITS>(p, lo, hi); }
  // Code of slot i, lane l, as a float (exact: codes are < 2^4).
  __device__ __forceinline__ float code(int i, int l) const {
    return packed::code_float(packed::lane_code<BITS>(lo, hi, i, l));
  }
};

template <int BITS, int GROUP, int NT>
__global__ void __launch_bounds__(kThreads, 2) packed_matvec_kernel(const __grid_constant__ MatvecLaunch L, const int tile_start1,
                                                                 const int tile_start2, const int tile_start3,
                                                                 const int tile_start4, const int tile_start5,
                                                                 const int tile_start6, const int tile_start7) {
  extern __shared__ float smem[];
  constexpr int kChunk = chunk<NT>();
  float* xs = smem;                        // [NT][kChunk]
  float* xsum = smem + NT * kChunk;        // [NT][kChunk / GROUP]
  constexpr int BV = block_values<BITS>(), BB = block_bytes<BITS>(), SPG = GROUP / 16;
  constexpr int GPB = BV / GROUP;          // groups per code block
  constexpr int GPC = kChunk / GROUP;      // groups per chunk

  const int starts[kMaxJobs] = {0, tile_start1, tile_start2, tile_start3, tile_start4, tile_start5, tile_start6, tile_start7};
  int j = 0;
#pragma unroll
  for (int i = 1; i < kMaxJobs; ++i)
    if (i < L.n_jobs && int(blockIdx.x) >= starts[i]) j = i;
  const MatvecJob& job = L.jobs[j];
  const bool pair = job.mode == MatvecMode::SwiGlu;
  const PackedMatrix w = packed::job_matrix(job, job.w, job.w_off, job.which);
  const PackedMatrix up = pair ? packed::job_matrix(job, job.up, job.up_off, job.which_up) : job.up;
  const int lane = threadIdx.x % 32, split = threadIdx.x / 32;
  const int r0 = (int(blockIdx.x) - starts[j]) * kRows;  // the block's first row
  const int row = r0 + lane;
  const int t0 = int(blockIdx.y) * NT;
  const int nt = min(NT, L.T - t0);
  const bool live = row < w.rows;
  const int K = w.cols;
  const int64_t gpr = K / GROUP;
  constexpr int SR = staged_row<NT, GROUP>();
  uint8_t* staged = reinterpret_cast<uint8_t*>(xsum + NT * GPC);  // [w sc, w zc, up sc, up zc][kRows][SR]

  float acc[NT], acc_up[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = acc_up[t] = 0.0f;
  MetaCache mw, mu;

  for (int k0 = 0; k0 < K; k0 += kChunk) {
    const int kc = min(kChunk, K - k0);
    const int kpad = (kc + BV - 1) / BV * BV;  // through the end of the last code block
    const int gv = (kc + GROUP - 1) / GROUP;   // groups of the chunk inside the row
    const int64_t g0 = k0 / GROUP;
    __syncthreads();  // the previous chunk is consumed
    // Inputs of the chunk (16-byte loads when aligned; no integer division in these loops: they
    // run once per block and must stay cheap next to the block's share of the weights).
    for (int t = 0; t < NT; ++t) {
      float* dst = xs + t * kChunk;
      const float* src = job.x + int64_t(t0 + t) * job.ldx + k0;
      const bool here = t < nt;
      if (here && kc % 4 == 0 && (reinterpret_cast<uintptr_t>(src) & 15) == 0) {
        for (int k = 4 * int(threadIdx.x); k < kc; k += 4 * kThreads)
          *reinterpret_cast<float4*>(dst + k) = __ldg(reinterpret_cast<const float4*>(src + k));
        for (int k = kc + int(threadIdx.x); k < kpad; k += kThreads) dst[k] = 0.0f;
      } else {
        for (int k = threadIdx.x; k < kpad; k += kThreads) dst[k] = here && k < kc ? src[k] : 0.0f;
      }
    }
    // The 32 rows' scale and zero codes of this chunk, copied with consecutive threads reading
    // consecutive bytes of a row (coalesced; 16 at a time when aligned), so the compute loop reads
    // them from shared memory instead of 32 scattered rows per load.
    for (int a = 0; a < (pair ? 4 : 2); ++a) {  // w scale, w zero, up scale, up zero
      const PackedMatrix& m = a < 2 ? w : up;
      const uint8_t* src = (a % 2 == 0 ? m.scale_codes : m.zero_codes) + int64_t(r0) * gpr + g0;
      uint8_t* dst = staged + a * kRows * SR;
      const int rows = min(kRows, m.rows - r0);
      if (gpr % 16 == 0 && gv % 16 == 0 && (reinterpret_cast<uintptr_t>(src) & 15) == 0) {
        const int vpr = gv / 16;  // 16-byte vectors per row
        for (int i = threadIdx.x; i < rows * vpr; i += kThreads) {
          const int r = i / vpr, c = i - r * vpr;
          const uint4 v = __ldg(reinterpret_cast<const uint4*>(src + int64_t(r) * gpr) + c);
          uint32_t* d = reinterpret_cast<uint32_t*>(dst + r * SR + 16 * c);  // SR and 16c are word multiples
          d[0] = v.x, d[1] = v.y, d[2] = v.z, d[3] = v.w;
        }
      } else {
        for (int r = 0; r < rows; ++r)
          for (int g = threadIdx.x; g < gv; g += kThreads) dst[r * SR + g] = __ldg(src + int64_t(r) * gpr + g);
      }
    }
    __syncthreads();
    const int gc = kpad / GROUP;
    for (int t = 0; t < NT; ++t)
      for (int g = threadIdx.x; g < gc; g += kThreads) {
        const float* p = xs + t * kChunk + g * GROUP;
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < GROUP; ++k) s += p[k];
        xsum[t * GPC + g] = s;
      }
    __syncthreads();
    if (!live) continue;
    // Each warp takes a contiguous run of the chunk's code blocks (its lanes walk their rows'
    // groups in order, so a meta pair is loaded once per meta group).
    const int nb = kpad / BV;
    const int b_begin = split * nb / kSplits, b_end = (split + 1) * nb / kSplits;
    const uint8_t* sc_w = staged + (0 * kRows + lane) * SR;
    const uint8_t* zc_w = staged + (1 * kRows + lane) * SR;
    const uint8_t* sc_u = staged + (2 * kRows + lane) * SR;
    const uint8_t* zc_u = staged + (3 * kRows + lane) * SR;
    for (int b = b_begin; b < b_end; ++b) {
      const int kb = b * BV;  // block offset in the chunk
      const int64_t blk = (k0 + kb) / BV;
      const int ng = min(GPB, gv - kb / GROUP);  // groups of the block inside the row
      Block<BITS> cw, cu;
      cw.load(w.codes + int64_t(row) * w.row_bytes + blk * BB);
      if (pair) cu.load(up.codes + int64_t(row) * up.row_bytes + blk * BB);
#pragma unroll 1  // groups of a block: a runtime shift is as cheap, and the kernel stays small
      for (int gi = 0; gi < ng; ++gi) {
        const int kg = kb + gi * GROUP;  // group start in the chunk
        const int gl = kg / GROUP;       // group index in the chunk
        const int tg = row * int(gpr) + int(g0) + gl;
        float d[NT], du[NT];
#pragma unroll
        for (int t = 0; t < NT; ++t) d[t] = du[t] = 0.0f;
#pragma unroll
        for (int si = 0; si < SPG; ++si) {
          const int i = gi * SPG + si;
#pragma unroll
          for (int l4 = 0; l4 < 4; ++l4) {  // 16 inputs of the slot: 4 broadcast 16-byte reads per token
            float4 xq[NT];
#pragma unroll
            for (int t = 0; t < NT; ++t) xq[t] = *reinterpret_cast<const float4*>(xs + t * kChunk + kb + 16 * i + 4 * l4);
#pragma unroll
            for (int c = 0; c < 4; ++c) {
              const float q = cw.code(i, 4 * l4 + c);
              const float qu = pair ? cu.code(i, 4 * l4 + c) : 0.0f;
#pragma unroll
              for (int t = 0; t < NT; ++t) {
                const float xv = c == 0 ? xq[t].x : c == 1 ? xq[t].y : c == 2 ? xq[t].z : xq[t].w;
                d[t] = fmaf(q, xv, d[t]);
                if (pair) du[t] = fmaf(qu, xv, du[t]);
              }
            }
          }
        }
        mw.at(w, tg);
        float sv = __fmul_rn(dequant_meta(mw.smin, mw.sstep, sc_w[gl]), w.unshift);
        float zv = dequant_meta(mw.zmin, mw.zstep, zc_w[gl]);
#pragma unroll
        for (int t = 0; t < NT; ++t) acc[t] = fmaf(sv, d[t] - zv * xsum[t * GPC + gl], acc[t]);
        if (pair) {
          mu.at(up, tg);
          sv = __fmul_rn(dequant_meta(mu.smin, mu.sstep, sc_u[gl]), up.unshift);
          zv = dequant_meta(mu.zmin, mu.zstep, zc_u[gl]);
#pragma unroll
          for (int t = 0; t < NT; ++t) acc_up[t] = fmaf(sv, du[t] - zv * xsum[t * GPC + gl], acc_up[t]);
        }
      }
    }
  }

  // Fixed-order sum of the splits' partials (deterministic), then the epilogue.
  __syncthreads();
  float* red = smem;  // [kSplits][2][NT][kRows]
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    red[((split * 2 + 0) * NT + t) * kRows + lane] = acc[t];
    red[((split * 2 + 1) * NT + t) * kRows + lane] = acc_up[t];
  }
  __syncthreads();
  if (split != 0 || !live) return;
  for (int t = 0; t < nt; ++t) {
    float a = 0.0f, u = 0.0f;
#pragma unroll
    for (int s = 0; s < kSplits; ++s) {
      a += red[((s * 2 + 0) * NT + t) * kRows + lane];
      u += red[((s * 2 + 1) * NT + t) * kRows + lane];
    }
    float* out = job.y + int64_t(t0 + t) * job.ldy + row;
    if (job.mode == MatvecMode::SwiGlu) *out = a / (1.0f + expf(-a)) * u;
    else if (job.mode == MatvecMode::Accumulate) *out += a;
    else *out = a;
  }
}

template <int BITS, int GROUP, int NT>
void launch_one(const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  const dim3 grid(unsigned(tiles), unsigned((L.T + NT - 1) / NT));
  size_t smem = smem_bytes<NT, GROUP>();
  const size_t red = sizeof(float) * kSplits * 2 * NT * kRows;
  if (red > smem) smem = red;
  packed_matvec_kernel<BITS, GROUP, NT><<<grid, kThreads, smem, stream>>>(
      L, starts[1], starts[2], starts[3], starts[4], starts[5], starts[6], starts[7]);
}

template <int BITS, int GROUP>
void launch_nt(const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  if (L.T == 1) launch_one<BITS, GROUP, 1>(L, starts, tiles, stream);
  else launch_one<BITS, GROUP, 8>(L, starts, tiles, stream);
}

template <int BITS>
void launch_group(int group, const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  switch (group) {
    case 16: launch_nt<BITS, 16>(L, starts, tiles, stream); return;
    case 32: launch_nt<BITS, 32>(L, starts, tiles, stream); return;
    case 64: launch_nt<BITS, 64>(L, starts, tiles, stream); return;
    case 128: launch_nt<BITS, 128>(L, starts, tiles, stream); return;
  }
  fail("packed weights with group size ", group, " are not supported on the CUDA backend");
}

template <int BITS, int GROUP, int NT>
void set_smem() {
  size_t smem = smem_bytes<NT, GROUP>();
  const size_t red = sizeof(float) * kSplits * 2 * NT * kRows;
  if (red > smem) smem = red;
  const cudaError_t e = cudaFuncSetAttribute(packed_matvec_kernel<BITS, GROUP, NT>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (e != cudaSuccess) fail("configuring the packed matmul kernels: ", cudaGetErrorString(e));
}

template <int BITS>
void init_bits() {
  set_smem<BITS, 16, 1>(), set_smem<BITS, 16, 8>();
  set_smem<BITS, 32, 1>(), set_smem<BITS, 32, 8>();
  set_smem<BITS, 64, 1>(), set_smem<BITS, 64, 8>();
  set_smem<BITS, 128, 1>(), set_smem<BITS, 128, 8>();
}

}  // namespace detail

// Per bit width (packed_matvec_b*.cu).
template <int BITS>
void launch_bits(int group, const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream);
template <int BITS>
void init_bits_smem();

}  // namespace lm::cuda
