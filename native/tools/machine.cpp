// cpu_model / host_ram (see machine.h).
#include "tools/machine.h"

#include <unistd.h>

#include <fstream>

namespace lm::tools {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

uint64_t host_ram() { return uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGE_SIZE)); }

}  // namespace lm::tools
