// `moe quantize`: command-line front end of quantize_model (progress, Ctrl-C, summary).
//
// Registration in native/tools/moe.cpp's table (owned by the engine developer):
//   {"quantize", lm::tools::kQuantizeUsage, lm::tools::cmd_quantize},
// and in tools/commands.h:  int cmd_quantize(const std::vector<std::string>& args);
//                           extern const char* const kQuantizeUsage;
#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "quant/presets.h"
#include "quant/quantize_model.h"
#include "tools/cli.h"

namespace lm::tools {

extern const char* const kQuantizeUsage;
const char* const kQuantizeUsage =
    "moe quantize --model IN --out OUT --preset paper-2bit|paper-3bit|4bit|2bit-g64\n"
    "        [--threads N] [--method hqq|rtn] [--shard-mb N]\n"
    "    HQQ-quantize a Hugging Face Mixtral folder: attention 4-bit, experts per preset,\n"
    "    router/norms/embeddings/lm_head kept; OUT appears only when complete (Ctrl-C leaves nothing)";

int cmd_quantize(const std::vector<std::string>& args);

namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_signal(int) { g_cancel.store(true); }

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000.0 && u < 4) {
    b /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
  return buf;
}

std::string human_time(double s) {
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

}  // namespace

int cmd_quantize(const std::vector<std::string>& argv) {
  const cli::Args args(argv, {"--model", "--out", "--preset", "--threads", "--method", "--shard-mb"}, {});
  quant::QuantizeOptions opt;
  opt.model_dir = args.required("--model");
  opt.out_dir = args.required("--out");
  opt.preset = args.required("--preset");
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  opt.threads = static_cast<int>(args.integer("--threads", hw, 1, 1024));
  opt.shard_bytes = static_cast<uint64_t>(args.integer("--shard-mb", 4096, 1, 1 << 20)) << 20;
  const std::string method = args.str("--method", "hqq");
  if (method != "hqq" && method != "rtn") throw cli::UsageError("--method must be hqq or rtn");
  opt.method = method == "hqq" ? quant::Method::Hqq : quant::Method::Rtn;
  quant::find_preset(opt.preset);  // unknown preset: lm::Error listing the valid ones, before any work

  g_cancel.store(false);
  opt.cancel = &g_cancel;
  double last_print = -1.0;
  opt.on_progress = [&](const quant::QuantizeProgress& p) {
    const bool last = p.tensors_done == p.tensors_total;
    if (!last && p.elapsed_s - last_print < 1.0) return;  // at most one line per second
    last_print = p.elapsed_s;
    const double frac = p.bytes_in_total ? static_cast<double>(p.bytes_in_done) / static_cast<double>(p.bytes_in_total) : 1.0;
    const double eta = frac > 0 ? p.elapsed_s * (1.0 - frac) / frac : 0.0;
    std::fprintf(stderr, "[%d/%d tensors] %s / %s read, %s written, %s/s, ETA %s  %s\n", p.tensors_done,
                 p.tensors_total, human_bytes(static_cast<double>(p.bytes_in_done)).c_str(),
                 human_bytes(static_cast<double>(p.bytes_in_total)).c_str(),
                 human_bytes(static_cast<double>(p.bytes_out)).c_str(),
                 human_bytes(p.elapsed_s > 0 ? static_cast<double>(p.bytes_in_done) / p.elapsed_s : 0.0).c_str(),
                 human_time(eta).c_str(), p.current.c_str());
  };
  auto old_int = std::signal(SIGINT, on_signal);
  auto old_term = std::signal(SIGTERM, on_signal);
  struct Restore {
    decltype(old_int) i, t;
    ~Restore() {
      std::signal(SIGINT, i);
      std::signal(SIGTERM, t);
    }
  } restore{old_int, old_term};
  try {
    const quant::QuantizeSummary s = quant::quantize_model(opt);
    nlohmann::json out = {{"out", opt.out_dir}, {"preset", opt.preset}, {"method", method},
                          {"quantized_tensors", s.quantized}, {"kept_tensors", s.kept},
                          {"shards", s.shards}, {"bytes_in", s.bytes_in}, {"bytes_out", s.bytes_out},
                          {"seconds", s.seconds}, {"notes", s.notes}};
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const quant::Cancelled& e) {
    std::fprintf(stderr, "moe quantize: %s\n", e.what());
    return 130;
  }
}

}  // namespace lm::tools
