// Where the forward pass gets an expert's weights from.
//
// Experts are ~96% of Mixtral's parameters. The forward pass never touches them directly: it asks an
// ExpertSource for expert e of layer l, uses the weights, and releases them. "Resident" (all experts
// mmap'd from the checkpoint) is one implementation; the LRU expert cache / offloader of a later
// issue is another, sitting between the forward and the stored weights (DESIGN.md: one code path for
// offloaded and resident experts).
#pragma once

#include <vector>

#include "common/dtype.h"
#include "localmoe/engine.h"

namespace lm {

class Backend;
class Checkpoint;

// One SwiGLU expert: y = (silu(x · w1ᵀ) ⊙ (x · w3ᵀ)) · w2ᵀ.
struct ExpertWeights {
  WeightView w1;  // [F, D] gate projection
  WeightView w2;  // [D, F] down projection
  WeightView w3;  // [F, D] up projection
};

class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  // Weights of expert `expert` of layer `layer`, valid until release(layer, expert). May block
  // while an offloading implementation brings the expert in.
  virtual ExpertWeights acquire(int layer, int expert) = 0;
  virtual void release(int layer, int expert) = 0;
  // Optional: the experts the forward expects to need soon in `layer` (speculative loading).
  // Correctness never depends on it; resident sources ignore it.
  virtual void prefetch(int /*layer*/, const int* /*experts*/, int /*n*/) {}
};

// All experts in place in the (mmap'd) checkpoint. Shapes are checked against the config at
// construction, so acquire() cannot fail.
class ResidentExperts final : public ExpertSource {
 public:
  ResidentExperts(const Checkpoint& checkpoint, const ModelConfig& config);
  ExpertWeights acquire(int layer, int expert) override;
  void release(int, int) override {}
  // Moves every expert to where `backend` computes (device memory on CUDA; no-op on the CPU).
  void place_all(Backend& backend);

 private:
  int num_experts_ = 0;
  std::vector<ExpertWeights> experts_;  // [L * E]
};

// Tensor names of the hub layout (model.layers.N.block_sparse_moe.experts.E.wI.weight).
std::string expert_tensor_name(int layer, int expert, int which /* 1, 2 or 3 */);

}  // namespace lm
