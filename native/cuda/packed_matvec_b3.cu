// 3-bit instantiations of the packed matvec kernels (see packed_matvec_impl.cuh).
#include "cuda/packed_matvec_impl.cuh"

namespace lm::cuda {

template <>
void launch_bits<3>(int group, const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  detail::launch_group<3>(group, L, starts, tiles, stream);
}

template <>
void init_bits_smem<3>() {
  detail::init_bits<3>();
}

}  // namespace lm::cuda
