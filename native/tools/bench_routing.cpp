// `moe bench --routing-trace FILE`: replays the experts a model really chose (recorded with
// `moe run --record-routing`) through the expert cache's policies at every slot count, and through
// Belady's optimal policy (the bound for any online policy). Random synthetic weights route nearly
// the same experts every token, so cache behaviour must be studied on a trained model's choices.
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "localmoe/engine.h"
#include "offload/trace_sim.h"
#include "tools/cli.h"
#include "tools/routing_trace.h"
#include "tools/commands.h"

namespace lm::tools {

int cmd_bench_routing(const std::vector<std::string>& argv) {
  const cli::Args args(argv, {"--routing-trace", "--out"}, {});
  const std::string path = args.required("--routing-trace");
  const LoadedTrace loaded = load_routing_trace(path);
  const int L = loaded.trace.layers, E = loaded.trace.experts, K = loaded.trace.experts_per_token;
  const std::vector<std::vector<int32_t>>& tokens = loaded.trace.tokens;
  const double T = double(tokens.size());

  nlohmann::json rows = nlohmann::json::array();
  std::printf("%s: %zu tokens, %d layers, %d experts, top-%d\n", path.c_str(), tokens.size(), L, E, K);
  std::printf("%6s %10s %10s %10s %10s   (hit rate; misses per token in the JSON)\n", "slots", "lru", "lfu", "none",
              "optimal");
  for (int s = K; s <= E; ++s) {
    const std::vector<int> slots(static_cast<size_t>(L), s);
    const offload::SimResult lru = offload::simulate(tokens, L, E, K, slots, offload::Policy::Lru);
    const offload::SimResult lfu = offload::simulate(tokens, L, E, K, slots, offload::Policy::Lfu);
    const offload::SimResult none = offload::simulate(tokens, L, E, K, slots, offload::Policy::None);
    const offload::SimResult best = offload::simulate_optimal(tokens, L, E, K, slots);
    auto entry = [&](const offload::SimResult& r) {
      return nlohmann::json{{"hit_rate", r.hit_rate()}, {"hits", r.hits}, {"misses", r.misses},
                            {"misses_per_token", double(r.misses) / T}};
    };
    rows.push_back({{"slots_per_layer", s},
                    {"lru", entry(lru)},
                    {"lfu", entry(lfu)},
                    {"none", entry(none)},
                    {"optimal", entry(best)}});
    std::printf("%6d %10.3f %10.3f %10.3f %10.3f\n", s, lru.hit_rate(), lfu.hit_rate(), none.hit_rate(),
                best.hit_rate());
  }
  if (args.has("--out")) {
    std::string command = "moe bench";
    for (const std::string& a : argv) command += " " + a;
    char created[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    const nlohmann::json out = {{"schema", "localmoe.bench-routing/1"},
                                {"created", created},
                                {"command", command},
                                {"trace", {{"file", path}, {"model", loaded.model}, {"tokens", tokens.size()},
                                           {"layers", L}, {"experts", E}, {"experts_per_token", K}}},
                                {"method", "per-layer caches replayed over the recorded choices; a miss is a use whose "
                                           "expert is not cached (first uses included); optimal = Belady"},
                                {"rows", rows}};
    const std::string dst = args.str("--out"), tmp = dst + ".tmp";
    {
      std::ofstream o(tmp);
      o << out.dump(2) << "\n";
      if (!o) throw Error("cannot write " + tmp);
    }
    std::filesystem::rename(tmp, dst);
  }
  return 0;
}

}  // namespace lm::tools
