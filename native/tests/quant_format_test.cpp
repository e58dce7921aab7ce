// Quantized model format end to end on the repo's tiny golden checkpoints: `moe quantize` output
// re-read by the validating reader equals a fresh quantization, dense tensors are byte-identical,
// expert ranges are aligned and hold their tensors; corrupt files give errors naming the file;
// cancellation and bad input leave nothing behind.
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "io/safetensors.h"
#include "localmoe/engine.h"
#include "quant/gemv.h"
#include "quant/hqq.h"
#include "quant/packed_experts.h"
#include "quant/presets.h"
#include "quant/qformat.h"
#include "quant/quantize_model.h"
#include "quant_test_util.h"

using namespace lm::quant;
namespace fs = std::filesystem;

static const std::string kFixtures = LM_GOLDEN_DIR;  // test/fixtures/golden (set by CMake)

static fs::path scratch_dir() {
  const fs::path p = fs::temp_directory_path() / ("localmoe-quant-test-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

template <class Fn>
static std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const lm::Error& e) {
    return e.what();
  }
  return "";
}

static bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

// Every quantized weight equals quantize() of the source tensor bit for bit; dense tensors are the
// source bytes; expert ranges are 4 KiB aligned and hold exactly their weights.
static void round_trip(const std::string& model, const std::string& preset, uint64_t shard_bytes,
                       const fs::path& tmp) {
  const fs::path out = tmp / (model + "-" + preset);
  QuantizeOptions opt;
  opt.model_dir = kFixtures + "/" + model;
  opt.out_dir = out.string();
  opt.preset = preset;
  opt.threads = 2;
  opt.shard_bytes = shard_bytes;
  int progress_calls = 0;
  opt.on_progress = [&](const QuantizeProgress& p) {
    ++progress_calls;
    QCHECK(p.tensors_done == progress_calls && p.bytes_in_done <= p.bytes_in_total, "progress out of order");
  };
  const QuantizeSummary s = quantize_model(opt);
  QCHECK(fs::exists(out / "config.json"), "config.json not copied");
  QCHECK(!fs::exists(out.string() + ".partial-" + std::to_string(::getpid())), "temporary folder left behind");

  const lm::Checkpoint src(opt.model_dir);
  const QuantizedModel q(out.string());
  QCHECK(q.preset() == preset && q.method() == "hqq", "metadata preset/method");
  const Preset& p = find_preset(preset);
  int n_quant = 0, n_dense = 0;
  for (const lm::TensorInfo* t : src.all()) {
    const TensorDecision d = decide(t->name, t->shape, p);
    if (!d.quantize) {
      const RawTensor* r = q.dense(t->name);
      QCHECK(r && r->bytes == t->bytes && std::memcmp(r->data, t->data, t->bytes) == 0,
             "%s: dense tensor not stored unchanged", t->name.c_str());
      ++n_dense;
      continue;
    }
    QCHECK(q.is_quantized(t->name), "%s not quantized", t->name.c_str());
    std::vector<float> w(static_cast<size_t>(t->numel()));
    for (size_t i = 0; i < w.size(); ++i) w[i] = lm::load_f32(t->data, t->dtype, i);
    const PackedTensor ref = quantize(w.data(), t->shape[0], t->shape[1], d.spec, Method::Hqq);
    const PackedView v = q.packed(t->name);
    QCHECK(v.rows == ref.rows && v.cols == ref.cols && v.spec.bits == ref.spec.bits &&
               v.spec.group == ref.spec.group && v.spec.meta_group == ref.spec.meta_group &&
               v.scale_shift == ref.scale_shift, "%s: settings differ", t->name.c_str());
    QCHECK(std::memcmp(v.codes, ref.codes.data(), ref.codes.size()) == 0 &&
               std::memcmp(v.scale_codes, ref.scale_codes.data(), ref.scale_codes.size()) == 0 &&
               std::memcmp(v.zero_codes, ref.zero_codes.data(), ref.zero_codes.size()) == 0 &&
               std::memcmp(v.scale_meta, ref.scale_meta.data(), 2 * ref.scale_meta.size()) == 0 &&
               std::memcmp(v.zero_meta, ref.zero_meta.data(), 2 * ref.zero_meta.size()) == 0,
           "%s: stored bytes differ from a fresh quantization", t->name.c_str());
    QCHECK(reinterpret_cast<uintptr_t>(v.codes) % kTensorAlign == 0, "%s: codes not aligned", t->name.c_str());
    // The mmap'd view works with the kernels.
    std::vector<float> x(static_cast<size_t>(v.cols), 0.5f), y(static_cast<size_t>(v.rows));
    std::vector<double> yr(static_cast<size_t>(v.rows));
    gemv(v, x.data(), y.data(), 0, v.rows);
    gemv_reference(v, x.data(), yr.data(), nullptr);
    for (int64_t r = 0; r < v.rows; ++r)
      QCHECK(std::fabs(y[static_cast<size_t>(r)] - yr[static_cast<size_t>(r)]) <= 1e-3 * (1 + std::fabs(yr[static_cast<size_t>(r)])),
             "%s: gemv on the mapped view", t->name.c_str());
    if (d.role == TensorRole::Expert) {
      const ExpertRange& er = q.expert_range(d.layer, d.expert);
      QCHECK(er.offset % kExpertAlign == 0 && er.bytes % kExpertAlign == 0, "expert range alignment");
      QCHECK(v.codes >= er.data && v.zero_meta + 2 * v.n_meta() <= reinterpret_cast<const uint16_t*>(er.data + er.bytes),
             "%s: outside its expert range", t->name.c_str());
    }
    ++n_quant;
  }
  QCHECK(n_quant == s.quantized && n_dense == s.kept, "summary counts %d/%d vs %d/%d", s.quantized, s.kept, n_quant, n_dense);
  std::printf("%s %s: %d quantized, %d kept, %d shard(s), %llu -> %llu bytes, %zu experts\n", model.c_str(),
              preset.c_str(), n_quant, n_dense, s.shards, static_cast<unsigned long long>(s.bytes_in),
              static_cast<unsigned long long>(s.bytes_out), q.num_experts());
}

// Replaces the first `from` in the shard's header with `to` (same length) in a copy of the folder;
// an empty `to` instead changes the last digit of the number right after `from` (breaks alignment).
static fs::path corrupt_copy(const fs::path& good, const fs::path& dst, const std::string& from, const std::string& to) {
  fs::remove_all(dst);
  fs::copy(good, dst);
  fs::path shard;
  for (const auto& e : fs::directory_iterator(dst))
    if (e.path().extension() == ".safetensors") shard = e.path();
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  std::string head(8192, '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  const size_t at = head.find(from);
  QCHECK(at != std::string::npos && (to.empty() || from.size() == to.size()), "pattern '%s' not in header",
         from.c_str());
  f.clear();
  if (to.empty()) {
    size_t end = at + from.size();
    while (std::isdigit(static_cast<unsigned char>(head[end]))) ++end;
    QCHECK(end > at + from.size(), "no number after '%s'", from.c_str());
    const char digit = head[end - 1] == '9' ? '8' : static_cast<char>(head[end - 1] + 1);
    f.seekp(static_cast<std::streamoff>(end - 1));
    f.write(&digit, 1);
  } else {
    f.seekp(static_cast<std::streamoff>(at));
    f.write(to.data(), static_cast<std::streamsize>(to.size()));
  }
  return dst;
}

static void corrupt_files(const fs::path& tmp) {
  const fs::path good = tmp / "tiny-fp16-swa-tied-4bit";
  QCHECK(error_of([&] { QuantizedModel q(good.string()); }).empty(), "good model must open");
  struct Case { const char* from; const char* to; const char* expect; };
  const Case cases[] = {
      {"\"format_version\":\"1\"", "\"format_version\":\"9\"", "version"},
      {"\"format\":\"localmoe-hqq\"", "\"format\":\"localmoe-xqq\"", "not a LocalMoE quantized file"},
      {"\\\"1.0\\\":[", "", "aligned"},  // shifts the begin of expert 1.0's range
      {"\"bits\\\":4", "\"bits\\\":5", "bits must be"},
      {"\"dtype\":\"U8\"", "\"dtype\":\"I8\"", "unsupported dtype"},
  };
  int i = 0;
  for (const Case& c : cases) {
    const fs::path bad = corrupt_copy(good, tmp / ("bad" + std::to_string(i++)), c.from, c.to);
    const std::string err = error_of([&] { QuantizedModel q(bad.string()); });
    QCHECK(contains(err, c.expect) && contains(err, bad.string()), "'%s' -> '%s': error '%s' lacks '%s' or the path",
           c.from, c.to, err.c_str(), c.expect);
  }
  // Truncated shard, missing shard, broken index.
  {
    const fs::path bad = tmp / "trunc";
    fs::remove_all(bad);
    fs::copy(good, bad);
    for (const auto& e : fs::directory_iterator(bad))
      if (e.path().extension() == ".safetensors") fs::resize_file(e.path(), fs::file_size(e.path()) - 100);
    const std::string err = error_of([&] { QuantizedModel q(bad.string()); });
    QCHECK(contains(err, "past the end") || contains(err, "outside"), "truncated: '%s'", err.c_str());
    for (const auto& e : fs::directory_iterator(bad))
      if (e.path().extension() == ".safetensors") fs::remove(e.path());
    QCHECK(contains(error_of([&] { QuantizedModel q(bad.string()); }), "missing"), "missing shard");
    std::ofstream(bad / "model.safetensors.index.json") << "{not json";
    QCHECK(contains(error_of([&] { QuantizedModel q(bad.string()); }), "not valid JSON"), "bad index");
    QCHECK(contains(error_of([&] { QuantizedModel q((tmp / "nope").string()); }), "moe quantize"), "no folder");
  }
}

static void bad_input_and_cancel(const fs::path& tmp) {
  QuantizeOptions opt;
  opt.model_dir = kFixtures + "/tiny-fp32";
  opt.preset = "paper-3bit";
  // Output exists: refused, untouched.
  opt.out_dir = (tmp / "tiny-fp16-swa-tied-4bit").string();
  QCHECK(contains(error_of([&] { quantize_model(opt); }), "already exists"), "existing --out");
  opt.out_dir = (tmp / "fresh").string();
  opt.preset = "paper-5bit";
  QCHECK(contains(error_of([&] { quantize_model(opt); }), "paper-2bit"), "bad preset lists the valid ones");
  opt.preset = "paper-3bit";
  opt.model_dir = (tmp / "no-such-model").string();
  QCHECK(!error_of([&] { quantize_model(opt); }).empty(), "missing model");
  QCHECK(!fs::exists(opt.out_dir), "failed run left %s", opt.out_dir.c_str());
  // Cancel after 5 tensors: Cancelled, nothing left (neither OUT nor the temporary folder).
  opt.model_dir = kFixtures + "/tiny-fp32";
  std::atomic<bool> cancel{false};
  opt.cancel = &cancel;
  opt.on_progress = [&](const QuantizeProgress& p) { if (p.tensors_done == 5) cancel = true; };
  bool cancelled = false;
  try {
    quantize_model(opt);
  } catch (const Cancelled&) {
    cancelled = true;
  }
  QCHECK(cancelled, "cancel flag ignored");
  // A leftover temporary folder of a killed run (its pid no longer exists) is removed by the next run.
  const fs::path stale = tmp / "stale.partial-2147480000";
  fs::create_directories(stale);
  std::ofstream(stale / "model-00001-of-00001.safetensors") << "half-written";
  opt.cancel = nullptr;
  opt.on_progress = nullptr;
  opt.out_dir = (tmp / "stale").string();
  quantize_model(opt);
  QCHECK(!fs::exists(stale) && fs::exists(tmp / "stale" / "config.json"), "stale temporary folder not cleaned");
  for (const auto& e : fs::directory_iterator(tmp))
    QCHECK(!contains(e.path().filename().string(), "fresh"), "cancel left %s", e.path().c_str());
}

// Loader views: every expert's range copied elsewhere (as an offloader's cache slot would hold it)
// gives views whose GEMV is bit-identical to the mmap'd ones; dense weights map to WeightView.
static void loader_views(const fs::path& tmp) {
  const QuantizedModel q((tmp / "tiny-fp32-paper-3bit").string());
  const lm::Checkpoint src(kFixtures + "/tiny-fp32");
  const int L = 2, E = 8;
  const lm::TensorInfo* w1 = src.find("model.layers.0.block_sparse_moe.experts.0.w1.weight");
  QCHECK(w1 != nullptr, "fixture layout changed");
  const int64_t F = w1->shape[0], D = w1->shape[1];
  const PackedExperts experts(q, L, E, D, F);
  for (int l = 0; l < L; ++l) {
    for (int e = 0; e < E; ++e) {
      const ExpertRange& r = experts.range(l, e);
      auto* slot = static_cast<uint8_t*>(std::aligned_alloc(kExpertAlign, r.bytes));
      std::memcpy(slot, r.data, r.bytes);  // "one expert = one copy"
      const PackedExpert moved = experts.layout(l, e).at(slot);
      const PackedExpert& home = experts.get(l, e);
      const PackedView* a[3] = {&home.w1, &home.w2, &home.w3};
      const PackedView* b[3] = {&moved.w1, &moved.w2, &moved.w3};
      for (int i = 0; i < 3; ++i) {
        QCHECK(b[i]->codes >= slot && b[i]->codes < slot + r.bytes, "view not inside the copy");
        std::vector<float> x(static_cast<size_t>(a[i]->cols)), ya(static_cast<size_t>(a[i]->rows)), yb(ya.size());
        for (size_t k = 0; k < x.size(); ++k) x[k] = std::sin(static_cast<float>(k));
        gemv(*a[i], x.data(), ya.data(), 0, a[i]->rows);
        gemv(*b[i], x.data(), yb.data(), 0, b[i]->rows);
        QCHECK(std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)) == 0, "expert %d.%d w%d: copy differs", l, e, i + 1);
      }
      std::free(slot);
    }
  }
  const lm::WeightView norm = dense_weight(q, "model.norm.weight");
  const lm::TensorInfo* sn = src.find("model.norm.weight");
  QCHECK(norm.rows == 1 && norm.cols == sn->numel() && norm.dtype == sn->dtype &&
             std::memcmp(norm.data, sn->data, sn->bytes) == 0, "dense_weight(model.norm.weight)");
  QCHECK(contains(error_of([&] { dense_weight(q, "model.nothing"); }), "missing"), "missing dense");
  QCHECK(contains(error_of([&] { PackedExperts bad(q, L, E, D + 16, F); }), "config.json"), "shape mismatch");
  QCHECK(contains(error_of([&] { PackedExperts bad(q, L + 1, E, D, F); }), "not quantized"), "missing layer");
}

int main() {
  const fs::path tmp = scratch_dir();
  round_trip("tiny-bf16-sharded", "paper-2bit", 256 << 10, tmp);  // small shards: several files
  round_trip("tiny-fp32", "paper-3bit", 4ull << 30, tmp);
  round_trip("tiny-fp16-swa-tied", "4bit", 4ull << 30, tmp);
  round_trip("tiny-fp32", "2bit-g64", 4ull << 30, tmp);
  loader_views(tmp);
  corrupt_files(tmp);
  bad_input_and_cancel(tmp);
  fs::remove_all(tmp);
  std::printf("quant_format_test: OK\n");
  return 0;
}
