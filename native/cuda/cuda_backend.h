// The CUDA implementation of lm::Backend (backend/backend.h), behind a plain C++ header so the rest
// of the engine compiles with the host compiler and never sees a CUDA type.
//
// First version: every op of the forward pass on device memory, fp32 activations, weights in their
// stored dtype (bf16/fp16/fp32) uploaded once at load. Decode matmuls are warp-per-row GEMVs with
// 16-byte loads (memory-bound at batch 1); prefill reuses each weight row for a tile of tokens.
// The only host synchronisations per layer are the router logits (routing runs on the host) and
// the final logits.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"

namespace lm::cuda {

// True when this build has the CUDA backend compiled in.
bool compiled_in();

// Empty when a usable GPU and driver are present; otherwise why not, in words a user can act on.
std::string unavailable_reason();

// Creates the backend on GPU `device_index`; throws lm::Error when no usable GPU exists.
std::unique_ptr<Backend> make_backend(int device_index);

}  // namespace lm::cuda
