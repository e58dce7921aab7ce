// Expert cache bookkeeping (offload/cache_policy.h): LRU / LFU victims, kept experts are never
// evicted, the no-cache policy, and how a slot budget is split over layers. Pure C++ (CI, no GPU).
#include <vector>

#include "localmoe/engine.h"
#include "offload/cache_policy.h"
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

}  // namespace

int main() {
  test_fill_then_lru();
  test_keep_is_never_evicted();
  test_lfu();
  test_none_policy_clear();
  test_split_slots();
  test_parse();
  return lm_test::finish("test_cache_policy");
}
