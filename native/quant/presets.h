// Named quantization presets and the per-tensor decision (quantize how, or keep 16-bit).
//
// Presets (DESIGN.md "HQQ mixed quantization"; Eliseev & Mazur's configs):
//   attention (q/k/v/o_proj): always 4-bit, group 64, scale/zero group 256
//   experts:  paper-2bit  2-bit g16, scale/zero group 128   (3.03 bits/weight)
//             paper-3bit  3-bit g64, scale/zero group 128   (3.26 bits/weight)
//             4bit        4-bit g64, scale/zero group 256   (4.25 bits/weight)
//             2bit-g64    2-bit g64, scale/zero group 128   (2.26 bits/weight)
//   router gates, norms, embeddings: kept as stored (16-bit).
//   lm_head: kept 16-bit. It is V·D = 131 M weights in Mixtral (0.28% of 46.7 B, 262 MB in bf16,
//   resident on the GPU), so 4-bit would save ~190 MB of VRAM, but every logit goes through it and
//   quantization error there shifts the token distribution directly; the paper's HQQ configs also
//   leave it unquantized. Worth revisiting only for very small GPUs.
#pragma once

#include <string>
#include <vector>

#include "packed_tensor.h"

namespace lm::quant {

struct Preset {
  const char* name;
  QuantSpec experts;
  QuantSpec attention;
};

// All presets, in the order `moe quantize --help` lists them.
const std::vector<Preset>& presets();
// The preset called `name`; throws lm::Error listing the valid names otherwise.
const Preset& find_preset(const std::string& name);

enum class TensorRole { Expert, Attention, Keep };

struct TensorDecision {
  TensorRole role = TensorRole::Keep;
  bool quantize = false;  // false: stored unchanged
  QuantSpec spec;         // when quantize
  std::string note;       // why a group was lowered or a tensor kept (empty when as the preset says)
  int layer = -1;         // experts: layer, expert index and which (1, 2, 3)
  int expert = -1;
  int which = 0;
};

// Decides for one tensor of a Mixtral hub-layout checkpoint (model.layers.N.block_sparse_moe.
// experts.E.wI.weight, model.layers.N.self_attn.{q,k,v,o}_proj.weight). A 2-D quantized tensor
// whose input dimension is not a multiple of the preset group gets the largest group in
// {128, 64, 32, 16} that divides it (noted); if none does it is kept.
TensorDecision decide(const std::string& name, const std::vector<int64_t>& shape, const Preset& preset);

}  // namespace lm::quant
