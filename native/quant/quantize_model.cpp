// `moe quantize` as a library function: plan the output layout, then stream tensors through the
// quantizer into shard files (see quantize_model.h and qformat.h).
//
// Phases: (1) open and validate the source checkpoint (engine's io/ reader, mmap); (2) decide per
// tensor (presets.h) and compute every output tensor's size — packed sizes depend only on shape and
// settings, so the whole layout (shards, offsets, pads, expert ranges) is known before any data;
// (3) per shard: reserve the header, stream the data in layout order, then write the header with the
// per-tensor scale_shift values now known (reserved with a wider placeholder, padded with spaces);
// (4) copy the non-weight files, write the index, re-open with the validating reader, rename.
#include "quantize_model.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "common/dtype.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "presets.h"
#include "qformat.h"

namespace lm::quant {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kShiftPlaceholder = -99999;  // wider than any real scale_shift (|shift| <= 126)

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

struct OutTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
  uint64_t begin = 0;  // relative to the shard's data buffer
};

// One source tensor and where its output goes.
struct Item {
  const TensorInfo* src = nullptr;
  TensorDecision d;
  std::vector<OutTensor> out;  // 5 for a quantized weight, 1 otherwise
  int shard = 0;
  uint64_t bytes() const {
    uint64_t n = 0;
    for (const OutTensor& t : out) n += align_up(t.bytes, kTensorAlign);
    return n;
  }
};

struct Shard {
  std::vector<int> items;                       // indices into the item list, in layout order
  std::vector<OutTensor> pads;
  std::map<std::string, std::pair<uint64_t, uint64_t>> experts;  // "L.E" -> [begin, end)
  uint64_t data_bytes = 0;
  std::string file;
};

// Sort key: non-layer tensors first, then per layer its dense tensors, then experts 0..E-1 with
// w1, w2, w3 adjacent (so an expert's range is contiguous).
std::tuple<int, int, std::string> order_key(const std::string& name, const TensorDecision& d) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "model.layers.%d.", &layer) != 1) layer = -1;
  return {layer, d.role == TensorRole::Expert ? d.expert : -1, name};
}

json header_json(const std::vector<Item>& items, const Shard& sh, const std::string& preset,
                 Method method, const std::map<std::string, int>& shifts, const std::string& source) {
  json h = json::object();
  json quant = json::object();
  auto put = [&](const OutTensor& t) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {t.begin, t.begin + t.bytes}}};
  };
  for (int i : sh.items) {
    const Item& it = items[i];
    for (const OutTensor& t : it.out) put(t);
    if (it.d.quantize) {
      const auto s = shifts.find(it.src->name);
      quant[it.src->name] = {{"bits", it.d.spec.bits}, {"group", it.d.spec.group},
                             {"meta_group", it.d.spec.meta_group}, {"rows", it.src->shape[0]},
                             {"cols", it.src->shape[1]},
                             {"scale_shift", s == shifts.end() ? kShiftPlaceholder : s->second}};
    }
  }
  for (const OutTensor& t : sh.pads) put(t);
  json experts = json::object();
  for (const auto& [k, r] : sh.experts) experts[k] = {r.first, r.second};
  h["__metadata__"] = {{"format", kFormatName},
                       {"format_version", std::to_string(kFormatVersion)},
                       {"preset", preset},
                       {"method", method == Method::Hqq ? "hqq" : "rtn"},
                       {"quant", quant.dump()},
                       {"experts", experts.dump()},
                       {"source", source}};
  return h;
}

// FILE* with error checks that name the path.
class OutFile {
 public:
  explicit OutFile(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (!f_) throw Error("cannot create " + path + ": check that the output folder is writable");
  }
  ~OutFile() {
    if (f_) std::fclose(f_);
  }
  void write(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n)
      throw Error("writing " + path_ + " failed (disk full?): free space and run `moe quantize` again");
    pos_ += n;
  }
  void zeros(uint64_t n) {
    static const std::vector<uint8_t> z(1 << 16, 0);
    while (n) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(n, z.size()));
      write(z.data(), k);
      n -= k;
    }
  }
  void seek(uint64_t off) {
    if (std::fseek(f_, static_cast<long>(off), SEEK_SET) != 0) throw Error("seek failed in " + path_);
    pos_ = off;
  }
  void close_synced() {
    if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0)
      throw Error("writing " + path_ + " failed (disk full?): free space and run `moe quantize` again");
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) throw Error("closing " + path_ + " failed");
  }
  uint64_t pos() const { return pos_; }

 private:
  std::string path_;
  FILE* f_;
  uint64_t pos_ = 0;
};

// Removes the temporary folder unless released (success path renames it away first).
struct TempDirGuard {
  fs::path path;
  bool armed = true;
  ~TempDirGuard() {
    if (!armed) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<float> to_f32(const TensorInfo& t) {
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = load_f32(t.data, t.dtype, i);
  return out;
}

}  // namespace

QuantizeSummary quantize_model(const QuantizeOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const Preset& preset = find_preset(opt.preset);
  const fs::path out_dir = fs::path(opt.out_dir).lexically_normal();
  if (out_dir.empty() || out_dir.filename().empty())
    throw Error("--out '" + opt.out_dir + "' is not a folder name: give the path of a new folder");
  if (fs::exists(out_dir))
    throw Error(out_dir.string() + " already exists: choose a new --out folder or delete it first");
  const SyntheticSource* synth = opt.synthetic;
  if (!synth && fs::weakly_canonical(fs::path(opt.model_dir)) == fs::weakly_canonical(out_dir))
    throw Error("--out must differ from --model");
  // The source: a checkpoint (validated: lm::Error naming the file) or a synthetic tensor list.
  std::unique_ptr<Checkpoint> ck;
  std::vector<const TensorInfo*> source_tensors;
  uint64_t source_bytes = 0;
  if (synth) {
    for (const TensorInfo& t : synth->tensors) source_tensors.push_back(&t);
  } else {
    ck = std::make_unique<Checkpoint>(opt.model_dir);
    source_tensors = ck->all();
  }
  for (const TensorInfo* t : source_tensors) source_bytes += t->bytes;

  // (2) Decisions and output sizes.
  std::vector<Item> items;
  for (const TensorInfo* t : source_tensors) {
    Item it;
    it.src = t;
    it.d = decide(t->name, t->shape, preset);
    if (it.d.quantize) {
      const int64_t rows = t->shape[0], cols = t->shape[1];
      const int64_t groups = cols / it.d.spec.group;
      const int64_t n_meta = (rows * groups + it.d.spec.meta_group - 1) / it.d.spec.meta_group;
      const PackedNames n = packed_names(t->name);
      it.out = {{n.codes, "U8", {rows, row_bytes(it.d.spec.bits, cols)}, 0, 0},
                {n.scale_codes, "U8", {rows, groups}, 0, 0},
                {n.zero_codes, "U8", {rows, groups}, 0, 0},
                {n.scale_meta, "F16", {n_meta, 2}, 0, 0},
                {n.zero_meta, "F16", {n_meta, 2}, 0, 0}};
      for (OutTensor& o : it.out) {
        uint64_t numel = 1;
        for (int64_t d : o.shape) numel *= static_cast<uint64_t>(d);
        o.bytes = numel * (o.dtype == "U8" ? 1u : 2u);
      }
    } else {
      it.out = {{t->name, dtype_name(t->dtype), t->shape, t->bytes, 0}};
    }
    items.push_back(std::move(it));
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return order_key(a.src->name, a.d) < order_key(b.src->name, b.d);
  });

  // Layout: shards, offsets, pads, expert ranges.
  std::vector<Shard> shards(1);
  uint64_t cursor = 0;
  auto pad_to = [&](uint64_t align) {
    const uint64_t next = align_up(cursor, align);
    if (next > cursor) {
      Shard& sh = shards.back();
      sh.pads.push_back({"__pad." + std::to_string(sh.pads.size()), "U8",
                         {static_cast<int64_t>(next - cursor)}, next - cursor, cursor});
    }
    cursor = next;
  };
  for (size_t i = 0; i < items.size();) {
    // An expert's three weights form one unit that is never split across shards.
    size_t j = i + 1;
    if (items[i].d.role == TensorRole::Expert)
      while (j < items.size() && items[j].d.role == TensorRole::Expert &&
             items[j].d.layer == items[i].d.layer && items[j].d.expert == items[i].d.expert)
        ++j;
    uint64_t unit = 0;
    for (size_t k = i; k < j; ++k) unit += items[k].bytes();
    if (cursor > 0 && align_up(cursor, kExpertAlign) + unit > opt.shard_bytes) {
      shards.back().data_bytes = cursor;
      shards.emplace_back();
      cursor = 0;
    }
    const bool expert = items[i].d.role == TensorRole::Expert;
    if (expert) pad_to(kExpertAlign);
    const uint64_t unit_begin = cursor;
    for (size_t k = i; k < j; ++k) {
      items[k].shard = static_cast<int>(shards.size() - 1);
      shards.back().items.push_back(static_cast<int>(k));
      for (OutTensor& o : items[k].out) {
        pad_to(kTensorAlign);
        o.begin = cursor;
        cursor += o.bytes;
      }
    }
    if (expert) {
      pad_to(kExpertAlign);
      shards.back().experts[std::to_string(items[i].d.layer) + "." + std::to_string(items[i].d.expert)] =
          {unit_begin, cursor};
    }
    i = j;
  }
  pad_to(kTensorAlign);
  shards.back().data_bytes = cursor;
  const int n_shards = static_cast<int>(shards.size());
  for (int s = 0; s < n_shards; ++s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
    shards[static_cast<size_t>(s)].file = buf;
  }

  // (3) Write into the temporary folder. A run killed with SIGKILL (or a power cut) cannot clean up
  // after itself: remove such leftovers (same OUT name, writer process gone) first.
  {
    const fs::path parent = out_dir.has_parent_path() ? out_dir.parent_path() : fs::path(".");
    const std::string prefix = out_dir.filename().string() + ".partial-";
    std::error_code it_ec;
    for (const auto& e : fs::directory_iterator(parent, it_ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind(prefix, 0) != 0) continue;
      const long pid = std::strtol(n.c_str() + prefix.size(), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), it_ec);
    }
  }
  TempDirGuard tmp{fs::path(out_dir.string() + ".partial-" + std::to_string(::getpid()))};
  std::error_code ec;
  fs::remove_all(tmp.path, ec);
  if (!fs::create_directories(tmp.path, ec) || ec)
    throw Error("cannot create " + tmp.path.string() + " (" + ec.message() +
                "): check that the parent of --out exists and is writable");

  QuantizeSummary sum;
  QuantizeProgress prog;
  prog.tensors_total = static_cast<int>(items.size());
  prog.bytes_in_total = source_bytes;
  const std::string source = synth ? "synthetic (moe synth): random weights, " + std::to_string(items.size()) + " tensors"
                                   : std::to_string(items.size()) + " tensors, " + std::to_string(source_bytes) + " bytes";
  std::map<std::string, int> shifts;
  json weight_map = json::object();
  for (Shard& sh : shards) {
    const fs::path path = tmp.path / sh.file;
    // Reserve the header with placeholder shifts; its final text is never longer.
    const std::string reserve = header_json(items, sh, opt.preset, opt.method, {}, source).dump();
    const uint64_t header_len = align_up(8 + reserve.size(), kExpertAlign) - 8;
    OutFile f(path.string());
    f.zeros(8 + header_len);
    // Tensors of this shard in offset order (items and pads interleave).
    std::vector<std::pair<uint64_t, std::pair<int, int>>> order;  // begin -> (item, out index) / (-1, pad)
    for (int i : sh.items)
      for (size_t k = 0; k < items[static_cast<size_t>(i)].out.size(); ++k)
        order.push_back({items[static_cast<size_t>(i)].out[k].begin, {i, static_cast<int>(k)}});
    for (size_t p = 0; p < sh.pads.size(); ++p) order.push_back({sh.pads[p].begin, {-1, static_cast<int>(p)}});
    std::sort(order.begin(), order.end());
    const uint64_t data_start = 8 + header_len;
    int current = -1;
    PackedTensor packed;
    for (const auto& [begin, who] : order) {
      if (opt.cancel && opt.cancel->load()) throw Cancelled("quantization cancelled; nothing was written to " + out_dir.string());
      if (f.pos() != data_start + begin) throw Error("internal error: layout mismatch in " + path.string());
      if (who.first < 0) {
        f.zeros(sh.pads[static_cast<size_t>(who.second)].bytes);
        continue;
      }
      Item& it = items[static_cast<size_t>(who.first)];
      if (!it.d.quantize) {
        f.write(it.src->data, it.src->bytes);
        if (!synth) release_mapped(it.src->data, it.src->bytes);  // read once: keep peak RSS at a few tensors
      } else {
        if (current != who.first && synth) {  // first of the five: fabricate this weight now
          packed = synth->pack(it.src->name, it.src->shape[0], it.src->shape[1], it.d.spec);
          shifts[it.src->name] = packed.scale_shift;
          current = who.first;
        } else if (current != who.first) {  // first of the five: quantize this weight now
          const std::vector<float> w = to_f32(*it.src);
          release_mapped(it.src->data, it.src->bytes);
          try {
            packed = quantize(w.data(), it.src->shape[0], it.src->shape[1], it.d.spec, opt.method, {}, opt.threads);
          } catch (const Error& e) {
            throw Error(it.src->file + ": tensor '" + it.src->name + "': " + e.what());
          }
          shifts[it.src->name] = packed.scale_shift;
          current = who.first;
        }
        switch (who.second) {
          case 0: f.write(packed.codes.data(), packed.codes.size()); break;
          case 1: f.write(packed.scale_codes.data(), packed.scale_codes.size()); break;
          case 2: f.write(packed.zero_codes.data(), packed.zero_codes.size()); break;
          case 3: f.write(packed.scale_meta.data(), 2 * packed.scale_meta.size()); break;
          default: f.write(packed.zero_meta.data(), 2 * packed.zero_meta.size()); break;
        }
      }
      if (who.second + 1 == static_cast<int>(it.out.size())) {  // the item is complete
        if (it.d.quantize) ++sum.quantized; else ++sum.kept;
        if (!it.d.note.empty()) sum.notes.push_back(it.src->name + ": " + it.d.note);
        ++prog.tensors_done;
        prog.bytes_in_done += it.src->bytes;
        prog.bytes_out = sum.bytes_out + f.pos();
        prog.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        prog.current = it.src->name;
        if (opt.on_progress) opt.on_progress(prog);
        packed = PackedTensor{};  // free before the next tensor (peak RAM: one tensor)
      }
      for (const OutTensor& o : it.out) weight_map[o.name] = sh.file;
    }
    if (f.pos() != data_start + sh.data_bytes) throw Error("internal error: shard size mismatch in " + path.string());
    std::string header = header_json(items, sh, opt.preset, opt.method, shifts, source).dump();
    if (header.size() > header_len) throw Error("internal error: header grew past its reservation");
    header.append(header_len - header.size(), ' ');
    f.seek(0);
    uint8_t len[8];
    for (int b = 0; b < 8; ++b) len[b] = static_cast<uint8_t>(header_len >> (8 * b));
    f.write(len, 8);
    f.write(header.data(), header.size());
    f.close_synced();
    sum.bytes_out += data_start + sh.data_bytes;
  }

  // (4) Companion files, index, validation, rename.
  // Everything but weights travels along (config, tokenizer, chat template, generation config, license):
  // the quantized folder must load on its own. Other weight formats (.bin/.pt/.gguf...) are skipped.
  static const std::vector<std::string> kWeightExt = {".safetensors", ".bin", ".pt", ".pth", ".ckpt",
                                                      ".gguf", ".h5", ".msgpack", ".npy", ".npz"};
  if (synth) {
    for (const auto& [name, text] : synth->files) {
      OutFile f((tmp.path / name).string());
      f.write(text.data(), text.size());
      f.close_synced();
    }
  }
  for (const auto& e : fs::directory_iterator(synth ? tmp.path : fs::path(opt.model_dir))) {
    if (synth) break;  // synthetic: only the files written above
    const std::string name = e.path().filename().string();
    const std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || name == "model.safetensors.index.json" ||
        std::find(kWeightExt.begin(), kWeightExt.end(), ext) != kWeightExt.end())
      continue;
    fs::copy_file(e.path(), tmp.path / name, ec);
    if (ec) throw Error("cannot copy " + e.path().string() + " (" + ec.message() + ")");
  }
  {
    const json index = {{"metadata", {{"total_size", sum.bytes_out}, {"format", kFormatName},
                                      {"format_version", std::to_string(kFormatVersion)}, {"preset", opt.preset}}},
                        {"weight_map", weight_map}};
    OutFile f((tmp.path / "model.safetensors.index.json").string());
    const std::string text = index.dump(2) + "\n";
    f.write(text.data(), text.size());
    f.close_synced();
  }
  { const QuantizedModel check(tmp.path.string()); (void)check; }  // throws if anything is off
  if (opt.cancel && opt.cancel->load()) throw Cancelled("quantization cancelled; nothing was written to " + out_dir.string());
  fs::rename(tmp.path, out_dir, ec);
  if (ec) throw Error("cannot rename " + tmp.path.string() + " to " + out_dir.string() + " (" + ec.message() + ")");
  tmp.armed = false;

  sum.shards = n_shards;
  sum.bytes_in = source_bytes;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace lm::quant
