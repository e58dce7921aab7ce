// Fused dequantize + matrix-vector products on HQQ-packed weights (quant/packed_tensor.h) on the GPU.
//
// One launch runs up to kMaxJobs products that share the bit width and the token count, e.g. the
// gate/up (w1/w3) products of every expert a token was routed to. A job's matrix is either given
// directly (dense attention weights) or found on the device: base = table[table_offset + ids[id]]
// plus fixed offsets, so routed experts need no host round trip and a decode step can be replayed
// as a CUDA graph (cuda/moe.cu).
//
// Kernel shape (packed_matvec.cu): a block owns 32 output rows (one per lane) and splits the input
// dimension over its 8 warps; all lanes of a warp read the same input values (shared-memory
// broadcast), each lane decodes its own row's 64- or 96-byte code blocks, and the 8 partial sums are
// added in a fixed order, so results are deterministic (no atomics).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace lm::cuda {

// A packed matrix in device memory (mirror of quant::PackedView).
struct PackedMatrix {
  const uint8_t* codes = nullptr;
  const uint8_t* scale_codes = nullptr;
  const uint8_t* zero_codes = nullptr;
  const uint16_t* scale_meta = nullptr;  // fp16 (min, step) pairs
  const uint16_t* zero_meta = nullptr;
  int rows = 0, cols = 0;
  int bits = 0, group = 0, meta_group = 0;
  int row_bytes = 0;
  float unshift = 1.0f;  // 2^-scale_shift
};

// Byte offsets of a matrix's five arrays inside an expert's byte range (identical for all experts).
struct MatrixOffsets {
  uint64_t codes = 0, scale_codes = 0, zero_codes = 0, scale_meta = 0, zero_meta = 0;
};

enum class MatvecMode : int { Store = 0, Accumulate = 1, SwiGlu = 2 };

struct MatvecJob {
  PackedMatrix w;     // direct matrix, or the shape/settings when indirect
  PackedMatrix up;    // SwiGlu: the up projection (w3), same shape and settings as w
  // Indirect: the matrix lives at table[table_offset + ids[id_index]] + offsets (experts).
  const uint8_t* const* table = nullptr;
  const int32_t* ids = nullptr;
  int id_index = 0;
  int table_offset = 0;
  MatrixOffsets w_off, up_off;
  // Indirect: scale unshift of each expert matrix, unshifts[(table_offset + id) * 3 + which]
  // (which: 0 = w1, 1 = w2, 2 = w3); the scale exponent is chosen per tensor at quantization.
  const float* unshifts = nullptr;
  int which = 0, which_up = 0;
  const float* x = nullptr;  // [T, ldx]
  int64_t ldx = 0;
  // One-token launches only (packed_gemv.cuh): the input is silu(silu_gate) ⊙ x, so an expert's
  // w1 and w3 run as two plain jobs and w2 applies the SwiGLU as it reads its input.
  const float* silu_gate = nullptr;
  float* y = nullptr;        // [T, ldy]
  int64_t ldy = 0;
  MatvecMode mode = MatvecMode::Store;  // SwiGlu: y = silu(x·wᵀ) ⊙ (x·upᵀ)
};

constexpr int kMaxJobs = 8;

struct MatvecLaunch {
  MatvecJob jobs[kMaxJobs];
  int n_jobs = 0;
  int T = 1;  // tokens: rows of every job's x and y
};

// Queues the products on `stream`. All jobs must share bits and group (checked; lm::Error).
void packed_matvec(const MatvecLaunch& launch, cudaStream_t stream);

// Sets the kernels' shared-memory limits; call once per device before the first launch.
void packed_matvec_init();

// Whether one-token launches of plain (not SwiGlu) jobs run the decode kernel (packed_gemv.cuh),
// which also takes silu_gate; LOCALMOE_CUDA_DECODE_KERNEL=tile turns it off to compare kernels.
bool decode_kernel_enabled();

}  // namespace lm::cuda
