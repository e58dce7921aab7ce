// LayerCache and split_slots (see cache_policy.h).
#include "offload/cache_policy.h"

#include <algorithm>

#include "common/check.h"

namespace lm::offload {

Policy parse_policy(const std::string& name) {
  if (name == "lru") return Policy::Lru;
  if (name == "lfu") return Policy::Lfu;
  if (name == "none") return Policy::None;
  fail("unknown expert cache policy '", name, "': use lru, lfu or none");
}

const char* policy_name(Policy policy) {
  switch (policy) {
    case Policy::Lru: return "lru";
    case Policy::Lfu: return "lfu";
    case Policy::None: return "none";
  }
  return "?";
}

void LayerCache::clear() {
  for (int& e : slot_expert_)
    if (e >= 0) expert_slot_[size_t(e)] = -1, e = -1;
}

LayerCache::LayerCache(int num_experts, int slots, Policy policy)
    : policy_(policy), slot_expert_(size_t(slots), -1), expert_slot_(size_t(num_experts), -1),
      last_use_(size_t(num_experts), 0), uses_(size_t(num_experts), 0) {
  // 0 slots: a layer whose experts are all computed on the CPU (hybrid execution).
  LM_ASSERT(slots >= 0 && slots <= num_experts, "cache slots out of range");
}

void LayerCache::touch(int expert) {
  last_use_[size_t(expert)] = ++clock_;
  ++uses_[size_t(expert)];
}

std::pair<int, int> LayerCache::assign(int expert, const int* keep, int n_keep) {
  LM_ASSERT(expert_slot_[size_t(expert)] < 0, "assigning a slot to a cached expert");
  int best = -1;
  for (int s = 0; s < slots() && best < 0; ++s)
    if (slot_expert_[size_t(s)] < 0) best = s;
  if (best < 0) {
    for (int s = 0; s < slots(); ++s) {
      const int e = slot_expert_[size_t(s)];
      if (std::find(keep, keep + n_keep, e) != keep + n_keep) continue;
      if (best < 0) {
        best = s;
        continue;
      }
      const int b = slot_expert_[size_t(best)];
      const bool older = last_use_[size_t(e)] < last_use_[size_t(b)];
      const bool better = policy_ != Policy::Lfu
                              ? older
                              : uses_[size_t(e)] < uses_[size_t(b)] || (uses_[size_t(e)] == uses_[size_t(b)] && older);
      if (better) best = s;
    }
  }
  if (best < 0) return {-1, -1};
  const int evicted = slot_expert_[size_t(best)];
  if (evicted >= 0) expert_slot_[size_t(evicted)] = -1;
  slot_expert_[size_t(best)] = expert;
  expert_slot_[size_t(expert)] = best;
  touch(expert);
  return {best, evicted};
}

std::vector<int> split_slots(int64_t total_slots, int layers, int experts, int min_slots) {
  if (layers <= 0 || total_slots < int64_t(layers) * min_slots) return {};
  std::vector<int> out(static_cast<size_t>(layers));
  const int64_t each = total_slots / layers, extra = total_slots % layers;
  for (int l = 0; l < layers; ++l)
    out[size_t(l)] = int(std::min<int64_t>(experts, each + (l < extra ? 1 : 0)));
  return out;
}

}  // namespace lm::offload
