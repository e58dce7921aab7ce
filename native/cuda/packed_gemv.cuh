// The decode (one token) packed matvec kernel; instantiated per bit width with the tile kernel in
// packed_matvec_b{2,3,4}.cu. See packed_matvec.h for the job model and packed_matvec.cu for the math.
//
// A decode step streams every active weight once, so this kernel is built to keep HBM busy and the
// instruction count per weight low:
//  - a block owns 32 rows (one per lane: the lanes share every input value, read from shared memory
//    as broadcasts) and its warps split the input dimension; each warp stages only its own slice of
//    the input and never waits for the other warps until the final fixed-order reduction;
//  - a lane reads its row's code block and scale/zero codes straight into registers and loads the
//    next block while it uses the current one (double buffering);
//  - 2- and 4-bit codes are decoded two at a time: one shift and one mask turn a 32-bit lane word
//    into a half2 of (1024 + q) for slots i and i + H (H = 8 slots for 2-bit, 4 for 4-bit), so a pair
//    of weights costs four instructions (shift, mask, subtract, fused multiply-add) instead of eight.
//    Inputs are staged as fp16 pairs in the same order, scaled per warp slice by a power of two so
//    that no per-slot sum can overflow fp16 (exact to undo); each slot's 16-term sum is converted to
//    fp32 before groups, scales and zeros are applied (all fp32). 3-bit codes stay on the fp32 path.
//  - the group sums Σx used for the zero-points are taken over the same rounded inputs, so the
//    result is exactly the packed product of a slightly rounded input (no cancellation between a
//    rounded dot product and an unrounded sum).
#pragma once

#include <cuda_fp16.h>

#include <algorithm>

#include "common/check.h"
#include "cuda/packed_device.cuh"
#include "cuda/packed_matvec.h"

namespace lm::cuda::gemv {

using packed::block_bytes;
using packed::block_values;
using packed::code_float;
template <int BITS> __host__ __device__ constexpr bool half_path() { return BITS != 3; }
constexpr int kRows = 32;
constexpr int kMaxSplits = 16;


// The group codes of one code block of one row, loaded straight into registers (GPB bytes each).
template <int GPB>
struct GroupCodes {
  uint32_t sc[(GPB + 3) / 4], zc[(GPB + 3) / 4];
  // n: groups of the block inside the row (a block past the end of a ragged row reads only those).
  __device__ __forceinline__ void load(const uint8_t* scale, const uint8_t* zero, bool vec, int n) {
    load_bytes(scale, sc, vec, n);
    load_bytes(zero, zc, vec, n);
  }
  // One 16/8/4/2/1-byte load when aligned (the common case), else byte by byte.
  __device__ __forceinline__ static void load_bytes(const uint8_t* p, uint32_t* w, bool vec, int n) {
    if (vec) {
      if constexpr (GPB == 16) {
        const uint4 q = __ldg(reinterpret_cast<const uint4*>(p));
        w[0] = q.x, w[1] = q.y, w[2] = q.z, w[3] = q.w;
      } else if constexpr (GPB == 8) {
        const uint2 q = __ldg(reinterpret_cast<const uint2*>(p));
        w[0] = q.x, w[1] = q.y;
      } else if constexpr (GPB == 4) {
        w[0] = __ldg(reinterpret_cast<const uint32_t*>(p));
      } else if constexpr (GPB == 2) {
        w[0] = __ldg(reinterpret_cast<const uint16_t*>(p));
      } else {
        w[0] = __ldg(p);
      }
      return;
    }
#pragma unroll
    for (int i = 0; i < (GPB + 3) / 4; ++i) w[i] = 0;
#pragma unroll
    for (int i = 0; i < GPB; ++i)
      if (i < n) w[i / 4] |= uint32_t(__ldg(p + i)) << (8 * (i % 4));
  }
  __device__ __forceinline__ uint32_t scale_code(int g) const { return (sc[g / 4] >> (8 * (g % 4))) & 255u; }
  __device__ __forceinline__ uint32_t zero_code(int g) const { return (zc[g / 4] >> (8 * (g % 4))) & 255u; }
};

// The 16 lane words (plus the 3-bit high planes) of one code block of one row.
template <int BITS>
struct Codes {
  uint32_t lo[16];
  uint32_t hi[BITS == 3 ? 8 : 1];
  __device__ __forceinline__ void load(const uint8_t* p) { packed::load_block<BITS>(p, lo, hi); }
  __device__ __forceinline__ uint32_t code(int i, int l) const { return packed::lane_code<BITS>(lo, hi, i, l); }
  // Slots i and i + H of lane l as half2(q_i, q_{i+H}): the codes sit 16 bits apart in the word.
  __device__ __forceinline__ __half2 code_pair(int i, int l) const {
    constexpr uint32_t mask = BITS == 2 ? 0x00030003u : 0x000F000Fu;
    const uint32_t h = ((lo[l] >> (BITS * i)) & mask) | 0x64006400u;  // 1024 + q in each half
    return __hsub2(*reinterpret_cast<const __half2*>(&h), __half2(__ushort_as_half(0x6400), __ushort_as_half(0x6400)));
  }
};

// ŝ·(Σ q·x − ẑ·Σ x) for one group, added to acc (ŝ, ẑ exactly as quant::dequant_scale/zero).
__device__ __forceinline__ float group_term(const packed::MetaCache& m, float unshift, uint32_t sc, uint32_t zc,
                                            float dot, float xsum, float acc) {
  const float s = __fmul_rn(packed::dequant_meta(m.smin, m.sstep, sc), unshift);
  const float z = packed::dequant_meta(m.zmin, m.zstep, zc);
  return fmaf(s, dot - z * xsum, acc);
}

// The job's input value k: x[k], or silu(gate[k])·x[k] for a gated job (the SwiGLU of w1 and w3).
__device__ __forceinline__ float input(const MatvecJob& job, int k) {
  const float v = __ldg(job.x + k);
  if (job.silu_gate == nullptr) return v;
  const float g = __ldg(job.silu_gate + k);
  return g / (1.0f + expf(-g)) * v;
}
// An upper bound of |input(job, k)| without the exponential: |silu(g)| <= max(|g|, 0.2785).
__device__ __forceinline__ float input_bound(const MatvecJob& job, int k) {
  const float v = fabsf(__ldg(job.x + k));
  if (job.silu_gate == nullptr) return v;
  return fmaxf(fabsf(__ldg(job.silu_gate + k)), 0.2785f) * v;
}

template <int BITS, int GROUP>
__global__ void __launch_bounds__(kRows* kMaxSplits) gemv_kernel(const __grid_constant__ MatvecLaunch L,
                                                                  const int s1, const int s2, const int s3,
                                                                  const int s4, const int s5, const int s6,
                                                                  const int s7, const int region) {
  extern __shared__ __align__(16) uint8_t smem_raw[];
  constexpr int BV = block_values<BITS>(), BB = block_bytes<BITS>();
  constexpr int GPB = BV / GROUP, SPG = GROUP / 16, SLOTS = BV / 16, H = SLOTS / 2;
  constexpr bool HALF = half_path<BITS>();

  const int starts[kMaxJobs] = {0, s1, s2, s3, s4, s5, s6, s7};
  int j = 0;
#pragma unroll
  for (int i = 1; i < kMaxJobs; ++i)
    if (i < L.n_jobs && int(blockIdx.x) >= starts[i]) j = i;
  const MatvecJob& job = L.jobs[j];
  const PackedMatrix w = packed::job_matrix(job, job.w, job.w_off, job.which);
  const int lane = threadIdx.x % 32, split = threadIdx.x / 32, splits = blockDim.x / 32;
  const int r0 = (int(blockIdx.x) - starts[j]) * kRows;
  const int row = r0 + lane;
  const bool live = row < w.rows;
  const int K = w.cols;
  const int nb = (K + BV - 1) / BV;
  const int b0 = split * nb / splits, b1 = (split + 1) * nb / splits, nblk = b1 - b0;
  const int gpr = K / GROUP;
  const int k0 = b0 * BV;

  // Warp region: the input slice (HALF: fp16 pairs), then its group sums.
  float* xs = reinterpret_cast<float*>(smem_raw + size_t(split) * size_t(region));
  __half2* xh = reinterpret_cast<__half2*>(xs);
  float* xsum = xs + (HALF ? nblk * BV / 2 : nblk * BV);

  // The first code block's loads fly while the input slice is staged.
  const int64_t rb = int64_t(min(row, w.rows - 1)) * w.row_bytes;
  Codes<BITS> cur, nxt;
  if (live && nblk > 0) cur.load(w.codes + rb + int64_t(b0) * BB);

  // The input slice, zero-padded to whole code blocks, and its group sums.
  float unscale = 1.0f;
  if constexpr (HALF) {
    // e bounds the slice's largest |x| so that a slot's 8-term fp16 sums (|q| <= 15) stay far
    // below fp16's 65504: scaled inputs are < 128.
    float mx = 0.0f;
    for (int k = lane; k < nblk * BV; k += 32)
      if (k0 + k < K) mx = fmaxf(mx, input_bound(job, k0 + k));
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    int e = 0;
    if (mx > 0.0f) frexpf(mx / 128.0f, &e);  // mx·2^−e < 128
    e = max(-24, min(e, 24));
    const float scale = ldexpf(1.0f, -e);
    unscale = ldexpf(1.0f, e);
    for (int p = lane; p < nblk * BV / 2; p += 32) {
      const int b = p / (BV / 2), r = p % (BV / 2), i = r / 16, l = r % 16;
      const int ka = k0 + b * BV + 16 * i + l, kb = ka + 16 * H;
      const float va = ka < K ? input(job, ka) * scale : 0.0f, vb = kb < K ? input(job, kb) * scale : 0.0f;
      xh[p] = __floats2half2_rn(va, vb);
    }
    __syncwarp();
    for (int g = lane; g < nblk * GPB; g += 32) {  // Σ of the rounded inputs of group g
      const int b = g / GPB, gi = g % GPB;
      float s = 0.0f;
      for (int si = 0; si < SPG; ++si) {
        const int slot = gi * SPG + si, i = slot % H;
        const __half2* p = xh + b * (BV / 2) + i * 16;
        for (int l = 0; l < 16; ++l) s += slot < H ? __low2float(p[l]) : __high2float(p[l]);
      }
      xsum[g] = s;
    }
  } else {
    const int n = nblk * BV;
    for (int k = lane; k < n; k += 32) xs[k] = k0 + k < K ? input(job, k0 + k) : 0.0f;
    __syncwarp();
    for (int g = lane; g < nblk * GPB; g += 32) {
      const float* p = xs + g * GROUP;
      float s = 0.0f;
#pragma unroll
      for (int k = 0; k < GROUP; ++k) s += p[k];
      xsum[g] = s;
    }
  }

  float acc = 0.0f;
  const int64_t rg = int64_t(min(row, w.rows - 1)) * gpr;
  // Vector loads of a block's group codes need GPB-aligned addresses; then no block straddles a
  // meta group either, so the meta pair is looked up once per block (checked, not assumed).
  const bool vec = K % BV == 0 &&
                   ((reinterpret_cast<uintptr_t>(w.scale_codes) | reinterpret_cast<uintptr_t>(w.zero_codes)) %
                    (GPB < 16 ? GPB : 16)) == 0;
  const bool block_meta = vec && w.meta_group % GPB == 0;
  packed::MetaCache m;
  GroupCodes<GPB> gc, gn;
  if (nblk > 0 && live) gc.load(w.scale_codes + rg + int64_t(b0) * GPB, w.zero_codes + rg + int64_t(b0) * GPB, vec,
                                min(GPB, gpr - b0 * GPB));
  __syncwarp();
  for (int b = b0; b < b1 && live; ++b) {
    if (b + 1 < b1) {  // the next block's loads are in flight while this one is used
      nxt.load(w.codes + rb + int64_t(b + 1) * BB);
      gn.load(w.scale_codes + rg + int64_t(b + 1) * GPB, w.zero_codes + rg + int64_t(b + 1) * GPB, vec,
              min(GPB, gpr - (b + 1) * GPB));
    }
    const int lb = b - b0;                    // block index in the warp's slice
    const int tg = int(rg) + b * GPB;         // row-major index of the block's first group
    const int ng = min(GPB, gpr - b * GPB);   // groups of the block inside the row
    float gd[GPB];
#pragma unroll
    for (int g = 0; g < GPB; ++g) gd[g] = 0.0f;
    if constexpr (HALF) {
      const __half2* xb = xh + lb * (BV / 2);
#pragma unroll
      for (int i = 0; i < H; ++i) {  // slots i and i + H together
        __half2 a0 = __float2half2_rn(0.0f), a1 = a0;
#pragma unroll
        for (int l4 = 0; l4 < 4; ++l4) {
          const uint4 v = *reinterpret_cast<const uint4*>(xb + 16 * i + 4 * l4);
          a0 = __hfma2(cur.code_pair(i, 4 * l4 + 0), *reinterpret_cast<const __half2*>(&v.x), a0);
          a1 = __hfma2(cur.code_pair(i, 4 * l4 + 1), *reinterpret_cast<const __half2*>(&v.y), a1);
          a0 = __hfma2(cur.code_pair(i, 4 * l4 + 2), *reinterpret_cast<const __half2*>(&v.z), a0);
          a1 = __hfma2(cur.code_pair(i, 4 * l4 + 3), *reinterpret_cast<const __half2*>(&v.w), a1);
        }
        const float2 f0 = __half22float2(a0), f1 = __half22float2(a1);
        gd[i / SPG] += f0.x + f1.x;
        gd[(i + H) / SPG] += f0.y + f1.y;
      }
    } else {
      const float* xb = xs + lb * BV;
#pragma unroll
      for (int i = 0; i < SLOTS; ++i) {
        float d[4] = {0, 0, 0, 0};
#pragma unroll
        for (int l4 = 0; l4 < 4; ++l4) {
          const float4 xv = *reinterpret_cast<const float4*>(xb + 16 * i + 4 * l4);
          d[0] = fmaf(code_float(cur.code(i, 4 * l4 + 0)), xv.x, d[0]);
          d[1] = fmaf(code_float(cur.code(i, 4 * l4 + 1)), xv.y, d[1]);
          d[2] = fmaf(code_float(cur.code(i, 4 * l4 + 2)), xv.z, d[2]);
          d[3] = fmaf(code_float(cur.code(i, 4 * l4 + 3)), xv.w, d[3]);
        }
        gd[i / SPG] += (d[0] + d[1]) + (d[2] + d[3]);
      }
    }
    if (block_meta) m.at(w, tg);
#pragma unroll
    for (int gi = 0; gi < GPB; ++gi) {
      if (gi >= ng) break;
      if (!block_meta) m.at(w, tg + gi);
      acc = group_term(m, w.unshift, gc.scale_code(gi), gc.zero_code(gi), gd[gi], xsum[lb * GPB + gi], acc);
    }
    cur = nxt;
    gc = gn;
  }
  acc *= unscale;

  // Fixed-order sum of the splits' partials (deterministic), then the epilogue.
  float a = acc;
  if (splits > 1) {
    __syncthreads();  // every warp is done with its region: the reduction reuses the memory
    float* red = reinterpret_cast<float*>(smem_raw);  // [splits][kRows]
    red[split * kRows + lane] = acc;
    __syncthreads();
    if (split != 0) return;
    a = 0.0f;
    for (int s = 0; s < splits; ++s) a += red[s * kRows + lane];
  }
  if (!live) return;
  float* out = job.y + row;
  if (job.mode == MatvecMode::Accumulate) *out += a;
  else *out = a;
}

// Shared memory the kernel may use (set once per instantiation; a launch asks for what it needs).
constexpr int kMaxSmem = 160 * 1024;

template <int BITS, int GROUP>
void set_smem() {
  const cudaError_t e = cudaFuncSetAttribute(gemv_kernel<BITS, GROUP>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem);
  if (e != cudaSuccess) fail("configuring the packed decode kernels: ", cudaGetErrorString(e));
}

template <int BITS, int GROUP>
void launch(const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  constexpr int BV = block_values<BITS>(), GPB = BV / GROUP;
  int nb = 0;
  for (int j = 0; j < L.n_jobs; ++j) nb = std::max(nb, (L.jobs[j].w.cols + BV - 1) / BV);
  // Enough warps to cover the machine about three times (132 SMs on an H100), with at least two
  // code blocks per warp (the double buffer). Measured alternatives, H100, paper-2bit decode: this
  // 95.8 tok/s; one warp per 32 rows with a 3-stage cp.async pipeline of coalesced code copies
  // 77.6 (each warp then stages the whole input before its first block is used).
  int splits = 2;
  while (splits < kMaxSplits && tiles * splits < 132 * 24 && splits * 4 <= nb) splits *= 2;
  const int per = (nb + splits - 1) / splits;  // code blocks of the longest slice
  const int words = half_path<BITS>() ? per * BV / 2 : per * BV;
  const int region = (words + per * GPB + 3) / 4 * 16;  // bytes, a 16-byte multiple: slices stay aligned
  size_t smem = size_t(splits) * size_t(region);
  smem = std::max(smem, sizeof(float) * size_t(splits) * kRows);
  if (smem > size_t(kMaxSmem)) fail("packed decode kernel: input of ", nb * BV, " values is too long");
  gemv_kernel<BITS, GROUP><<<unsigned(tiles), unsigned(kRows * splits), smem, stream>>>(
      L, starts[1], starts[2], starts[3], starts[4], starts[5], starts[6], starts[7], region);
}

template <int BITS>
void launch_group(int group, const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  switch (group) {
    case 16: launch<BITS, 16>(L, starts, tiles, stream); return;
    case 32: launch<BITS, 32>(L, starts, tiles, stream); return;
    case 64: launch<BITS, 64>(L, starts, tiles, stream); return;
    case 128: launch<BITS, 128>(L, starts, tiles, stream); return;
  }
  fail("packed weights with group size ", group, " are not supported on the CUDA backend");
}

template <int BITS>
void init_bits() {
  set_smem<BITS, 16>(), set_smem<BITS, 32>(), set_smem<BITS, 64>(), set_smem<BITS, 128>();
}

}  // namespace lm::cuda::gemv
