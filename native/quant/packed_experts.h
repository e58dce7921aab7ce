// Loader-side views of a quantized model for the engine: packed experts (resident or copied into a
// cache slot) and the unquantized tensors as the engine's WeightView.
//
// An offloader moves an expert as one byte range (qformat.h): copy ExpertRange [offset, offset +
// bytes) anywhere (pinned host slot, GPU slot), then PackedExpertLayout::at(slot) gives the same
// views into the copy, because every array's offset inside the range is fixed by the file.
#pragma once

#include <cstdint>
#include <vector>

#include "common/dtype.h"
#include "packed_tensor.h"
#include "qformat.h"

namespace lm::quant {

// One SwiGLU expert, packed: y = (silu(x·w1ᵀ) ⊙ (x·w3ᵀ))·w2ᵀ.
struct PackedExpert {
  PackedView w1;  // [F, D]
  PackedView w2;  // [D, F]
  PackedView w3;  // [F, D]
};

// Where an expert's 15 arrays sit inside its byte range.
class PackedExpertLayout {
 public:
  PackedExpertLayout() = default;
  // `e` must point into [base, base + bytes); aborts otherwise (the reader guarantees it).
  PackedExpertLayout(const PackedExpert& e, const uint8_t* base, uint64_t bytes);
  // The expert's views into a copy of the range that starts at `base`.
  PackedExpert at(const uint8_t* base) const;
  uint64_t bytes() const { return bytes_; }

 private:
  PackedExpert shape_;          // settings and dims; pointers unused
  uint64_t off_[3][5] = {};     // [w1, w2, w3][codes, scale_codes, zero_codes, scale_meta, zero_meta]
  uint64_t bytes_ = 0;
};

// Every expert of every layer of a quantized model, as views into its mmap.
class PackedExperts {
 public:
  // Checks that all num_layers × num_experts experts are quantized with w1/w3 [F, D] and w2 [D, F]
  // (D = hidden, F = intermediate from config.json); lm::Error naming the model and tensor otherwise.
  PackedExperts(const QuantizedModel& model, int num_layers, int num_experts, int64_t hidden,
                int64_t intermediate);
  const PackedExpert& get(int layer, int expert) const { return experts_[index(layer, expert)]; }
  const ExpertRange& range(int layer, int expert) const { return *ranges_[index(layer, expert)]; }
  const PackedExpertLayout& layout(int layer, int expert) const { return layouts_[index(layer, expert)]; }

 private:
  size_t index(int layer, int expert) const;
  int num_layers_ = 0, num_experts_ = 0;
  std::vector<PackedExpert> experts_;
  std::vector<const ExpertRange*> ranges_;
  std::vector<PackedExpertLayout> layouts_;
};

// An unquantized tensor (norm, router gate, embedding, lm_head) as the engine's WeightView; 1-D
// tensors become [1, n]. Throws lm::Error when `name` is missing or not F32/F16/BF16.
WeightView dense_weight(const QuantizedModel& model, const std::string& name);

}  // namespace lm::quant
