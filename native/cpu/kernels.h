// CPU kernel dispatch: picks the widest kernel set the *running* CPU supports (never the build
// machine's ISA: no -march=native in the library). LOCALMOE_CPU_KERNELS=scalar|avx2|avx512 forces a
// narrower set (for benchmarks and for testing the fallbacks on a wide CPU).
#pragma once

#include "cpu/kernel_abi.h"

namespace lm::cpu {

enum class Isa { Scalar, Avx2, Avx512 };

struct Kernels {
  Isa isa;
  const char* name;  // "scalar" | "avx2" | "avx512"
  MatmulFn matmul;   // see MatmulArgs
  DotFn dot;         // attention scores
  AxpyFn axpy;       // attention values
};

// Whether this CPU (and OS) can run `isa`'s kernels.
bool isa_supported(Isa isa);
// The kernel set for `isa`; the caller checks isa_supported first (aborts otherwise).
const Kernels& kernels_for(Isa isa);
// The kernels the engine uses: the best supported, or LOCALMOE_CPU_KERNELS when set and supported.
const Kernels& active_kernels();

}  // namespace lm::cpu
