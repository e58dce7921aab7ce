// Fused dequantize + GEMV / small GEMM on packed HQQ weights (CPU), with runtime ISA dispatch.
//
//   y[r] = Σ_k Ŵ[r, k] · x[k],  Ŵ = ŝ · (Q − ẑ)   computed as   Σ_g ŝ_g Σ_{k∈g} Q_k x_k − Σ_g ŝ_g ẑ_g Σ_{k∈g} x_k
// so Ŵ is never materialised for batch 1 (decode, memory-bound: only the packed bytes are read).
// For a few vectors at once (prefill) each row is dequantized once into a cache-resident fp32 buffer
// and dotted with every vector, so the decode cost is shared.
// Row ranges let a caller's thread pool split the rows; every function is thread-safe.
#pragma once

#include <cstdint>

#include "gemv_abi.h"
#include "packed_tensor.h"

namespace lm::quant {

enum class Isa { Scalar, Avx2, Avx512 };

const char* isa_name(Isa isa);
// Kernels for `isa`, or nullptr when this CPU (or this build) cannot run them.
const RowKernels* row_kernels(Isa isa);
// Best ISA this CPU supports; the environment variable LOCALMOE_QUANT_ISA=scalar|avx2|avx512 lowers
// it (for tests and benchmarks; a value the CPU cannot run is ignored).
Isa best_isa();

// y[r] (+)= Σ_k Ŵ[r, k]·x[k] for r in [r0, r1) (y indexed by absolute row). kernels == nullptr:
// best_isa()'s. accumulate: add to y instead of overwriting it.
void gemv(const PackedView& w, const float* x, float* y, int64_t r0, int64_t r1,
          const RowKernels* kernels = nullptr, bool accumulate = false);

// Y[b·ldy + r] (+)= Σ_k Ŵ[r, k] · X[b·ldx + k] for b in [0, batch), r in [r0, r1).
void gemm_small(const PackedView& w, const float* X, int64_t ldx, int batch, float* Y, int64_t ldy,
                int64_t r0, int64_t r1, const RowKernels* kernels = nullptr, bool accumulate = false);

// The backend-facing entry (mirrors native/cpu/kernel_abi.h's MatmulArgs): y[t·ldy + n] (+)=
// Σ_k Ŵ[n, k]·x[t·ldx + k] for n in [n0, n1), t in [0, T). T == 1 takes the fused GEMV (decode);
// with a kernel set that has the fast path (AVX-512), T <= kMaxFusedTokens (8) does too, decoding
// each row's codes once for all T tokens, each token's result bit-identical to a T == 1 call;
// larger T (prefill) takes the dequantize-once small GEMM. A thread pool splits [0, rows) into
// row ranges; every row's result is independent of the split.
struct PackedMatmulArgs {
  const PackedView* w = nullptr;
  const float* x = nullptr;
  int64_t ldx = 0;
  int T = 1;
  float* y = nullptr;
  int64_t ldy = 0;
  bool accumulate = false;
  int64_t n0 = 0, n1 = 0;
};
void packed_matmul(const PackedMatmulArgs& a, const RowKernels* kernels = nullptr);

// Ŵ[row, :] (bit-identical to quant::dequantize for every ISA). out: [cols].
void dequantize_row(const PackedView& w, int64_t row, float* out, const RowKernels* kernels = nullptr);

// The answer key: unpacks with the scalar pack.cpp decoder and sums Ŵ·x in double, row by row.
// y: [rows]. Also returns Σ_k |ŝ·Q_k·x_k| + Σ_g |ŝ·ẑ|·Σ_k|x_k| per row in `abs_terms` (may be null),
// the magnitude the fused kernel's rounding error is proportional to (see the GEMV test).
void gemv_reference(const PackedView& w, const float* x, double* y, double* abs_terms);

}  // namespace lm::quant
