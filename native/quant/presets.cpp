// Preset table and tensor-name classification (see presets.h for the choices and why).
#include "presets.h"

#include <regex>

#include "localmoe/engine.h"

namespace lm::quant {

const std::vector<Preset>& presets() {
  static const QuantSpec kAttention{4, 64, 256};
  static const std::vector<Preset> kPresets = {
      {"paper-2bit", {2, 16, 128}, kAttention},
      {"paper-3bit", {3, 64, 128}, kAttention},
      {"4bit", {4, 64, 256}, kAttention},
      {"2bit-g64", {2, 64, 128}, kAttention},
  };
  return kPresets;
}

const Preset& find_preset(const std::string& name) {
  std::string names;
  for (const Preset& p : presets()) {
    if (name == p.name) return p;
    names += names.empty() ? p.name : std::string(", ") + p.name;
  }
  throw Error("unknown quantization preset '" + name + "': choose one of " + names);
}

TensorDecision decide(const std::string& name, const std::vector<int64_t>& shape, const Preset& preset) {
  static const std::regex kExpert(R"(^model\.layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.w([123])\.weight$)");
  static const std::regex kAttention(R"(^model\.layers\.\d+\.self_attn\.[qkvo]_proj\.weight$)");
  TensorDecision d;
  std::smatch m;
  if (std::regex_match(name, m, kExpert)) {
    d.role = TensorRole::Expert;
    d.layer = std::stoi(m[1]);
    d.expert = std::stoi(m[2]);
    d.which = std::stoi(m[3]);
    d.spec = preset.experts;
  } else if (std::regex_match(name, kAttention)) {
    d.role = TensorRole::Attention;
    d.spec = preset.attention;
  } else {
    return d;  // router gate, norms, embeddings, lm_head: kept (see presets.h)
  }
  if (shape.size() != 2) {
    d.note = "not a matrix; kept";
    return d;
  }
  const int64_t cols = shape[1];
  int g = d.spec.group;
  while (g >= 16 && cols % g != 0) g /= 2;
  if (g < 16) {
    d.note = "input dimension " + std::to_string(cols) + " is not a multiple of 16; kept";
    return d;
  }
  if (g != d.spec.group)
    d.note = "group " + std::to_string(d.spec.group) + " does not divide input dimension " +
             std::to_string(cols) + "; used group " + std::to_string(g);
  d.spec.group = g;
  d.quantize = true;
  return d;
}

}  // namespace lm::quant
