// The `moe` subcommands (one file each). Each returns the exit status; throws cli::UsageError for
// bad arguments and lm::Error for engine failures (moe.cpp maps them to exit codes 2 and 1).
#pragma once

#include <string>
#include <vector>

namespace lm::tools {

int cmd_run(const std::vector<std::string>& args);
int cmd_info(const std::vector<std::string>& args);
int cmd_quantize(const std::vector<std::string>& args);  // native/quant/quantize_cmd.cpp
extern const char* const kQuantizeUsage;
int cmd_perplexity(const std::vector<std::string>& args);  // moe_perplexity.cpp
extern const char* const kPerplexityUsage;

}  // namespace lm::tools
