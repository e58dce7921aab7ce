// The weights of a quantized model folder (the output of `moe quantize`, quant/qformat.h) for the
// forward pass, computed from the packed form: nothing is dequantized at load.
//
// Dense tensors the quantizer keeps 16-bit (norms, router gates, embeddings, lm_head) become plain
// WeightViews into the mmap, exactly as model/weights.h gives them for a Hugging Face folder. HQQ-
// packed weights (attention, experts) become WeightViews whose `packed` points at a quant::PackedView
// owned here, so Backend::matmul runs the fused dequantize + matrix-vector kernels on them.
// Experts come through PackedExpertSource: one contiguous byte range per expert in the file
// (quant::PackedExperts), which is what the offloader copies as one DMA.
//
// Letters: V vocab, D hidden, H query heads, KV kv heads, Dh head dim, E experts, F expert hidden.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "localmoe/engine.h"
#include "model/expert_source.h"
#include "model/weights.h"
#include "quant/packed_experts.h"
#include "quant/qformat.h"

namespace lm {

// True when `dir` holds a LocalMoE quantized model (its first shard's __metadata__ says
// format "localmoe-hqq"). Never throws: anything unreadable is left to the loader that reports it.
bool is_quantized_folder(const std::string& dir);

class PackedModelWeights {
 public:
  // Opens and validates the folder (quant::QuantizedModel) and checks every tensor's shape against
  // `config`; lm::Error naming the file/tensor and the expected shape otherwise.
  PackedModelWeights(const std::string& dir, const ModelConfig& config);
  PackedModelWeights(const PackedModelWeights&) = delete;  // views point into this object
  PackedModelWeights& operator=(const PackedModelWeights&) = delete;

  // Dense + attention views (attention packed). Valid while this object lives.
  const MixtralWeights& weights() const { return weights_; }
  const quant::QuantizedModel& model() const { return *model_; }
  // "hqq:paper-2bit" / "rtn:4bit": method and preset, for ModelConfig::weight_dtype.
  std::string label() const;
  uint64_t file_bytes() const { return model_->total_bytes(); }

 private:
  WeightView take(const std::string& name, int64_t rows, int64_t cols);

  std::unique_ptr<quant::QuantizedModel> model_;
  std::deque<quant::PackedView> views_;  // stable addresses for WeightView::packed
  MixtralWeights weights_;
};

// Every expert resident in the mmap'd quantized file, as packed views.
class PackedExpertSource final : public ExpertSource {
 public:
  PackedExpertSource(const quant::QuantizedModel& model, const ModelConfig& config);
  PackedExpertSource(const PackedExpertSource&) = delete;  // views point into packed_
  PackedExpertSource& operator=(const PackedExpertSource&) = delete;

  ExpertWeights acquire(int layer, int expert) override;
  void release(int, int) override {}
  const quant::PackedExperts& packed() const { return packed_; }

 private:
  int num_experts_ = 0;
  quant::PackedExperts packed_;
  std::vector<ExpertWeights> experts_;  // [L * E], `packed` pointing into packed_
};

// Bytes a packed matrix occupies (codes + 8-bit scale/zero codes + fp16 meta pairs).
uint64_t packed_bytes(const quant::PackedView& v);

}  // namespace lm
