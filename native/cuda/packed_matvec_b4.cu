// 4-bit instantiations of the packed matvec kernels (see packed_matvec_impl.cuh).
#include "cuda/packed_matvec_impl.cuh"

namespace lm::cuda {

template <>
void launch_bits<4>(int group, const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  detail::launch_group<4>(group, L, starts, tiles, stream);
}

template <>
void init_bits_smem<4>() {
  detail::init_bits<4>();
}

}  // namespace lm::cuda
