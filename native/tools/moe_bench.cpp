// `moe bench`: prefill / time to first token / decode speed of one model under each way of holding
// its experts, in one run, with the expert-cache counters that explain the numbers. Writes the
// localmoe.bench/1 JSON the editor's benchmark view reads (written to FILE.tmp, then renamed).
//
// Variants: cpu (CPU device: every expert in RAM). CUDA: the budget's own configuration, or with
// --ablate: naive (no cache: every routed expert copied for every use), lru (cache, no
// speculation), lru+prefetch (cache + speculative loading), hybrid (lru+prefetch, and each decode
// miss copied or computed on the CPU by the cost model), cpu-layers-N (experts of the first N
// layers always on the CPU, the budget's slots for the rest: llama.cpp --n-cpu-moe N), all-cpu
// (every expert on the CPU, dense weights on the GPU), cpu-only (no GPU at all), all-resident (no
// budget; skipped with a note when the model does not fit); --variants picks a subset. Figures per
// variant are medians over --repeat runs; per variant also how misses were served (copied /
// computed on the CPU) and both pipes' achieved GB/s.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "localmoe/engine.h"
#include "model/config.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/machine.h"
#include "tools/routing_trace.h"

namespace lm::tools {

const char* const kBenchUsage =
    "moe bench --model DIR [--device cpu|cuda] [--prompt-len N] [--gen N] [--repeat N] [--threads N]\n"
    "          [--vram-budget SIZE|auto] [--ablate] [--policy lru|lfu] [--lookahead 0-2] [--guesses N]\n"
    "          [--cpu-expert-layers N] [--hybrid] [--variants a,b,...] [--context N] [--out FILE.json]\n"
    "          [--replay-routing TRACE.json]\n"
    "    prefill, time to first token and decode tok/s with the expert-cache counters, per variant\n"
    "    (CUDA --ablate: naive, lru, lru+prefetch, hybrid, cpu-layers-N (N = --cpu-expert-layers,\n"
    "    default 8), all-cpu, cpu-only, all-resident; --variants keeps only those named);\n"
    "    SIZE like 12GiB, 800MiB or bytes. --replay-routing: the GPU variants take their experts\n"
    "    from a recorded trace (a trained model's reuse pattern for a random synthetic model).\n"
    "    Progress on stderr as `progress {json}` lines; a table on stdout; JSON to --out.\n"
    "moe bench --routing-trace TRACE.json [--out FILE.json]\n"
    "    replay recorded expert choices (moe run --record-routing) through the cache policies at\n"
    "    every slot count, with Belady's optimal policy as the bound\n"
    "moe bench --scenario completion ... (see bench/README.md)";

namespace {

using json = nlohmann::json;


double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

uint64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * uint64_t(sysconf(_SC_PAGE_SIZE));
}

// Host RAM read bandwidth: `threads` threads each summing their share of a 1 GiB buffer, best of 3.
double host_read_gbps(int threads) {
  const size_t n = (size_t(1) << 30) / sizeof(uint64_t);
  std::vector<uint64_t> buf(n, 1);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<uint64_t> sums(static_cast<size_t>(threads));  // not sums(size_t(threads)): that declares a function
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const size_t a = n * size_t(t) / size_t(threads), b = n * size_t(t + 1) / size_t(threads);
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = a; i + 4 <= b; i += 4) s0 += buf[i], s1 += buf[i + 1], s2 += buf[i + 2], s3 += buf[i + 3];
        sums[size_t(t)] = s0 + s1 + s2 + s3;
      });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    uint64_t total = 0;
    for (uint64_t v : sums) total += v;
    if (total == 0) return 0;  // keeps the loads alive
    best = std::max(best, double(n * sizeof(uint64_t)) / s / 1e9);
  }
  return best;
}

struct Variant {
  std::string name, label;
  int64_t budget;      // LoadOptions::vram_budget
  std::string policy;
  int lookahead;
  int cpu_layers = 0;  // LoadOptions::cpu_expert_layers
  bool hybrid = false; // LoadOptions::hybrid
  bool on_cpu = false; // the CPU device (no GPU at all)
};

struct Run {
  double prefill_tok_s = 0, ttft_ms = 0, decode_tok_s = 0;
  Counters decode;  // counter deltas over the decode phase
};

Counters diff(const Counters& b, const Counters& a) {
  Counters d = b;
  d.expert_hits -= a.expert_hits;
  d.expert_misses -= a.expert_misses;
  d.prefetch_issued -= a.prefetch_issued;
  d.prefetch_used -= a.prefetch_used;
  d.prefetch_wasted -= a.prefetch_wasted;
  d.bytes_copied -= a.bytes_copied;
  d.copy_ms -= a.copy_ms;
  d.expert_cpu_computed -= a.expert_cpu_computed;
  d.cpu_expert_bytes -= a.cpu_expert_bytes;
  d.cpu_expert_ms -= a.cpu_expert_ms;
  return d;
}

json nullable(double v, bool ok) { return ok && std::isfinite(v) ? json(v) : json(nullptr); }

void progress(int step, int steps, const std::string& what) {
  std::fprintf(stderr, "progress %s\n", json{{"step", step}, {"steps", steps}, {"what", what}}.dump().c_str());
  std::fflush(stderr);
}

}  // namespace

int cmd_bench(const std::vector<std::string>& argv) {
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == "--routing-trace") return cmd_bench_routing(argv);
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == "--scenario") {
      if (argv[i + 1] == "completion") return cmd_bench_completion(argv);
      throw cli::UsageError("--scenario must be completion");
    }
  const cli::Args args(argv,
                       {"--model", "--device", "--prompt-len", "--gen", "--repeat", "--threads", "--vram-budget",
                        "--policy", "--lookahead", "--guesses", "--context", "--out", "--cpu-expert-layers", "--variants",
                        "--replay-routing"},
                       {"--ablate", "--hybrid"});
  const std::string model = args.required("--model");
  const std::string device = args.str("--device", "cpu");
  if (device != "cpu" && device != "cuda") throw cli::UsageError("--device must be cpu or cuda");
  const int prompt_len = int(args.integer("--prompt-len", 512, 1, 1 << 20));
  const int gen = int(args.integer("--gen", 128, 2, 1 << 20));
  const int repeat = int(args.integer("--repeat", 3, 1, 1000));
  const int threads = int(args.integer("--threads", 0, 0, 1024));
  const int lookahead = int(args.integer("--lookahead", 1, 0, 2));
  const int guesses = int(args.integer("--guesses", 2, 1, 64));
  const std::string policy = args.str("--policy", "lru");
  const bool ablate = args.has("--ablate");
  const bool cuda = device == "cuda";
  const int64_t budget = args.has("--vram-budget") ? cli::parse_vram_budget(args.str("--vram-budget")) : -1;
  const int context = int(args.integer("--context", prompt_len + gen + 8, 16, 1 << 20));
  const bool hybrid = args.has("--hybrid");
  const int cpu_layers_arg = int(args.integer("--cpu-expert-layers", 0, 0, 1 << 16));
  const int model_layers = cuda ? load_model_config(model).num_layers : 0;
  std::shared_ptr<const RoutingTrace> replay;
  std::string replay_note;
  if (args.has("--replay-routing")) {
    if (!cuda) throw cli::UsageError("--replay-routing needs --device cuda (the GPU routes on the device)");
    LoadedTrace t = load_routing_trace(args.str("--replay-routing"));
    replay_note = "GPU variants replay the routing of " + args.str("--replay-routing") + " (" +
                  std::to_string(t.trace.tokens.size()) + " tokens, " + std::to_string(t.trace.layers) +
                  " layers, recorded from " + (t.model.empty() ? std::string("?") : t.model) +
                  "; layers past the trace's reuse it with relabelled experts). Speculative guesses still come "
                  "from this model's routers, so prefetch precision says nothing about a trained model.";
    replay = std::make_shared<const RoutingTrace>(std::move(t.trace));
  }
  std::string command = "moe bench";
  for (const std::string& a : argv) command += " " + a;
  if (args.has("--out")) {
    const std::filesystem::path out(args.str("--out"));
    if (out.has_parent_path() && !std::filesystem::is_directory(out.parent_path()))
      throw Error("--out: folder " + out.parent_path().string() + " does not exist");
  }

  std::vector<Variant> variants;
  if (!cuda) {
    variants.push_back({"cpu", "CPU (all experts in RAM)", -1, "lru", 0});
  } else if (ablate) {
    const int64_t b = budget >= 0 ? budget : 0;
    variants.push_back({"naive", "No cache (copy every routed expert)", b, "none", 0});
    variants.push_back({"lru", "LRU cache", b, policy, 0});
    variants.push_back({"lru+prefetch", "LRU cache + speculative loading", b, policy, lookahead});
    variants.push_back({"hybrid", "Hybrid: each miss copied or computed on the CPU (+ LRU, speculative loading)", b,
                        policy, lookahead, 0, true});
    // The peer's static placement (llama.cpp --n-cpu-moe 8 on the reference machine).
    const int n = std::min(cpu_layers_arg > 0 ? cpu_layers_arg : 8, model_layers);
    variants.push_back({"cpu-layers-" + std::to_string(n), "Experts of the first " + std::to_string(n) +
                        " layers on the CPU, the rest cached on the GPU", b, policy, lookahead, n});
    variants.push_back({"all-cpu", "All experts on the CPU, dense weights on the GPU", -1, policy, 0, model_layers});
    variants.push_back({"cpu-only", "CPU only (no GPU)", -1, policy, 0, 0, false, true});
    variants.push_back({"all-resident", "All experts resident", -1, policy, 0});
  } else {
    Variant v{budget < 0 ? "all-resident" : "lru+prefetch",
              budget < 0 ? "All experts resident" : "LRU cache + speculative loading", budget, policy,
              budget < 0 ? 0 : lookahead, cpu_layers_arg, hybrid};
    if (hybrid) v.name = "hybrid", v.label = "Hybrid: each miss copied or computed on the CPU";
    if (cpu_layers_arg > 0) v.name = "cpu-layers-" + std::to_string(cpu_layers_arg), v.label = "Static CPU layers";
    variants.push_back(v);
  }
  if (args.has("--variants")) {  // keep the named ones, in the order above
    const std::string keep = "," + args.str("--variants") + ",";
    std::erase_if(variants, [&](const Variant& v) { return keep.find("," + v.name + ",") == std::string::npos; });
    if (variants.empty()) throw cli::UsageError("--variants: none of '" + args.str("--variants") + "' is a variant here");
  }

  const GpuInfo gpu = gpu_info();
  const int hw = int(std::thread::hardware_concurrency());
  const int steps = int(variants.size()) * (repeat + 1) + 1;
  int step = 0;
  progress(step++, steps, "measuring transfer peaks");
  const double h2d = cuda ? measure_h2d_gbps(256ull << 20) : 0;
  const double host_read = host_read_gbps(threads > 0 ? threads : std::max(1, hw));

  json out_variants = json::array();
  std::vector<std::string> notes;  // variants that could not run, and why (shown by the editor's view)
  if (!replay_note.empty()) notes.push_back(replay_note);
  json model_info;
  std::string backend;
  std::printf("%-14s %12s %10s %12s %9s %9s %9s %10s %10s %9s %9s\n", "variant", "prefill t/s", "TTFT ms",
              "decode t/s", "hit rate", "pf prec", "pf recall", "copy GB/s", "misses/tok", "cpu/tok", "cpu GB/s");
  for (const Variant& v : variants) {
    progress(step++, steps, v.name + " load");
    LoadOptions o;
    o.model_dir = model;
    o.device = cuda && !v.on_cpu ? Device::Cuda : Device::Cpu;
    o.cpu_expert_layers = v.cpu_layers;
    o.hybrid = v.hybrid;
    o.threads = threads;
    o.max_context = context;
    o.kv_slots = 1;
    o.vram_budget = v.budget;
    o.cache_policy = v.policy;
    o.prefetch_lookahead = v.lookahead;
    o.prefetch_guesses = guesses;
    std::unique_ptr<Engine> engine;
    try {
      engine = Engine::load(o);
    } catch (const Error& e) {
      if (v.name != "all-resident" || !ablate) throw;
      std::fprintf(stderr, "moe bench: all-resident skipped: %s\n", e.what());
      notes.push_back(std::string("all-resident skipped: ") + e.what());
      step += repeat;
      continue;
    }
    if (replay != nullptr && o.device == Device::Cuda) engine->replay_routing(replay);
    const ModelConfig& c = engine->config();
    backend = engine->backend_name();
    if (model_info.is_null())
      model_info = {{"dir", model},
                    {"name", std::filesystem::path(model).lexically_normal().filename().string()},
                    {"weights", c.weight_dtype},
                    {"layers", c.num_layers},
                    {"experts", c.num_experts},
                    {"experts_per_token", c.experts_per_token}};
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> tok(3, c.vocab_size - 1);
    GenerateRequest req;
    req.prompt.resize(size_t(prompt_len));
    for (int32_t& t : req.prompt) t = tok(rng);
    req.max_new_tokens = gen;
    req.stop_at_eos = false;
    req.reuse_prefix = false;

    std::vector<Run> runs;
    for (int r = 0; r < repeat; ++r) {
      progress(step++, steps, v.name + " run " + std::to_string(r + 1) + "/" + std::to_string(repeat));
      engine->reset_counters();
      Counters at_first;
      bool first = true;
      const GenerateResult res = engine->generate(req, [&](int32_t) {
        if (first) at_first = engine->counters();  // decode counters start here
        first = false;
        return true;
      });
      Run run;
      run.ttft_ms = res.prefill_ms;
      run.prefill_tok_s = double(prompt_len) / (res.prefill_ms / 1e3);
      run.decode_tok_s = double(res.tokens.size() - 1) / (res.decode_ms / 1e3);
      run.decode = diff(engine->counters(), at_first);
      runs.push_back(run);
    }
    auto med = [&](auto f) {
      std::vector<double> x;
      for (const Run& r : runs) x.push_back(f(r));
      return median(x);
    };
    const Counters last = engine->counters();
    const Counters& d = runs.back().decode;  // cache behaviour of the last run's decode phase
    const double tokens = double(gen - 1);
    const double uses = double(d.expert_hits + d.expert_misses);
    const bool cached = uses > 0;
    const double hit = cached ? double(d.expert_hits) / uses : double(NAN);
    const double prec = d.prefetch_issued ? double(d.prefetch_used) / double(d.prefetch_issued) : double(NAN);
    const double recall = d.prefetch_used + d.expert_misses
                              ? double(d.prefetch_used) / double(d.prefetch_used + d.expert_misses) : double(NAN);
    const double copy_gbps = d.copy_ms > 0 ? double(d.bytes_copied) / (d.copy_ms * 1e6) : double(NAN);
    const double misses_tok = cached ? double(d.expert_misses) / tokens : double(NAN);
    const double bytes_tok = double(d.bytes_copied) / tokens;
    const double bound = h2d > 0 && bytes_tok > 0 ? h2d * 1e9 / bytes_tok : double(NAN);
    const bool cpu_served = d.expert_cpu_computed > 0;
    const double cpu_gbps = d.cpu_expert_ms > 0 ? double(d.cpu_expert_bytes) / (d.cpu_expert_ms * 1e6) : double(NAN);
    json jr = json::array();
    for (const Run& r : runs)
      jr.push_back({{"prefill_tok_s", r.prefill_tok_s}, {"ttft_ms", r.ttft_ms}, {"decode_tok_s", r.decode_tok_s}});
    const uint64_t vram = last.vram.dense + last.vram.experts + last.vram.kv_cache + last.vram.workspace;
    out_variants.push_back(
        {{"name", v.name},
         {"label", v.label},
         {"prefill_tok_s", med([](const Run& r) { return r.prefill_tok_s; })},
         {"ttft_ms", med([](const Run& r) { return r.ttft_ms; })},
         {"decode_tok_s", med([](const Run& r) { return r.decode_tok_s; })},
         {"runs", jr},
         {"cache",
          {{"hit_rate", nullable(hit, cached)},
           {"prefetch_precision", nullable(prec, true)},
           {"prefetch_recall", nullable(recall, cached && v.lookahead > 0)},
           {"copy_gbps", nullable(copy_gbps, true)},
           {"copy_fraction_of_peak", nullable(copy_gbps / h2d, h2d > 0)},
           {"misses_per_token", nullable(misses_tok, cached)},
           {"copied_bytes_per_token", nullable(bytes_tok, cached)},
           {"transfer_bound_tok_s", nullable(bound, cached)},
           {"cpu_computed_per_token", nullable(double(d.expert_cpu_computed) / tokens, cached || cpu_served)}}},
         // How routed experts not in VRAM were served in decode, and what each pipe achieved
         // (copy: bytes over the copy stream's busy time; CPU: expert bytes over the CPU calls' wall time).
         {"served",
          {{"copied_per_token", nullable(misses_tok, cached)},
           {"cpu_computed_per_token", nullable(double(d.expert_cpu_computed) / tokens, cuda && !v.on_cpu)},
           {"copy_gbps", nullable(copy_gbps, true)},
           {"cpu_gbps", nullable(cpu_gbps, cpu_served)},
           {"cpu_bytes_per_token", nullable(double(d.cpu_expert_bytes) / tokens, cpu_served)}}},
         {"memory", {{"vram_bytes", cuda && !v.on_cpu ? json(vram) : json(nullptr)}, {"host_bytes", rss_bytes()}}}});
    const json& j = out_variants.back();
    auto fmt = [](const json& x, int decimals) {
      if (x.is_null()) return std::string("—");
      char b[32];
      std::snprintf(b, sizeof b, "%.*f", decimals, x.get<double>());
      return std::string(b);
    };
    std::printf("%-14s %12.1f %10.1f %12.2f %9s %9s %9s %10s %10s %9s %9s\n", v.name.c_str(),
                j["prefill_tok_s"].get<double>(), j["ttft_ms"].get<double>(), j["decode_tok_s"].get<double>(),
                fmt(j["cache"]["hit_rate"], 3).c_str(), fmt(j["cache"]["prefetch_precision"], 3).c_str(),
                fmt(j["cache"]["prefetch_recall"], 3).c_str(), fmt(j["cache"]["copy_gbps"], 1).c_str(),
                fmt(j["cache"]["misses_per_token"], 2).c_str(), fmt(j["served"]["cpu_computed_per_token"], 2).c_str(),
                fmt(j["served"]["cpu_gbps"], 1).c_str());
    std::fflush(stdout);
  }
  progress(steps, steps, "done");
  if (h2d > 0) std::printf("pinned host->device peak: %.1f GB/s\n", h2d);
  std::printf("host RAM read (%d threads): %.1f GB/s\n", threads > 0 ? threads : hw, host_read);

  char created[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const json report = {
      {"schema", "localmoe.bench/1"},
      {"created", created},
      {"command", command},
      {"machine",
       {{"cpu", cpu_model()},
        {"cpu_threads", hw},
        {"host_ram_bytes", host_ram()},
        {"gpu", gpu.name.empty() ? json(nullptr) : json(gpu.name)},
        {"gpu_memory_bytes", gpu.name.empty() ? json(nullptr) : json(gpu.memory_bytes)}}},
      {"model", model_info},
      {"settings",
       {{"device", device},
        {"backend", backend},
        {"prompt_len", prompt_len},
        {"gen", gen},
        {"repeat", repeat},
        {"vram_budget_bytes", budget >= 0 && cuda ? json(budget) : json(nullptr)},
        {"threads", threads > 0 ? threads : hw},
        {"policy", policy},
        {"lookahead", lookahead},
        {"guesses", guesses}}},
      {"peak", {{"h2d_gbps", h2d > 0 ? json(h2d) : json(nullptr)}, {"host_read_gbps", host_read}}},
      {"variants", out_variants},
      {"notes", notes}};
  if (args.has("--out")) {
    const std::string path = args.str("--out"), tmp = path + ".tmp";
    {
      std::ofstream f(tmp);
      f << report.dump(2) << "\n";
      if (!f) throw Error("cannot write " + tmp + ": check the folder is writable and has space");
    }
    std::filesystem::rename(tmp, path);
    std::fprintf(stderr, "moe bench: wrote %s\n", path.c_str());
  }
  return 0;
}

}  // namespace lm::tools
