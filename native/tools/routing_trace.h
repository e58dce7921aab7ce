// Reading routing traces (`moe run --record-routing` writes them; schema localmoe.routing-trace/1).
#pragma once

#include <string>

#include "localmoe/engine.h"

namespace lm::tools {

struct LoadedTrace {
  RoutingTrace trace;
  std::string model;  // the model folder it was recorded from
};

// Parses and checks a trace file; lm::Error with an actionable message otherwise.
LoadedTrace load_routing_trace(const std::string& path);

}  // namespace lm::tools
