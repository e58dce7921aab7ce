// Device-side pieces of the HQQ packed layout (quant/packed_tensor.h) shared by the packed matmul
// kernels: code-block geometry, code extraction, scale/zero dequantisation, and resolving an
// "indirect" job's matrix from the device expert table.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/packed_matvec.h"

namespace lm::cuda::packed {

// A code block: 16 lanes of 32-bit words; 2-bit 256 values (64 B), 3-bit 256 (96 B: a 2-bit block
// plus 16 uint16 high bits), 4-bit 128 (64 B). Slot i of lane l holds input 16·i + l of the block.
template <int BITS> __host__ __device__ constexpr int block_values() { return BITS == 4 ? 128 : 256; }
template <int BITS> __host__ __device__ constexpr int block_bytes() { return BITS == 3 ? 96 : 64; }

__device__ __forceinline__ float half_bits(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// 2^23 + q as a float, minus 2^23: an exact int -> float (q < 2^23) without the slow conversion unit.
__device__ __forceinline__ float code_float(uint32_t q) { return __uint_as_float(0x4B000000u | q) - 8388608.0f; }

// Code of slot i, lane l, from a block's 16 lane words (and, for 3-bit, its 8 high-bit words).
template <int BITS>
__device__ __forceinline__ uint32_t lane_code(const uint32_t* lo, const uint32_t* hi, int i, int l) {
  if constexpr (BITS == 2) return (lo[l] >> (2 * i)) & 3u;
  else if constexpr (BITS == 4) return (lo[l] >> (4 * i)) & 15u;
  else return ((lo[l] >> (2 * i)) & 3u) | (((hi[l / 2] >> (16 * (l % 2) + i)) & 1u) << 2);
}

// Loads one code block into lane words (16-byte loads through the read-only path).
template <int BITS>
__device__ __forceinline__ void load_block(const uint8_t* p, uint32_t* lo, uint32_t* hi) {
  const uint4* v = reinterpret_cast<const uint4*>(p);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint4 q = __ldg(v + i);
    lo[4 * i] = q.x, lo[4 * i + 1] = q.y, lo[4 * i + 2] = q.z, lo[4 * i + 3] = q.w;
  }
  if constexpr (BITS == 3) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const uint4 q = __ldg(v + 4 + i);
      hi[4 * i] = q.x, hi[4 * i + 1] = q.y, hi[4 * i + 2] = q.z, hi[4 * i + 3] = q.w;
    }
  }
}

// ŝ = (min + step·c)·2^−shift and ẑ = min + step·c, exactly as quant::dequant_scale / dequant_zero:
// a separate multiply and add (no fused rounding), then the exact power-of-two unshift.
__device__ __forceinline__ float dequant_meta(float mn, float step, uint32_t code) {
  return __fadd_rn(mn, __fmul_rn(step, code_float(code)));
}

// The fp16 (min, step) pairs of a lane's current meta group, reloaded only when it changes: a
// lane walks its row's groups in order, and a meta group spans 128 or 256 of them.
struct MetaCache {
  int lo = 1, hi = 0;  // groups [lo, hi) share the loaded pair (empty at first)
  float smin = 0, sstep = 0, zmin = 0, zstep = 0;
  // t: row-major group index (< 2^31 for any matrix the format stores). The division runs once
  // per meta group, not per group: a 64-bit divide costs more than a group's 16 multiply-adds.
  __device__ __forceinline__ void at(const PackedMatrix& w, int t) {
    if (t >= lo && t < hi) return;
    const int m = t / w.meta_group;
    lo = m * w.meta_group;
    hi = lo + w.meta_group;
    smin = half_bits(__ldg(w.scale_meta + 2 * m)), sstep = half_bits(__ldg(w.scale_meta + 2 * m + 1));
    zmin = half_bits(__ldg(w.zero_meta + 2 * m)), zstep = half_bits(__ldg(w.zero_meta + 2 * m + 1));
  }
};

// The matrix an indirect job reads: expert (table_offset + ids[id_index])'s range plus the fixed
// offsets of matrix `which` (0 = w1, 1 = w2, 2 = w3). A direct job's matrix is returned as given.
__device__ __forceinline__ PackedMatrix job_matrix(const MatvecJob& job, const PackedMatrix& shape,
                                                   const MatrixOffsets& off, int which) {
  if (job.table == nullptr) return shape;
  const int slot = job.table_offset + job.ids[job.id_index];
  const uint8_t* base = job.table[slot];
  PackedMatrix w = shape;
  w.unshift = job.unshifts[slot * 3 + which];
  w.codes = base + off.codes;
  w.scale_codes = base + off.scale_codes;
  w.zero_codes = base + off.zero_codes;
  w.scale_meta = reinterpret_cast<const uint16_t*>(base + off.scale_meta);
  w.zero_meta = reinterpret_cast<const uint16_t*>(base + off.zero_meta);
  return w;
}

}  // namespace lm::cuda::packed
