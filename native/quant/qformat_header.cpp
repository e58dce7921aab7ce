// safetensors header parsing with U8 support, for the quantized format (see qformat.h).
// Same checks as the engine's io/safetensors.cpp; only the dtype list differs.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "localmoe/engine.h"
#include "qformat.h"

namespace lm::quant {

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t dtype_bytes(const std::string& d) {
  if (d == "U8") return 1;
  if (d == "F16" || d == "BF16") return 2;
  if (d == "F32") return 4;
  return 0;
}

bool as_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

PackedNames packed_names(const std::string& weight_name) {
  std::string base = weight_name;
  const std::string suffix = ".weight";
  if (base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0)
    base.resize(base.size() - suffix.size());
  return {base + ".hqq_codes", base + ".hqq_scale_codes", base + ".hqq_zero_codes",
          base + ".hqq_scale_meta", base + ".hqq_zero_meta"};
}

RawHeader parse_raw_safetensors(const uint8_t* data, size_t size, const std::string& label) {
  const std::string what = label + ": not a valid safetensors file (";
  const std::string fix = "); the file is corrupt or truncated: quantize the model again";
  auto fail = [&](const std::string& msg) -> void { throw Error(what + msg + fix); };
  if (size < 8) fail("only " + std::to_string(size) + " bytes");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n < 2 || n > kMaxHeaderBytes || n > size - 8)
    fail("header length " + std::to_string(n) + " does not fit the " + std::to_string(size) + "-byte file");
  RawHeader out;
  out.data_start = 8 + n;
  const uint64_t buffer = size - out.data_start;
  json header;
  try {
    header = json::parse(data + 8, data + 8 + n);
  } catch (const json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail("header is not a JSON object");
  for (auto it = header.begin(); it != header.end(); ++it) {
    const json& v = it.value();
    if (it.key() == "__metadata__") {
      if (!v.is_object()) fail("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__ value '" + m.key() + "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + it.key() + "': ";
    if (!v.is_object()) fail(where + "entry is not an object");
    const auto dt = v.find("dtype");
    const auto sh = v.find("shape");
    const auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) fail(where + "missing dtype");
    if (sh == v.end() || !sh->is_array()) fail(where + "missing shape");
    if (off == v.end() || !off->is_array() || off->size() != 2) fail(where + "data_offsets must be [begin, end]");
    RawTensor t;
    t.name = it.key();
    t.dtype = dt->get<std::string>();
    const uint64_t esize = dtype_bytes(t.dtype);
    if (esize == 0) fail(where + "unsupported dtype " + t.dtype);
    uint64_t numel = 1;
    for (const json& d : *sh) {
      uint64_t dim = 0;
      if (!as_u64(d, &dim) || dim > (1ull << 40)) fail(where + "invalid dimension");
      if (dim != 0 && numel > (1ull << 50) / dim) fail(where + "shape too large");
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t begin = 0, end = 0;
    if (!as_u64((*off)[0], &begin) || !as_u64((*off)[1], &end) || begin > end)
      fail(where + "data_offsets are not 0 <= begin <= end");
    if (end > buffer) fail(where + "data runs past the end of the file");
    if (end - begin != numel * esize)
      fail(where + "data_offsets span " + std::to_string(end - begin) + " bytes, shape needs " +
           std::to_string(numel * esize));
    t.offset = out.data_start + begin;
    t.bytes = end - begin;
    t.data = data + t.offset;
    out.tensors.push_back(std::move(t));
  }
  std::sort(out.tensors.begin(), out.tensors.end(),
            [](const RawTensor& a, const RawTensor& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < out.tensors.size(); ++i)
    if (out.tensors[i - 1].offset + out.tensors[i - 1].bytes > out.tensors[i].offset)
      fail("tensors '" + out.tensors[i - 1].name + "' and '" + out.tensors[i].name + "' overlap");
  return out;
}

}  // namespace lm::quant
