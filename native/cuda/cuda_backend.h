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
#include "quant/packed_experts.h"

namespace lm::cuda {

// True when this build has the CUDA backend compiled in.
bool compiled_in();

// Empty when a usable GPU and driver are present; otherwise why not, in words a user can act on.
std::string unavailable_reason();

// Creates the backend on GPU `device_index`; throws lm::Error when no usable GPU exists.
std::unique_ptr<Backend> make_backend(int device_index);

GpuInfo gpu_info();
double measure_h2d_gbps(uint64_t bytes);

// How the backend holds the experts of a quantized model (expert offloading).
struct ExpertPlan {
  int64_t vram_budget = -1;      // LoadOptions::vram_budget: < 0 all resident, 0 auto, else bytes
  int slots = 0;                 // LoadOptions::expert_slots: > 0 fixes the slots per layer
  std::string policy = "lru";
  int lookahead = 1;             // speculative loading: layers ahead, 0 = off
  int guesses = 2;               // experts guessed per look-ahead layer
  int max_tokens = 1;            // most tokens per forward call (the prefill chunk)
  int cpu_layers = 0;            // LoadOptions::cpu_expert_layers: experts of layers [0, N) on the CPU
  bool hybrid = false;           // LoadOptions::hybrid: decode misses copied or CPU-computed by cost
  int threads = 0;               // CPU threads for experts computed on the CPU (0 = hardware)
};

// Hands the packed experts of a quantized model to a CUDA backend made by make_backend (after the
// dense weights and the run state are allocated, so the budget left for the cache is known). From
// then on the backend runs every mixture-of-experts layer itself (Backend::manages_experts).
// Throws lm::Error when the budget cannot hold even the experts one token needs.
void bind_experts(Backend& backend, const quant::PackedExperts& experts, const ModelConfig& config,
                  const ExpertPlan& plan);

}  // namespace lm::cuda
