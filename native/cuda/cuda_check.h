// CUDA runtime errors as lm::Error, in words a user can act on (one definition for the backend
// and the expert cache). `oom_hint` finishes the out-of-memory message.
#pragma once

#include <cuda_runtime.h>

#include "common/check.h"

namespace lm::cuda {

inline void check(cudaError_t err, const char* what,
                  const char* oom_hint = "use a smaller model or context, a smaller VRAM budget, or the CPU device") {
  if (err == cudaSuccess) return;
  if (err == cudaErrorMemoryAllocation) fail("out of GPU memory while ", what, ": ", oom_hint);
  fail("CUDA error while ", what, ": ", cudaGetErrorString(err));
}

}  // namespace lm::cuda
