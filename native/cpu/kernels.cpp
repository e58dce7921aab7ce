#include "cpu/kernels.h"

#include <cstdlib>
#include <cstring>

#include "common/check.h"
#include "common/dtype.h"

namespace lm::cpu {

static_assert(int(DType::F32) == kF32 && int(DType::F16) == kF16 && int(DType::BF16) == kBF16,
              "kernel_abi.h dtype codes must equal lm::DType");

bool isa_supported(Isa isa) {
#if defined(LOCALMOE_HAVE_X86_KERNELS)
  // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == Isa::Scalar;
#endif
}

const Kernels& kernels_for(Isa isa) {
  static const Kernels scalar{Isa::Scalar, "scalar", matmul_scalar, dot_scalar, axpy_scalar};
#if defined(LOCALMOE_HAVE_X86_KERNELS)
  static const Kernels avx2{Isa::Avx2, "avx2", matmul_avx2, dot_avx2, axpy_avx2};
  static const Kernels avx512{Isa::Avx512, "avx512", matmul_avx512, dot_avx512, axpy_avx512};
#endif
  LM_ASSERT(isa_supported(isa), "kernel set not supported by this CPU");
  switch (isa) {
    case Isa::Scalar: return scalar;
#if defined(LOCALMOE_HAVE_X86_KERNELS)
    case Isa::Avx2: return avx2;
    case Isa::Avx512: return avx512;
#else
    default: break;
#endif
  }
  return scalar;
}

const Kernels& active_kernels() {
  // A pointer, not a reference: GCC 13's -Wdangling-reference misreads a reference bound to a
  // lambda's returned reference as a temporary.
  static const Kernels* const chosen = []() -> const Kernels* {
    Isa best = Isa::Scalar;
#if defined(LOCALMOE_HAVE_X86_KERNELS)
    if (isa_supported(Isa::Avx512)) best = Isa::Avx512;
    else if (isa_supported(Isa::Avx2)) best = Isa::Avx2;
#endif
    if (const char* env = std::getenv("LOCALMOE_CPU_KERNELS")) {
      Isa want = best;
      if (std::strcmp(env, "scalar") == 0) want = Isa::Scalar;
      else if (std::strcmp(env, "avx2") == 0) want = Isa::Avx2;
      else if (std::strcmp(env, "avx512") == 0) want = Isa::Avx512;
      // Only narrower than (or equal to) what the CPU supports.
      if (int(want) <= int(best)) best = want;
    }
    return &kernels_for(best);
  }();
  return *chosen;
}

}  // namespace lm::cpu
