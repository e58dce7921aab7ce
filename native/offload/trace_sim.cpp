// simulate / simulate_optimal (see trace_sim.h).
#include "offload/trace_sim.h"

#include <algorithm>
#include <limits>

#include "common/check.h"

namespace lm::offload {

namespace {

// The distinct experts of token t in layer l.
std::vector<int> needed(const std::vector<int32_t>& row, int l, int k) {
  std::vector<int> out;
  for (int j = 0; j < k; ++j) {
    const int e = row[size_t(l * k + j)];
    if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
  }
  return out;
}

void check_trace(const std::vector<std::vector<int32_t>>& tokens, int layers, int experts, int k,
                 const std::vector<int>& slots) {
  LM_ASSERT(int(slots.size()) == layers, "one slot count per layer");
  for (const auto& row : tokens) {
    if (int(row.size()) != layers * k) fail("routing trace row has ", row.size(), " ids, expected ", layers * k);
    for (int32_t e : row)
      if (e < 0 || e >= experts) fail("routing trace names expert ", e, " of a model with ", experts);
  }
}

}  // namespace

SimResult simulate(const std::vector<std::vector<int32_t>>& tokens, int layers, int experts, int k,
                   const std::vector<int>& slots, Policy policy) {
  check_trace(tokens, layers, experts, k, slots);
  SimResult r;
  for (int l = 0; l < layers; ++l) {
    LayerCache cache(experts, slots[size_t(l)], policy);
    for (const auto& row : tokens) {
      const std::vector<int> need = needed(row, l, k);
      if (policy == Policy::None) cache.clear();
      for (int e : need) {
        if (cache.slot_of(e) >= 0) {
          ++r.hits;
          cache.touch(e);
        } else {
          ++r.misses;
          cache.assign(e, need.data(), int(need.size()));
        }
      }
    }
  }
  return r;
}

SimResult simulate_optimal(const std::vector<std::vector<int32_t>>& tokens, int layers, int experts, int k,
                           const std::vector<int>& slots) {
  check_trace(tokens, layers, experts, k, slots);
  SimResult r;
  const size_t T = tokens.size();
  constexpr size_t kNever = std::numeric_limits<size_t>::max();
  for (int l = 0; l < layers; ++l) {
    // next_use[t][e]: first token >= t that uses e in layer l (filled backwards).
    std::vector<std::vector<size_t>> next_use(T + 1, std::vector<size_t>(size_t(experts), kNever));
    for (size_t t = T; t-- > 0;) {
      next_use[t] = next_use[t + 1];
      for (int e : needed(tokens[t], l, k)) next_use[t][size_t(e)] = t;
    }
    std::vector<int> cached;
    for (size_t t = 0; t < T; ++t) {
      const std::vector<int> need = needed(tokens[t], l, k);
      for (int e : need) {
        if (std::find(cached.begin(), cached.end(), e) != cached.end()) {
          ++r.hits;
          continue;
        }
        ++r.misses;
        if (int(cached.size()) < slots[size_t(l)]) {
          cached.push_back(e);
          continue;
        }
        // Evict the cached expert (not needed now) used furthest in the future.
        size_t victim = cached.size();
        for (size_t i = 0; i < cached.size(); ++i) {
          if (std::find(need.begin(), need.end(), cached[i]) != need.end()) continue;
          if (victim == cached.size() ||
              next_use[t + 1][size_t(cached[i])] > next_use[t + 1][size_t(cached[victim])])
            victim = i;
        }
        LM_ASSERT(victim < cached.size(), "every slot holds an expert this token needs");
        cached[victim] = e;
      }
    }
  }
  return r;
}

}  // namespace lm::offload
