// Stand-alone `moe-quantize` (same as `moe quantize`) until the subcommand is registered in
// native/tools/moe.cpp. Exit status: 0 ok, 1 error, 2 bad usage, 130 cancelled.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "localmoe/engine.h"
#include "tools/cli.h"

namespace lm::tools {
extern const char* const kQuantizeUsage;
int cmd_quantize(const std::vector<std::string>& args);
}  // namespace lm::tools

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fprintf(args.empty() ? stderr : stdout, "usage:\n  %s\n", lm::tools::kQuantizeUsage);
    return args.empty() ? 2 : 0;
  }
  try {
    return lm::tools::cmd_quantize(args);
  } catch (const lm::cli::UsageError& e) {
    std::fprintf(stderr, "moe quantize: %s\nusage:\n  %s\n", e.what(), lm::tools::kQuantizeUsage);
    return 2;
  } catch (const lm::Error& e) {
    std::fprintf(stderr, "moe quantize: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moe quantize: unexpected error: %s\n", e.what());
    return 1;
  }
}
