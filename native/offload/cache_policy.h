// Which experts of one layer sit in that layer's GPU cache slots, and which one to evict.
//
// Pure bookkeeping (no CUDA): the offloader (cuda/expert_cache.*) asks it where an expert goes and
// does the copies. Policies are pluggable so they can be compared on the same trace (moe bench
// --routing-trace): LRU (the paper's), LFU (most used since load, ties by recency).
// "Everything resident" is a cache with as many slots as experts: nothing is ever evicted.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lm::offload {

// None: the "no cache" baseline of the benchmark (every use copies the expert again).
enum class Policy { Lru, Lfu, None };

// "lru" | "lfu" | "none"; lm::Error naming the valid values otherwise.
Policy parse_policy(const std::string& name);
const char* policy_name(Policy policy);

class LayerCache {
 public:
  LayerCache(int num_experts, int slots, Policy policy);

  int slots() const { return int(slot_expert_.size()); }
  int slot_of(int expert) const { return expert_slot_[size_t(expert)]; }
  // Expert per slot (-1 = empty).
  const std::vector<int>& contents() const { return slot_expert_; }

  // Records a use of a cached expert (LRU recency, LFU count).
  void touch(int expert);
  // Picks a slot for `expert` (not cached): an empty slot if any, else the policy's victim among
  // slots whose expert is not in `keep` (the experts the running layer still needs). Takes the slot
  // (expert now maps to it, counted as used now) and returns {slot, evicted expert or -1}; returns
  // {-1, -1} when every slot holds a kept expert.
  std::pair<int, int> assign(int expert, const int* keep, int n_keep);
  // Forgets every cached expert (slots stay allocated): the None policy's state before each use.
  void clear();
  Policy policy() const { return policy_; }

 private:
  Policy policy_;
  uint64_t clock_ = 0;
  std::vector<int> slot_expert_;     // [slots]
  std::vector<int> expert_slot_;     // [E], -1 = not cached
  std::vector<uint64_t> last_use_;   // [E]
  std::vector<uint64_t> uses_;       // [E] since construction (LFU)
};

// Slots per layer for a cache of `total_slots` over `layers` layers of `experts` experts each:
// an even split, the remainder going to the first layers; at least `min_slots` (the experts one
// token needs) and at most `experts` per layer. Empty when total_slots < layers * min_slots.
std::vector<int> split_slots(int64_t total_slots, int layers, int experts, int min_slots);

}  // namespace lm::offload
