// 2-bit instantiations of the packed matvec kernels (see packed_matvec_impl.cuh).
#include "cuda/packed_matvec_impl.cuh"

namespace lm::cuda {

template <>
void launch_bits<2>(int group, const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  detail::launch_group<2>(group, L, starts, tiles, stream);
}

template <>
void init_bits_smem<2>() {
  detail::init_bits<2>();
}

}  // namespace lm::cuda
