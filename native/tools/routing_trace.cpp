#include "tools/routing_trace.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "common/check.h"

namespace lm::tools {

LoadedTrace load_routing_trace(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error("cannot open routing trace " + path);
  nlohmann::json j;
  try {
    f >> j;
  } catch (const std::exception& e) {
    throw Error(path + " is not valid JSON (" + e.what() + "); record one with moe run --record-routing");
  }
  if (j.value("schema", "") != "localmoe.routing-trace/1")
    throw Error(path + " is not a localmoe.routing-trace/1 file; record one with moe run --record-routing");
  LoadedTrace out;
  RoutingTrace& t = out.trace;
  try {
    t.layers = j.at("layers").get<int>();
    t.experts = j.at("experts").get<int>();
    t.experts_per_token = j.at("experts_per_token").get<int>();
    t.tokens = j.at("tokens").get<std::vector<std::vector<int32_t>>>();
  } catch (const std::exception& e) {
    throw Error(path + ": malformed routing trace (" + e.what() + ")");
  }
  out.model = j.value("model", "");
  const int L = t.layers, E = t.experts, K = t.experts_per_token;
  if (t.tokens.empty() || L < 1 || E < 1 || K < 1 || K > E) throw Error(path + ": empty or inconsistent trace");
  for (const std::vector<int32_t>& row : t.tokens) {
    if (row.size() != size_t(L) * size_t(K)) throw Error(path + ": a token row does not hold layers x experts_per_token ids");
    for (int32_t e : row)
      if (e < 0 || e >= E) throw Error(path + ": expert id " + std::to_string(e) + " out of range");
  }
  return out;
}

}  // namespace lm::tools
