// What machine a benchmark ran on, for the JSON it writes (Linux /proc; "unknown" elsewhere).
#pragma once

#include <cstdint>
#include <string>

namespace lm::tools {

std::string cpu_model();  // /proc/cpuinfo "model name"
uint64_t host_ram();      // physical memory in bytes

}  // namespace lm::tools
