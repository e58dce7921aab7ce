// 2-bit instantiations of the packed matvec kernels (packed_gemv.cuh: one token;
// packed_matvec_impl.cuh: token tiles).
#include "cuda/packed_gemv.cuh"
#include "cuda/packed_matvec_impl.cuh"

namespace lm::cuda {

template <>
void launch_bits<2>(int group, const MatvecLaunch& L, const int* starts, int tiles, cudaStream_t stream) {
  if (L.T == 1 && L.jobs[0].mode != MatvecMode::SwiGlu && decode_kernel_enabled())
    gemv::launch_group<2>(group, L, starts, tiles, stream);
  else detail::launch_group<2>(group, L, starts, tiles, stream);
}

template <>
void init_bits_smem<2>() {
  detail::init_bits<2>();
  gemv::init_bits<2>();
}

}  // namespace lm::cuda
