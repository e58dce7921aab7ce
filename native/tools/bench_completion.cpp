// `moe bench --scenario completion`: replays a recorded editing session (bench/traces/*.json, made
// by bench/traces/make-completion-trace.mjs) against the engine, once with KV prefix reuse and once
// without, and reports time to first token (p50/p90), the prefix reuse rate and the tokens
// prefilled per request (issue #10). Writes localmoe.bench-completion/1 JSON (FILE.tmp, renamed).
//
// Method: each pass loads the model afresh, warms up with one request in KV slot 1 (slot 0, where
// the session runs, stays empty), then sends every request of the trace in order, in slot 0, greedy,
// max_new_tokens new tokens, no EOS stop. Requests run back to back: the trace's timing decides which
// requests exist (debounce), not when they run. TTFT is the engine's GenerateResult::prefill_ms
// (prefill + first sample; tokenization and the sidecar are excluded). Percentiles are nearest-rank
// over all requests of all repeats. The passes must produce the same tokens for every request
// (outputs_identical): prefix reuse may change speed only.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "localmoe/engine.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/machine.h"

namespace lm::tools {
namespace {

using json = nlohmann::json;

const char* const kUsage =
    "moe bench --scenario completion --model DIR [--trace FILE] [--max-new N] [--repeat N]\n"
    "          [--limit N] [--threads N] [--device cpu|cuda] [--vram-budget SIZE] [--context N] [--machine TEXT]\n"
    "          [--out FILE.json]";

struct Request {
  std::vector<int32_t> prompt;
  double t_ms = 0;  // when the editor would send it (informational)
};

struct Trace {
  std::string path;
  json settings;
  json summary;
  std::string source_path;
  std::string source_sha1;
  std::vector<Request> requests;
};

Trace read_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("trace " + path + " not found: make one with node bench/traces/make-completion-trace.mjs");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error("trace " + path + " is not valid JSON: " + e.what());
  }
  if (j.value("schema", "") != "localmoe.completion-trace/1")
    throw Error("trace " + path + " is not a localmoe.completion-trace/1 file");
  Trace t;
  t.path = path;
  t.settings = j.at("settings");
  t.summary = j.value("summary", json::object());
  t.source_path = j.at("source").value("path", "");
  t.source_sha1 = j.at("source").value("sha1", "");
  std::vector<int32_t> previous;
  for (const json& r : j.at("requests")) {
    const size_t keep = r.at("keep").get<size_t>();
    if (keep > previous.size()) throw Error("trace " + path + ": a request keeps more tokens than the previous one had");
    Request req;
    req.prompt.assign(previous.begin(), previous.begin() + ptrdiff_t(keep));
    for (const json& id : r.at("append")) req.prompt.push_back(id.get<int32_t>());
    req.t_ms = r.value("t_ms", 0.0);
    previous = req.prompt;
    t.requests.push_back(std::move(req));
  }
  if (t.requests.empty()) throw Error("trace " + path + " has no requests");
  return t;
}

// Nearest-rank percentile (p in (0, 100]) of unsorted samples.
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = size_t(std::ceil(p / 100.0 * double(v.size())));
  return v[std::min(v.size(), std::max<size_t>(rank, 1)) - 1];
}

struct PassResult {
  std::vector<double> ttft_ms;          // one per request per repeat
  std::vector<int> reused;              // prompt tokens served from the slot
  std::vector<int> prompt_tokens;
  std::vector<std::vector<int32_t>> tokens;  // outputs of the first repeat
  uint64_t evictions = 0;
  std::string backend;
  json model;
};

PassResult run_pass(const LoadOptions& load, const Trace& trace, bool reuse, int max_new, int repeat) {
  PassResult out;
  for (int rep = 0; rep < repeat; ++rep) {
    const std::unique_ptr<Engine> engine = Engine::load(load);
    if (rep == 0) {
      const ModelConfig& c = engine->config();
      out.backend = engine->backend_name();
      out.model = {{"dir", load.model_dir},        {"architecture", c.architecture},
                   {"weight_dtype", c.weight_dtype}, {"layers", c.num_layers},
                   {"experts", c.num_experts},       {"experts_per_token", c.experts_per_token},
                   {"hidden_size", c.hidden_size},   {"vocab_size", c.vocab_size},
                   {"memory_bytes", engine->memory_bytes()}};
    }
    GenerateRequest warm;  // warm-up in slot 1: pages, threads and caches, not slot 0
    warm.prompt = trace.requests.front().prompt;
    warm.max_new_tokens = max_new;
    warm.stop_at_eos = false;
    warm.kv_slot = 1;
    engine->generate(warm, nullptr);
    engine->reset_counters();
    for (const Request& r : trace.requests) {
      GenerateRequest req;
      req.prompt = r.prompt;
      req.max_new_tokens = max_new;
      req.stop_at_eos = false;
      req.kv_slot = 0;
      req.reuse_prefix = reuse;
      const GenerateResult res = engine->generate(req, nullptr);
      out.ttft_ms.push_back(res.prefill_ms);
      out.reused.push_back(res.reused_tokens);
      out.prompt_tokens.push_back(res.prompt_tokens);
      if (rep == 0) out.tokens.push_back(res.tokens);
    }
    out.evictions += engine->counters().kv_slot_evictions;
  }
  return out;
}

json summarize(const PassResult& p, int repeat) {
  double reused = 0, prompt = 0, mean = 0;
  size_t hits = 0;
  for (size_t i = 0; i < p.reused.size(); ++i) {
    reused += p.reused[i];
    prompt += p.prompt_tokens[i];
    if (2 * p.reused[i] >= p.prompt_tokens[i]) ++hits;
  }
  for (double t : p.ttft_ms) mean += t / double(p.ttft_ms.size());
  const double n = double(p.reused.size());
  return {{"ttft_ms_p50", percentile(p.ttft_ms, 50)},
          {"ttft_ms_p90", percentile(p.ttft_ms, 90)},
          {"ttft_ms_mean", mean},
          {"ttft_ms_max", percentile(p.ttft_ms, 100)},
          {"reuse_rate", prompt > 0 ? reused / prompt : 0.0},
          {"requests_mostly_reused", n > 0 ? double(hits) / n : 0.0},
          {"prefilled_tokens_per_request", n > 0 ? (prompt - reused) / n : 0.0},
          {"prompt_tokens_per_request", n > 0 ? prompt / n : 0.0},
          {"kv_slot_evictions", p.evictions},
          {"requests", p.reused.size() / size_t(std::max(1, repeat))},
          {"repeat", repeat},
          {"ttft_ms", p.ttft_ms},
          {"prefilled_tokens", [&] {
             std::vector<int> v;
             for (size_t i = 0; i < p.reused.size(); ++i) v.push_back(p.prompt_tokens[i] - p.reused[i]);
             return v;
           }()}};
}

// The 1-minute load average (other work on the machine inflates the timings; recorded with them).
double load_average() {
  std::ifstream f("/proc/loadavg");
  double one = -1;
  f >> one;
  return one;
}

}  // namespace

int cmd_bench_completion(const std::vector<std::string>& argv) {
  const cli::Args args(argv,
                       {"--scenario", "--model", "--trace", "--max-new", "--repeat", "--threads", "--device",
                        "--context", "--machine", "--out", "--limit", "--vram-budget"},
                       {});
  if (args.str("--scenario") != "completion") throw cli::UsageError(std::string("--scenario completion\n") + kUsage);
  LoadOptions load;
  load.model_dir = args.required("--model");
  load.threads = int(args.integer("--threads", 0, 0, 1024));
  const std::string device = args.str("--device", "cpu");
  if (device != "cpu" && device != "cuda") throw cli::UsageError("--device must be cpu or cuda");
  load.device = device == "cuda" ? Device::Cuda : Device::Cpu;
  if (args.has("--vram-budget")) load.vram_budget = cli::parse_vram_budget(args.str("--vram-budget"));
  load.max_context = int(args.integer("--context", 4096, 1, 1 << 20));
  load.kv_slots = 2;
  const std::string trace_path = args.str("--trace", "bench/traces/completion-session.json");
  const int max_new = int(args.integer("--max-new", 16, 1, 4096));
  const int repeat = int(args.integer("--repeat", 1, 1, 100));
  Trace trace = read_trace(trace_path);
  // --limit N: the first N requests only (a quick smoke run; reference runs replay the whole trace).
  const size_t limit = size_t(args.integer("--limit", 0, 0, 1 << 30));
  if (limit > 0 && limit < trace.requests.size()) trace.requests.resize(limit);

  std::string command = "moe bench";
  for (const std::string& a : argv) command += " " + (a.find(' ') == std::string::npos ? a : "'" + a + "'");

  const double load_before = load_average();
  const PassResult with = run_pass(load, trace, true, max_new, repeat);
  const PassResult without = run_pass(load, trace, false, max_new, repeat);
  const double load_after = load_average();
  size_t differing = 0;
  for (size_t i = 0; i < with.tokens.size(); ++i) differing += with.tokens[i] != without.tokens[i] ? 1 : 0;
  const json a = summarize(with, repeat), b = summarize(without, repeat);

  const int hw = int(std::thread::hardware_concurrency());
  char created[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const json report = {
      {"schema", "localmoe.bench-completion/1"},
      {"created", created},
      {"command", command},
      {"machine",
       {{"note", args.str("--machine", "")},
        {"hostname", host},
        {"cpu", cpu_model()},
        {"cpu_threads", hw},
        {"load_average_1min_before_after", {load_before, load_after}},
        {"backend", with.backend}}},
      {"model", with.model},
      {"settings",
       {{"device", device},
        {"threads", load.threads > 0 ? load.threads : hw},
        {"max_new_tokens", max_new},
        {"sampling", "greedy, no EOS stop"},
        {"kv_slot", 0},
        {"repeat", repeat},
        {"limit", limit > 0 ? json(limit) : json(nullptr)},
        {"trace", trace.path},
        {"trace_source", trace.source_path},
        {"trace_source_sha1", trace.source_sha1},
        {"trace_settings", trace.settings},
        {"trace_summary", trace.summary},
        {"ttft", "GenerateResult::prefill_ms (engine prefill + first sample; no tokenizer, no sidecar)"},
        {"percentiles", "nearest-rank over all requests of all repeats"}}},
      {"outputs_identical", differing == 0},
      {"requests_with_different_output", differing},
      {"with_reuse", a},
      {"without_reuse", b},
  };

  std::printf("completion scenario: %zu requests from %s (%s), prompts %.0f tokens on average, %d new tokens each\n",
              trace.requests.size(), trace.path.c_str(), trace.source_path.c_str(),
              a["prompt_tokens_per_request"].get<double>(), max_new);
  std::printf("model %s (%s), backend %s, %d repeat(s)\n\n", load.model_dir.c_str(),
              with.model["weight_dtype"].get<std::string>().c_str(), with.backend.c_str(), repeat);
  std::printf("%-15s %12s %12s %12s %14s %11s %10s\n", "", "ttft p50 ms", "ttft p90 ms", "ttft mean", "prefilled/req",
              "reuse rate", "evictions");
  for (const auto& [name, s] : {std::pair<const char*, const json&>{"with reuse", a}, {"without reuse", b}})
    std::printf("%-15s %12.2f %12.2f %12.2f %14.1f %10.1f%% %10llu\n", name, s["ttft_ms_p50"].get<double>(),
                s["ttft_ms_p90"].get<double>(), s["ttft_ms_mean"].get<double>(),
                s["prefilled_tokens_per_request"].get<double>(), 100.0 * s["reuse_rate"].get<double>(),
                static_cast<unsigned long long>(s["kv_slot_evictions"].get<uint64_t>()));
  std::printf("\noutputs identical with and without reuse: %s (%zu of %zu requests differ)\n",
              differing == 0 ? "yes" : "NO", differing, with.tokens.size());

  if (args.has("--out")) {
    const std::string out = args.str("--out");
    const std::string tmp = out + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << report.dump(1) << "\n";
      if (!f) throw Error("cannot write " + tmp);
    }
    std::filesystem::rename(tmp, out);
    std::printf("wrote %s\n", out.c_str());
  }
  return differing == 0 ? 0 : 1;
}

}  // namespace lm::tools
