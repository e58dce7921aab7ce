// 2-bit instantiations of the tensor-core packed matmul (see packed_gemm_impl.cuh).
#include "cuda/packed_gemm_impl.cuh"

namespace lm::cuda {

template <>
void packed_gemm_bits<2>(const gemm::Args& a, int bm, dim3 grid, cudaStream_t stream) {
  gemm::run_bits<2>(a, bm, grid, stream);
}

}  // namespace lm::cuda
