// Tensor-core path of the packed matmul for many tokens (prefill): fused dequantize + fp16
// mma.sync m16n8k16 with fp32 accumulation, for the same MatvecLaunch jobs as packed_matvec.h
// (direct or indirect matrices; Store, Accumulate, SwiGlu pairs). packed_matvec() hands a launch
// here when T >= packed_gemm_min_tokens(); see packed_gemm_impl.cuh for the kernel.
#pragma once

#include <cuda_runtime.h>

#include "cuda/packed_matvec.h"

namespace lm::cuda {

// Smallest token count that takes the tensor-core path (LOCALMOE_TC_MIN_T, default 16; never 1).
int packed_gemm_min_tokens();
// Overrides the threshold for this process (tests; <= 0 restores the default).
void set_packed_gemm_min_tokens(int tokens);

// Whether the launch can run here: bits 2/3/4, group 16..128, T >= 2, stream not capturing.
bool packed_gemm_supported(const MatvecLaunch& launch, cudaStream_t stream);

// Queues the products on `stream` (jobs run one after another). Uses a per-stream device workspace
// (fp16 inputs, per-group scale tables, split-K partials) that grows on demand, synchronizing the
// stream once when it grows.
void packed_gemm(const MatvecLaunch& launch, cudaStream_t stream);

}  // namespace lm::cuda
