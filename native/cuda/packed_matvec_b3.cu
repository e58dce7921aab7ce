// 3-bit instantiations of the packed matvec kernels (packed_gemv.cuh: one token;
// packed_matvec_impl.cuh: token tiles).
#include "cuda/packed_gemv.cuh"
#include "cuda/packed_matvec_impl.cuh"

namespace lm::cuda {

template <>
void launch_bits<3>(int group, const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  if (L.T == 1 && L.jobs[0].mode != MatvecMode::SwiGlu && decode_kernel_enabled())
    gemv::launch_group<3>(group, L, starts, tiles, stream);
  else detail::launch_group<3>(group, L, starts, tiles, stream);
}

template <>
void init_bits_smem<3>() {
  detail::init_bits<3>();
  gemv::init_bits<3>();
}

}  // namespace lm::cuda
