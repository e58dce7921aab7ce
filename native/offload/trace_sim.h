// Replays recorded routing (which experts each token used in each layer) through a per-layer
// cache, counting hits and misses: how a policy and a slot count would do on a trained model's real
// choices, without a GPU (`moe bench --routing-trace`). Includes Belady's optimal policy (evict the
// expert needed furthest in the future) as the bound no online policy can beat.
#pragma once

#include <cstdint>
#include <vector>

#include "offload/cache_policy.h"

namespace lm::offload {

struct SimResult {
  uint64_t hits = 0;
  uint64_t misses = 0;  // uses whose expert had to be copied in (first uses included)
  double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
};

// tokens[t][l * k + j]: the j-th expert token t used in layer l. slots[l]: cache slots of layer l
// (k..experts). Duplicate ids within one token and layer count once.
SimResult simulate(const std::vector<std::vector<int32_t>>& tokens, int layers, int experts, int k,
                   const std::vector<int>& slots, Policy policy);
SimResult simulate_optimal(const std::vector<std::vector<int32_t>>& tokens, int layers, int experts, int k,
                           const std::vector<int>& slots);

}  // namespace lm::offload
