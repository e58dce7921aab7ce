#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/check.h"

namespace lm {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The reference implementation refuses headers above 100 MB; a larger value means a corrupt file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "F32") *out = DType::F32;
  else if (s == "F16") *out = DType::F16;
  else if (s == "BF16") *out = DType::BF16;
  else return false;
  return true;
}

// Non-negative integer JSON value that fits in uint64_t.
bool as_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = uint64_t(v.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& label) {
  const std::string what = label + ": not a valid safetensors file (";
  const std::string fix = "); the file is corrupt or truncated: download or convert it again";
  if (size < 8) fail(what, "only ", size, " bytes, shorter than the 8-byte header length", fix);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little-endian u64
  if (n < 2 || n > kMaxHeaderBytes)
    fail(what, "header length ", n, " is out of range", fix);
  if (n > size - 8)
    fail(what, "header length ", n, " runs past the end of the ", size, "-byte file", fix);
  const uint64_t data_start = 8 + n;
  const uint64_t buffer_size = size - data_start;

  json header;
  try {
    header = json::parse(data + 8, data + 8 + n);
  } catch (const json::exception& e) {
    fail(what, "header is not valid JSON: ", e.what(), fix);
  }
  if (!header.is_object()) fail(what, "header is not a JSON object", fix);

  SafetensorsHeader out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(what, "__metadata__ is not an object", fix);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(what, "__metadata__ value '", m.key(), "' is not a string", fix);
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = what + "tensor '" + name + "': ";
    if (!v.is_object()) fail(where, "entry is not an object", fix);
    const auto dt = v.find("dtype");
    const auto sh = v.find("shape");
    const auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) fail(where, "missing or non-string dtype", fix);
    if (sh == v.end() || !sh->is_array()) fail(where, "missing or non-array shape", fix);
    if (off == v.end() || !off->is_array() || off->size() != 2)
      fail(where, "data_offsets must be [begin, end]", fix);

    TensorInfo t;
    t.name = name;
    t.file = label;
    const std::string dtype = dt->get<std::string>();
    if (!parse_dtype(dtype, &t.dtype))
      fail(label, ": tensor '", name, "' has dtype ", dtype,
           ", which this engine does not read (supported: BF16, F16, F32); convert the checkpoint "
           "to bf16/fp16, or quantize it with `moe quantize`");
    uint64_t numel = 1;
    for (const json& d : *sh) {
      uint64_t dim = 0;
      if (!as_u64(d, &dim) || dim > (1ull << 40)) fail(where, "shape has an invalid dimension", fix);
      if (dim != 0 && numel > (1ull << 50) / dim) fail(where, "shape is too large", fix);
      numel *= dim;
      t.shape.push_back(int64_t(dim));
    }
    uint64_t begin = 0, end = 0;
    if (!as_u64((*off)[0], &begin) || !as_u64((*off)[1], &end) || begin > end)
      fail(where, "data_offsets are not 0 <= begin <= end", fix);
    if (end > buffer_size)
      fail(where, "data_offsets [", begin, ", ", end, "] run past the end of the ", buffer_size,
           "-byte data buffer", fix);
    if (end - begin != numel * dtype_size(t.dtype))
      fail(where, "data_offsets span ", end - begin, " bytes but shape ", t.shape_string(), " of ",
           dtype, " needs ", numel * dtype_size(t.dtype), fix);
    t.bytes = size_t(end - begin);
    t.file_offset = size_t(data_start + begin);
    t.data = data + t.file_offset;
    out.tensors.push_back(std::move(t));
  }
  std::sort(out.tensors.begin(), out.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.file_offset < b.file_offset; });
  for (size_t i = 1; i < out.tensors.size(); ++i) {
    const TensorInfo& a = out.tensors[i - 1];
    const TensorInfo& b = out.tensors[i];
    if (a.file_offset + a.bytes > b.file_offset)
      fail(what, "tensors '", a.name, "' and '", b.name, "' overlap", fix);
  }
  return out;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  header_ = parse_safetensors(file_.data(), file_.size(), path);
  for (size_t i = 0; i < header_.tensors.size(); ++i) {
    TensorInfo& t = header_.tensors[i];
    // The data buffer starts right after the header, so a tensor is only as aligned as the header
    // length makes it. Kernels read fp32/fp16 through typed pointers; copy a misaligned tensor
    // into an aligned buffer rather than read it misaligned (writers normally pad the header).
    if (reinterpret_cast<uintptr_t>(t.data) % dtype_size(t.dtype) != 0) {
      std::unique_ptr<uint64_t[]> copy(new uint64_t[(t.bytes + 7) / 8]);
      std::memcpy(copy.get(), t.data, t.bytes);
      t.data = reinterpret_cast<const uint8_t*>(copy.get());
      aligned_copies_.push_back(std::move(copy));
    }
    index_[t.name] = i;
  }
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  const fs::path root(dir);
  const fs::path index_path = root / "model.safetensors.index.json";
  const fs::path single_path = root / "model.safetensors";
  std::vector<std::string> shard_names;
  std::vector<std::pair<std::string, std::string>> weight_map;  // tensor -> shard file name
  if (fs::exists(index_path)) {
    std::ifstream in(index_path);
    if (!in) fail("cannot read ", index_path.string());
    json index;
    try {
      index = json::parse(in);
    } catch (const json::exception& e) {
      fail(index_path.string(), " is not valid JSON (", e.what(), "); download it again");
    }
    const auto wm = index.is_object() ? index.find("weight_map") : index.end();
    if (wm == index.end() || !wm->is_object())
      fail(index_path.string(), " has no \"weight_map\" object; download it again");
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string())
        fail(index_path.string(), ": weight_map entry '", it.key(), "' is not a file name");
      const std::string file = it.value().get<std::string>();
      // Shards live next to the index; refuse paths that would leave the folder.
      if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos ||
          file == "." || file == "..")
        fail(index_path.string(), ": weight_map entry '", it.key(), "' names '", file,
             "', which is not a file in this folder");
      weight_map.emplace_back(it.key(), file);
      if (std::find(shard_names.begin(), shard_names.end(), file) == shard_names.end())
        shard_names.push_back(file);
    }
    if (shard_names.empty()) fail(index_path.string(), ": weight_map is empty");
  } else if (fs::exists(single_path)) {
    shard_names.push_back("model.safetensors");
  } else {
    fail("no model.safetensors or model.safetensors.index.json in ", dir,
         ": choose a Hugging Face model folder with safetensors weights");
  }
  std::sort(shard_names.begin(), shard_names.end());
  for (const std::string& name : shard_names) {
    const fs::path p = root / name;
    if (!fs::exists(p))
      fail(p.string(), " is listed in model.safetensors.index.json but missing; download it again");
    files_.push_back(std::make_unique<SafetensorsFile>(p.string()));
    for (const TensorInfo& t : files_.back()->tensors()) {
      const auto [it, inserted] = by_name_.emplace(t.name, &t);
      if (!inserted)
        fail("tensor '", t.name, "' is stored twice: in ", it->second->file, " and ", t.file);
    }
  }
  for (const auto& [tensor, file] : weight_map) {
    const auto it = by_name_.find(tensor);
    const std::string path = (root / file).string();
    if (it == by_name_.end() || it->second->file != path)
      fail("model.safetensors.index.json in ", dir, " places '", tensor, "' in ", path,
           " but that file does not hold it; download the checkpoint again");
  }
}

const TensorInfo* Checkpoint::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const TensorInfo& Checkpoint::require(const std::string& name, const std::vector<int64_t>& shape,
                                      const std::string& why) const {
  const TensorInfo* t = find(name);
  if (t == nullptr)
    fail("tensor '", name, "' is missing from the checkpoint in ", dir_,
         " (expected by ", why, "); is this a complete MixtralForCausalLM checkpoint?");
  if (t->shape != shape) {
    TensorInfo expected;
    expected.shape = shape;
    fail(t->file, ": tensor '", name, "' has shape ", t->shape_string(), " but ", why, " needs ",
         expected.shape_string(), "; config.json and the weights do not match");
  }
  return *t;
}

std::vector<const TensorInfo*> Checkpoint::all() const {
  std::vector<const TensorInfo*> out;
  for (const auto& [name, t] : by_name_) out.push_back(t);
  std::sort(out.begin(), out.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->name < b->name; });
  return out;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t n = 0;
  for (const auto& [name, t] : by_name_) n += t->bytes;
  return n;
}

WeightView as_matrix(const TensorInfo& t) {
  WeightView w;
  w.data = t.data;
  w.dtype = t.dtype;
  if (t.shape.size() == 2) {
    w.rows = t.shape[0];
    w.cols = t.shape[1];
  } else {
    w.rows = 1;
    w.cols = t.numel();
  }
  return w;
}

}  // namespace lm
