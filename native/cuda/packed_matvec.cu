// Fused dequantize + matrix-vector kernels on HQQ-packed weights; see packed_matvec.h.
//
// Per row r and group g:  Σ_k Ŵ[r,k]·x_k = ŝ_g·(Σ_k Q_k·x_k − ẑ_g·Σ_k x_k)  (Ŵ = ŝ(Q − ẑ)),
// so the inner loop is one integer extract, one int→float and one FMA per weight, and Σ_k x_k per
// group is computed once per block in shared memory for all 32 rows.
//
// Code layout (quant/pack.h): a row is a run of blocks of 16 32-bit lanes; slot i of lane w holds
// the code of input 16·i + w of the block. 2-bit: 16 slots per lane (256 inputs, 64 bytes); 4-bit:
// 8 slots (128 inputs, 64 bytes); 3-bit: a 2-bit block plus 16 uint16 carrying the third bit of
// each slot (256 inputs, 96 bytes). A group of G inputs is G/16 consecutive slots of all 16 lanes.
//
// One token (decode): packed_gemv.cuh. Several tokens: packed_matvec_impl.cuh, whose inputs are
// staged in shared memory KC values at a time for 8 tokens, so a weight block read from HBM is used
// for 8 tokens.
#include "cuda/packed_matvec.h"

#include <cstdlib>
#include <cstring>

#include "common/check.h"
#include "cuda/packed_gemm.h"
#include "cuda/packed_matvec_impl.cuh"

namespace lm::cuda {

bool decode_kernel_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("LOCALMOE_CUDA_DECODE_KERNEL");
    return v == nullptr || std::strcmp(v, "tile") != 0;
  }();
  return on;
}

void packed_matvec_init() {
  init_bits_smem<2>();
  init_bits_smem<3>();
  init_bits_smem<4>();
}

void packed_matvec(const MatvecLaunch& L, cudaStream_t stream) {
  LM_ASSERT(L.n_jobs >= 1 && L.n_jobs <= kMaxJobs && L.T >= 1, "bad packed matvec launch");
  // Many tokens: the tensor-core path (packed_gemm.h).
  if (L.T >= packed_gemm_min_tokens() && packed_gemm_supported(L, stream)) return packed_gemm(L, stream);
  int starts[kMaxJobs] = {};
  int tiles = 0;
  const int bits = L.jobs[0].w.bits, group = L.jobs[0].w.group;
  for (int j = 0; j < L.n_jobs; ++j) {
    const MatvecJob& job = L.jobs[j];
    LM_ASSERT(job.w.bits == bits && job.w.group == group, "jobs of one packed launch must share bits and group");
    LM_ASSERT(job.mode != MatvecMode::SwiGlu || (job.up.rows == job.w.rows && job.up.cols == job.w.cols &&
                                                 job.up.bits == bits && job.up.group == group),
              "SwiGLU pair shapes differ");
    LM_ASSERT((job.mode == MatvecMode::SwiGlu) == (L.jobs[0].mode == MatvecMode::SwiGlu),
              "SwiGLU and plain jobs cannot share a packed launch");
    LM_ASSERT(job.silu_gate == nullptr || (L.T == 1 && job.mode != MatvecMode::SwiGlu && decode_kernel_enabled()),
              "gated inputs need the one-token decode kernel");
    starts[j] = tiles;
    tiles += (job.w.rows + detail::kRows - 1) / detail::kRows;
  }
  for (int j = L.n_jobs; j < kMaxJobs; ++j) starts[j] = tiles;
  switch (bits) {
    case 2: launch_bits<2>(group, L, starts, tiles, stream); break;
    case 3: launch_bits<3>(group, L, starts, tiles, stream); break;
    case 4: launch_bits<4>(group, L, starts, tiles, stream); break;
    default: fail("packed weights with ", bits, " bits are not supported on the CUDA backend");
  }
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail("packed matmul launch failed: ", cudaGetErrorString(e));
}

}  // namespace lm::cuda
