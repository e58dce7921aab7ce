// QuantizedModel: opens a quantized model folder and validates everything qformat.h promises.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "localmoe/engine.h"
#include "qformat.h"

namespace lm::quant {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* const kRequantize = "; quantize the model again with `moe quantize`";

json parse_json_string(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(where + " is not valid JSON (" + e.what() + ")" + kRequantize);
  }
}

int64_t get_int(const json& o, const char* key, const std::string& where) {
  const auto it = o.find(key);
  if (it == o.end() || !it->is_number_integer())
    throw Error(where + ": missing integer \"" + key + "\"" + kRequantize);
  return it->get<int64_t>();
}

}  // namespace

QuantizedModel::~QuantizedModel() = default;

QuantizedModel::QuantizedModel(const std::string& dir) : dir_(dir) {
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  std::ifstream in(index_path);
  if (!in)
    throw Error("no model.safetensors.index.json in " + dir +
                ": this is not a quantized model folder; create one with `moe quantize`");
  json index;
  try {
    index = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(index_path.string() + " is not valid JSON (" + e.what() + ")" + kRequantize);
  }
  const auto wm = index.is_object() ? index.find("weight_map") : index.end();
  if (wm == index.end() || !wm->is_object() || wm->empty())
    throw Error(index_path.string() + " has no \"weight_map\"" + kRequantize);
  std::map<std::string, std::string> weight_map;
  std::vector<std::string> shards;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    const std::string f = it.value().is_string() ? it.value().get<std::string>() : "";
    if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "..")
      throw Error(index_path.string() + ": entry '" + it.key() + "' does not name a file in the folder" +
                  kRequantize);
    weight_map[it.key()] = f;
    if (std::find(shards.begin(), shards.end(), f) == shards.end()) shards.push_back(f);
  }
  std::sort(shards.begin(), shards.end());

  headers_.reserve(shards.size());  // by_name_ points into headers_: no reallocation after this
  for (const std::string& shard : shards) {
    const std::string path = (fs::path(dir) / shard).string();
    if (!fs::exists(path))
      throw Error(path + " is listed in model.safetensors.index.json but missing" + std::string(kRequantize));
    files_.push_back(std::make_unique<MappedFile>(path));
    const MappedFile& mf = *files_.back();
    headers_.push_back(parse_raw_safetensors(mf.data(), mf.size(), path));
    RawHeader& h = headers_.back();
    auto meta = [&](const char* key) -> std::string {
      const auto it = h.metadata.find(key);
      return it == h.metadata.end() ? std::string() : it->second;
    };
    if (meta("format") != kFormatName)
      throw Error(path + " is not a LocalMoE quantized file (format '" + meta("format") +
                  "'); quantize the checkpoint with `moe quantize`, or load the original folder");
    if (meta("format_version") != std::to_string(kFormatVersion))
      throw Error(path + " has quantized-format version '" + meta("format_version") +
                  "' but this LocalMoE reads version " + std::to_string(kFormatVersion) +
                  ": update LocalMoE, or quantize the model again with this version");
    if (h.data_start % kExpertAlign != 0)
      throw Error(path + ": data does not start on a " + std::to_string(kExpertAlign) +
                  "-byte boundary" + kRequantize);
    if (preset_.empty()) {
      preset_ = meta("preset");
      method_ = meta("method");
    } else if (preset_ != meta("preset") || method_ != meta("method")) {
      throw Error(path + " was quantized with preset '" + meta("preset") + "' but other shards with '" +
                  preset_ + "': the folder mixes two quantizations" + kRequantize);
    }
    for (const RawTensor& t : h.tensors) {
      if (t.name.rfind("__pad.", 0) == 0) continue;
      if (t.offset % kTensorAlign != 0)
        throw Error(path + ": tensor '" + t.name + "' at offset " + std::to_string(t.offset) +
                    " is not " + std::to_string(kTensorAlign) + "-byte aligned" + kRequantize);
      if (!by_name_.emplace(t.name, &t).second)
        throw Error("tensor '" + t.name + "' is stored twice in " + dir + kRequantize);
      const auto w = weight_map.find(t.name);
      if (w == weight_map.end() || w->second != shard)
        throw Error(path + " holds '" + t.name + "' but model.safetensors.index.json does not place it there" +
                    kRequantize);
    }

    // Quantized weights: settings valid, five tensors present with the sizes the settings imply.
    const json quant = parse_json_string(meta("quant").empty() ? "{}" : meta("quant"), path + ": metadata 'quant'");
    if (!quant.is_object()) throw Error(path + ": metadata 'quant' is not an object" + kRequantize);
    for (auto it = quant.begin(); it != quant.end(); ++it) {
      const std::string where = path + ": quantized weight '" + it.key() + "'";
      QuantEntry e;
      e.spec.bits = static_cast<int>(get_int(*it, "bits", where));
      e.spec.group = static_cast<int>(get_int(*it, "group", where));
      e.spec.meta_group = static_cast<int>(get_int(*it, "meta_group", where));
      e.rows = get_int(*it, "rows", where);
      e.cols = get_int(*it, "cols", where);
      e.scale_shift = static_cast<int>(get_int(*it, "scale_shift", where));
      if (const std::string why = validate_spec(e.spec, e.rows, e.cols); !why.empty())
        throw Error(where + " has invalid settings: " + why + kRequantize);
      if (e.scale_shift < -126 || e.scale_shift > 126)
        throw Error(where + ": scale_shift " + std::to_string(e.scale_shift) + " out of range" + kRequantize);
      const PackedNames n = packed_names(it.key());
      PackedView v;
      v.spec = e.spec;
      v.rows = e.rows;
      v.cols = e.cols;
      v.scale_shift = e.scale_shift;
      const int64_t n_groups = v.n_groups(), n_meta = v.n_meta();
      auto need = [&](const std::string& name, const char* dtype, std::vector<int64_t> shape) {
        const auto t = by_name_.find(name);
        if (t == by_name_.end() || t->second->offset < h.data_start ||
            t->second->data < mf.data() || t->second->data >= mf.data() + mf.size())
          throw Error(where + ": tensor '" + name + "' is missing from this file" + kRequantize);
        if (t->second->dtype != dtype || t->second->shape != shape)
          throw Error(where + ": tensor '" + name + "' has the wrong dtype or shape for bits=" +
                      std::to_string(e.spec.bits) + " group=" + std::to_string(e.spec.group) + kRequantize);
        return t->second->data;
      };
      v.codes = need(n.codes, "U8", {e.rows, row_bytes(e.spec.bits, e.cols)});
      v.scale_codes = need(n.scale_codes, "U8", {e.rows, e.cols / e.spec.group});
      v.zero_codes = need(n.zero_codes, "U8", {e.rows, e.cols / e.spec.group});
      v.scale_meta = reinterpret_cast<const uint16_t*>(need(n.scale_meta, "F16", {n_meta, 2}));
      v.zero_meta = reinterpret_cast<const uint16_t*>(need(n.zero_meta, "F16", {n_meta, 2}));
      (void)n_groups;
      if (!entries_.emplace(it.key(), e).second)
        throw Error("quantized weight '" + it.key() + "' is described twice in " + dir + kRequantize);
      packed_[it.key()] = v;
    }

    // Expert ranges: aligned, inside the file, holding exactly that expert's tensors.
    const json experts = parse_json_string(meta("experts").empty() ? "{}" : meta("experts"), path + ": metadata 'experts'");
    if (!experts.is_object()) throw Error(path + ": metadata 'experts' is not an object" + kRequantize);
    for (auto it = experts.begin(); it != experts.end(); ++it) {
      const std::string where = path + ": expert '" + it.key() + "'";
      int layer = -1, expert = -1;
      if (std::sscanf(it.key().c_str(), "%d.%d", &layer, &expert) != 2 || layer < 0 || expert < 0 ||
          it.key() != std::to_string(layer) + "." + std::to_string(expert))
        throw Error(where + ": name is not 'layer.expert'" + kRequantize);
      if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() || !(*it)[1].is_number_unsigned())
        throw Error(where + ": range is not [begin, end]" + kRequantize);
      ExpertRange r;
      r.file = path;
      const uint64_t rel_begin = (*it)[0].get<uint64_t>(), rel_end = (*it)[1].get<uint64_t>();
      if (rel_begin > mf.size() || rel_end > mf.size())
        throw Error(where + ": range is outside the file" + kRequantize);
      r.offset = h.data_start + rel_begin;
      const uint64_t end = h.data_start + rel_end;
      if (end <= r.offset || end > mf.size() || r.offset < h.data_start)
        throw Error(where + ": range [" + std::to_string(r.offset) + ", " + std::to_string(end) +
                    ") is outside the data of the file" + kRequantize);
      if (r.offset % kExpertAlign != 0 || end % kExpertAlign != 0)
        throw Error(where + ": range is not " + std::to_string(kExpertAlign) + "-byte aligned" + kRequantize);
      r.bytes = end - r.offset;
      r.data = mf.data() + r.offset;
      for (int which = 1; which <= 3; ++which) {
        const std::string w = "model.layers." + std::to_string(layer) + ".block_sparse_moe.experts." +
                              std::to_string(expert) + ".w" + std::to_string(which) + ".weight";
        std::vector<std::string> names;
        if (const auto p = packed_.find(w); p != packed_.end()) {
          const PackedNames n = packed_names(w);
          names = {n.codes, n.scale_codes, n.zero_codes, n.scale_meta, n.zero_meta};
        } else {
          names = {w};  // an expert weight kept unquantized still belongs to the range
        }
        for (const std::string& name : names) {
          const auto t = by_name_.find(name);
          if (t == by_name_.end())
            throw Error(where + ": tensor '" + name + "' is missing" + kRequantize);
          if (t->second->offset < r.offset || t->second->offset + t->second->bytes > end)
            throw Error(where + ": tensor '" + name + "' lies outside the expert's byte range" + kRequantize);
        }
      }
      if (!experts_.emplace(std::make_pair(layer, expert), r).second)
        throw Error(where + " appears twice in " + dir + kRequantize);
    }
  }
  for (const auto& [name, file] : weight_map)
    if (by_name_.find(name) == by_name_.end())
      throw Error("model.safetensors.index.json in " + dir + " lists '" + name + "' in " + file +
                  " but that file does not hold it" + kRequantize);
}

PackedView QuantizedModel::packed(const std::string& weight_name) const {
  const auto it = packed_.find(weight_name);
  if (it == packed_.end())
    throw Error("'" + weight_name + "' is not a quantized weight of " + dir_ +
                "; is this folder quantized with a preset that covers it?");
  return it->second;
}

const RawTensor* QuantizedModel::dense(const std::string& name) const {
  if (name.find(".hqq_") != std::string::npos) return nullptr;  // parts of packed weights
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const ExpertRange& QuantizedModel::expert_range(int layer, int expert) const {
  const auto it = experts_.find({layer, expert});
  if (it == experts_.end())
    throw Error("expert " + std::to_string(expert) + " of layer " + std::to_string(layer) +
                " has no byte range in " + dir_ + kRequantize);
  return it->second;
}

std::vector<const RawTensor*> QuantizedModel::dense_tensors() const {
  std::vector<const RawTensor*> out;
  for (const auto& [name, t] : by_name_) {
    if (name.find(".hqq_") != std::string::npos) continue;
    out.push_back(t);
  }
  return out;
}

uint64_t QuantizedModel::total_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files_) n += f->size();
  return n;
}

}  // namespace lm::quant
