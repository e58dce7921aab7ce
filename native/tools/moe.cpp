// `moe`: the engine's command-line tool (no Node needed, so it runs on the GPU machine too).
// Subcommands live in a table, one row and one file each (bench comes as another row).
//
// Exit status: 0 ok, 1 engine error (message on stderr), 2 bad usage (usage on stderr).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "localmoe/engine.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace {

struct Command {
  const char* name;
  const char* usage;
  int (*run)(const std::vector<std::string>& args);
};

const Command kCommands[] = {
    {"run",
     "moe run --model DIR --prompt-ids 1,2,3 [--max-new N] [--temperature T] [--top-k K]\n"
     "        [--top-p P] [--repetition-penalty R] [--seed S] [--threads N] [--context N]\n"
     "        [--prefill-chunk N] [--stop-ids 2,13] [--no-eos-stop] [--logits-out FILE.npy]\n"
     "        [--device cpu|cuda] [--expert-slots N] [--vram-budget-mib N] [--policy lru|lfu|none]\n"
     "        [--lookahead 0-2] [--guesses N] [--record-routing FILE.json]\n"
     "        [--cpu-expert-layers N] [--hybrid]\n"
     "    prefill the prompt ids, decode up to N tokens (default 16), print one JSON line;\n"
     "    --cpu-expert-layers N: experts of the first N layers always computed on the CPU (CUDA);\n"
     "    --hybrid: each decode miss copied or computed on the CPU, whichever the cost model says is sooner;\n"
     "    --logits-out writes float32 logits of every prompt position as .npy [T, vocab];\n"
     "    --record-routing writes the experts chosen per token and layer (for moe bench --routing-trace)",
     lm::tools::cmd_run},
    {"info",
     "moe info --model DIR [--tensors]\n"
     "    validate the checkpoint and print its config and tensor summary as JSON",
     lm::tools::cmd_info},
    {"quantize", lm::tools::kQuantizeUsage, lm::tools::cmd_quantize},
    {"perplexity", lm::tools::kPerplexityUsage, lm::tools::cmd_perplexity},
    {"synth", lm::tools::kSynthUsage, lm::tools::cmd_synth},
    {"bench", lm::tools::kBenchUsage, lm::tools::cmd_bench},
};

void print_usage(FILE* out) {
  std::fprintf(out, "usage:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %s\n", c.usage);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
      std::printf("usage:\n  %s\n", c.usage);
      return 0;
    }
    try {
      return c.run(args);
    } catch (const lm::cli::UsageError& e) {
      std::fprintf(stderr, "moe %s: %s\nusage:\n  %s\n", c.name, e.what(), c.usage);
      return 2;
    } catch (const lm::Error& e) {
      std::fprintf(stderr, "moe %s: %s\n", c.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "moe %s: unexpected error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "moe: unknown command '%s'\n", name.c_str());
  print_usage(stderr);
  return 2;
}
