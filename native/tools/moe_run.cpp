// `moe run`: prefill + decode from token ids; prints one JSON line with tokens and timings.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "io/npy.h"
#include "localmoe/engine.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace lm::tools {

namespace {

// The experts chosen per token and layer during generate (prompt and generated tokens), as the
// localmoe.routing-trace/1 JSON that `moe bench --routing-trace` replays.
void write_routing_trace(const std::string& path, const Engine& engine, const std::string& model) {
  const ModelConfig& c = engine.config();
  nlohmann::json trace = {{"schema", "localmoe.routing-trace/1"},
                          {"model", model},
                          {"layers", c.num_layers},
                          {"experts", c.num_experts},
                          {"experts_per_token", c.experts_per_token},
                          {"tokens", engine.routing()}};
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << trace.dump() << "\n";
    if (!f) throw Error("cannot write " + tmp + ": check the folder exists and is writable");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

int cmd_run(const std::vector<std::string>& argv) {
  const cli::Args args(argv,
                       {"--model", "--prompt-ids", "--max-new", "--temperature", "--top-k", "--top-p",
                        "--repetition-penalty", "--seed", "--threads", "--context", "--prefill-chunk",
                        "--stop-ids", "--logits-out", "--device", "--expert-slots", "--policy", "--lookahead",
                        "--guesses", "--vram-budget-mib", "--record-routing", "--cpu-expert-layers"},
                       {"--no-eos-stop", "--hybrid"});
  LoadOptions load;
  load.model_dir = args.required("--model");
  load.threads = int(args.integer("--threads", 0, 0, 1024));
  const std::string device = args.has("--device") ? args.str("--device") : "cpu";
  if (device != "cpu" && device != "cuda") throw cli::UsageError("--device must be cpu or cuda");
  load.device = device == "cuda" ? Device::Cuda : Device::Cpu;
  load.max_context = int(args.integer("--context", load.max_context, 1, 1 << 20));
  load.prefill_chunk = int(args.integer("--prefill-chunk", 0, 0, 1 << 16));
  // Expert offloading (CUDA + quantized model): fixed slots per layer, or a budget; policy, speculation.
  load.expert_slots = int(args.integer("--expert-slots", 0, 0, 1 << 16));
  if (args.has("--vram-budget-mib")) load.vram_budget = args.integer("--vram-budget-mib", 0, 0, 1 << 30) << 20;
  load.cache_policy = args.str("--policy", "lru");
  load.prefetch_lookahead = int(args.integer("--lookahead", 1, 0, 2));
  load.prefetch_guesses = int(args.integer("--guesses", 2, 1, 64));
  // Hybrid execution: experts of the first N layers on the CPU; decode misses copied or CPU-computed.
  load.cpu_expert_layers = int(args.integer("--cpu-expert-layers", 0, 0, 1 << 16));
  load.hybrid = args.has("--hybrid");
  GenerateRequest req;
  req.prompt = args.int_list("--prompt-ids");
  req.max_new_tokens = int(args.integer("--max-new", 16, 0, 1 << 20));
  req.sampling.temperature = float(args.number("--temperature", 0.0));
  req.sampling.top_k = int(args.integer("--top-k", 0, 0, 1 << 30));
  req.sampling.top_p = float(args.number("--top-p", 1.0));
  req.sampling.repetition_penalty = float(args.number("--repetition-penalty", 1.0));
  req.sampling.seed = uint64_t(args.integer("--seed", 0, 0, INT64_MAX));
  if (args.has("--stop-ids")) req.stop_ids = args.int_list("--stop-ids");
  req.stop_at_eos = !args.has("--no-eos-stop");
  if (req.sampling.temperature < 0) throw cli::UsageError("--temperature must be >= 0");
  if (!(req.sampling.top_p > 0 && req.sampling.top_p <= 1)) throw cli::UsageError("--top-p must be in (0, 1]");
  if (!(req.sampling.repetition_penalty > 0)) throw cli::UsageError("--repetition-penalty must be > 0");

  const std::unique_ptr<Engine> engine = Engine::load(load);
  if (args.has("--logits-out")) {
    const std::vector<float> logits = engine->prompt_logits(req.prompt);
    write_npy_f32(args.str("--logits-out"), logits.data(),
                  {int64_t(req.prompt.size()), int64_t(engine->config().vocab_size)});
  }
  GenerateResult r;
  if (args.has("--record-routing")) engine->set_record_routing(true);
  if (req.max_new_tokens > 0 || !args.has("--logits-out")) r = engine->generate(req, nullptr);
  if (args.has("--record-routing")) write_routing_trace(args.str("--record-routing"), *engine, args.str("--model"));
  const double prefill_tok_s = r.prefill_ms > 0 ? r.prompt_tokens / (r.prefill_ms / 1000.0) : 0.0;
  // decode_ms covers the tokens after the first (the first is part of time-to-first-token).
  const size_t decoded = r.tokens.size() > 1 ? r.tokens.size() - 1 : 0;
  const double decode_tok_s = r.decode_ms > 0 ? double(decoded) / (r.decode_ms / 1000.0) : 0.0;
  nlohmann::json out = {
      {"tokens", r.tokens},
      {"prompt_tokens", r.prompt_tokens},
      {"prefill_ms", r.prefill_ms},
      {"decode_ms", r.decode_ms},
      {"prefill_tok_s", prefill_tok_s},
      {"decode_tok_s", decode_tok_s},
      {"stop_reason", to_string(r.stop_reason)},
      {"backend", engine->backend_name()},
      {"memory_bytes", engine->memory_bytes()},
  };
  const Counters c = engine->counters();
  if (c.expert_hits + c.expert_misses > 0)
    out["expert_cache"] = {{"hits", c.expert_hits}, {"misses", c.expert_misses}, {"prefetch_issued", c.prefetch_issued},
                           {"prefetch_used", c.prefetch_used}, {"prefetch_wasted", c.prefetch_wasted},
                           {"bytes_copied", c.bytes_copied}, {"copy_ms", c.copy_ms}};
  if (c.expert_cpu_computed > 0)
    out["cpu_experts"] = {{"computed", c.expert_cpu_computed}, {"bytes", c.cpu_expert_bytes}, {"ms", c.cpu_expert_ms}};
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace lm::tools
