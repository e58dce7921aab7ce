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
int cmd_synth(const std::vector<std::string>& args);  // moe_synth.cpp
extern const char* const kSynthUsage;
int cmd_bench(const std::vector<std::string>& args);  // moe_bench.cpp
extern const char* const kBenchUsage;
// `moe bench --routing-trace` (bench_routing.cpp).
int cmd_bench_routing(const std::vector<std::string>& args);
// `moe bench --scenario completion` (bench_completion.cpp).
int cmd_bench_completion(const std::vector<std::string>& args);

}  // namespace lm::tools
