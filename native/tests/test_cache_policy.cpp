// Expert cache bookkeeping (offload/cache_policy.h): LRU / LFU victims, kept experts are never
// evicted, the no-cache policy, and how a slot budget is split over layers. Pure C++ (CI, no GPU).
#include <vector>

#include "localmoe/engine.h"
#include "offload/cache_policy.h"
#include "offload/trace_sim.h"
#include "check.h"

using lm::offload::LayerCache;
using lm::offload::Policy;

namespace {

void test_fill_then_lru() {
  LayerCache c(8, 3, Policy::Lru);
  for (int e : {5, 1, 7}) {
    const auto [slot, evicted] = c.assign(e, nullptr, 0);
    CHECK(slot >= 0 && evicted == -1);  // empty slots first, nothing evicted
  }
  CHECK(c.slot_of(5) >= 0 && c.slot_of(1) >= 0 && c.slot_of(7) >= 0 && c.slot_of(2) == -1);
  c.touch(5);  // order of last use: 1, 7, 5
  const int slot_of_1 = c.slot_of(1);
  const auto [slot, evicted] = c.assign(2, nullptr, 0);
  CHECK(evicted == 1 && slot == slot_of_1);  // least recently used goes
  CHECK(c.slot_of(1) == -1 && c.slot_of(2) == slot);
}

void test_keep_is_never_evicted() {
  LayerCache c(8, 2, Policy::Lru);
  c.assign(0, nullptr, 0);
  c.assign(1, nullptr, 0);
  const int keep[] = {0, 3};  // 0 is the LRU victim but the running layer still needs it
  const auto [slot, evicted] = c.assign(3, keep, 2);
  CHECK(evicted == 1 && slot >= 0);
  const int keep_all[] = {0, 3, 4};
  const auto none = c.assign(4, keep_all, 3);  // every slot holds a kept expert
  CHECK(none.first == -1 && none.second == -1 && c.slot_of(4) == -1);
}

void test_lfu() {
  LayerCache c(6, 2, Policy::Lfu);
  c.assign(0, nullptr, 0);
  c.assign(1, nullptr, 0);
  for (int i = 0; i < 3; ++i) c.touch(0);  // 0: 4 uses; 1: 2 uses, the later one most recent
  c.touch(1);
  const auto [slot, evicted] = c.assign(2, nullptr, 0);
  CHECK(evicted == 1);  // fewer uses loses even though used more recently
  (void)slot;
}

void test_none_policy_clear() {
  LayerCache c(4, 2, Policy::None);
  c.assign(0, nullptr, 0);
  c.assign(3, nullptr, 0);
  c.clear();
  CHECK(c.slot_of(0) == -1 && c.slot_of(3) == -1);
  CHECK(c.contents()[0] == -1 && c.contents()[1] == -1);
  CHECK(c.assign(3, nullptr, 0).second == -1);  // slots are free again
}

void test_split_slots() {
  const std::vector<int> s = lm::offload::split_slots(10, 4, 8, 2);
  CHECK((s == std::vector<int>{3, 3, 2, 2}));
  CHECK(lm::offload::split_slots(7, 4, 8, 2).empty());  // below the experts one token needs
  const std::vector<int> all = lm::offload::split_slots(1000, 4, 8, 2);
  CHECK((all == std::vector<int>{8, 8, 8, 8}));  // never more than a layer's experts
}

void test_parse() {
  CHECK(lm::offload::parse_policy("lru") == Policy::Lru);
  CHECK(lm::offload::parse_policy("lfu") == Policy::Lfu);
  CHECK(lm::offload::parse_policy("none") == Policy::None);
  bool threw = false;
  try {
    lm::offload::parse_policy("fifo");
  } catch (const lm::Error&) {
    threw = true;
  }
  CHECK(threw);
}

// Trace replay: hand-counted misses, the all-slots case, and Belady never worse than LRU/LFU.
void test_trace_sim() {
  // 1 layer, 4 experts, top-1: uses 0 1 2 0 1 2 with 2 slots. LRU misses every use (6).
  const std::vector<std::vector<int32_t>> cyc = {{0}, {1}, {2}, {0}, {1}, {2}};
  const auto lru = lm::offload::simulate(cyc, 1, 4, 1, {2}, Policy::Lru);
  CHECK(lru.misses == 6 && lru.hits == 0);
  // Belady: t2 loads 2 evicting 1 (next use t4) over 0 (t3); t3 hits 0; t4 loads 1 evicting 0
  // (never again) ; t5 hits 2: misses 0,1,2,1 = 4, hits 2.
  const auto opt = lm::offload::simulate_optimal(cyc, 1, 4, 1, {2});
  CHECK(opt.misses == 4 && opt.hits == 2);
  const auto none = lm::offload::simulate(cyc, 1, 4, 1, {2}, Policy::None);
  CHECK(none.misses == 6);

  // 2 layers, 8 experts, top-2, pseudo-random trace.
  std::vector<std::vector<int32_t>> t;
  uint32_t x = 12345;
  for (int i = 0; i < 400; ++i) {
    std::vector<int32_t> row;
    for (int l = 0; l < 2; ++l) {
      x = x * 1664525u + 1013904223u;
      const int a = int((x >> 16) % 8);
      x = x * 1664525u + 1013904223u;
      const int b = (a + 1 + int((x >> 16) % 7)) % 8;  // distinct from a
      row.push_back(a);
      row.push_back(b);
    }
    t.push_back(row);
  }
  const auto all = lm::offload::simulate(t, 2, 8, 2, {8, 8}, Policy::Lru);
  CHECK(all.misses == 16);  // every (layer, expert) once
  for (int s = 2; s <= 8; ++s) {
    const auto l = lm::offload::simulate(t, 2, 8, 2, {s, s}, Policy::Lru);
    const auto f = lm::offload::simulate(t, 2, 8, 2, {s, s}, Policy::Lfu);
    const auto o = lm::offload::simulate_optimal(t, 2, 8, 2, {s, s});
    CHECK(o.misses <= l.misses && o.misses <= f.misses);
    CHECK(l.hits + l.misses == 1600 && o.hits + o.misses == 1600);
  }
}

}  // namespace

int main() {
  test_fill_then_lru();
  test_keep_is_never_evicted();
  test_lfu();
  test_none_policy_clear();
  test_split_slots();
  test_parse();
  test_trace_sim();
  return lm_test::finish("test_cache_policy");
}
