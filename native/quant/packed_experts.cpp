// PackedExperts / PackedExpertLayout / dense_weight (see packed_experts.h).
#include "packed_experts.h"

#include <cstdio>
#include <cstdlib>

#include "localmoe/engine.h"

namespace lm::quant {

namespace {

std::string expert_name(int layer, int expert, int which) {
  return "model.layers." + std::to_string(layer) + ".block_sparse_moe.experts." +
         std::to_string(expert) + ".w" + std::to_string(which) + ".weight";
}

uint64_t offset_in(const void* p, const uint8_t* base, uint64_t bytes) {
  const auto* q = static_cast<const uint8_t*>(p);
  if (q < base || q >= base + bytes) {
    std::fprintf(stderr, "localmoe: internal error: packed array outside its expert range\n");
    std::abort();
  }
  return static_cast<uint64_t>(q - base);
}

}  // namespace

PackedExpertLayout::PackedExpertLayout(const PackedExpert& e, const uint8_t* base, uint64_t bytes)
    : shape_(e), bytes_(bytes) {
  const PackedView* v[3] = {&e.w1, &e.w2, &e.w3};
  for (int i = 0; i < 3; ++i) {
    off_[i][0] = offset_in(v[i]->codes, base, bytes);
    off_[i][1] = offset_in(v[i]->scale_codes, base, bytes);
    off_[i][2] = offset_in(v[i]->zero_codes, base, bytes);
    off_[i][3] = offset_in(v[i]->scale_meta, base, bytes);
    off_[i][4] = offset_in(v[i]->zero_meta, base, bytes);
  }
}

PackedExpert PackedExpertLayout::at(const uint8_t* base) const {
  PackedExpert e = shape_;
  PackedView* v[3] = {&e.w1, &e.w2, &e.w3};
  for (int i = 0; i < 3; ++i) {
    v[i]->codes = base + off_[i][0];
    v[i]->scale_codes = base + off_[i][1];
    v[i]->zero_codes = base + off_[i][2];
    v[i]->scale_meta = reinterpret_cast<const uint16_t*>(base + off_[i][3]);
    v[i]->zero_meta = reinterpret_cast<const uint16_t*>(base + off_[i][4]);
  }
  return e;
}

PackedExperts::PackedExperts(const QuantizedModel& model, int num_layers, int num_experts,
                             int64_t hidden, int64_t intermediate)
    : num_layers_(num_layers), num_experts_(num_experts) {
  for (int l = 0; l < num_layers; ++l) {
    for (int e = 0; e < num_experts; ++e) {
      PackedExpert pe;
      PackedView* v[3] = {&pe.w1, &pe.w2, &pe.w3};
      for (int which = 1; which <= 3; ++which) {
        const std::string name = expert_name(l, e, which);
        if (!model.is_quantized(name))
          throw Error(model.dir() + ": expert weight '" + name +
                      "' is not quantized (or missing); quantize the checkpoint again with `moe quantize`");
        *v[which - 1] = model.packed(name);
        const int64_t rows = which == 2 ? hidden : intermediate;
        const int64_t cols = which == 2 ? intermediate : hidden;
        if (v[which - 1]->rows != rows || v[which - 1]->cols != cols)
          throw Error(model.dir() + ": '" + name + "' is [" + std::to_string(v[which - 1]->rows) + ", " +
                      std::to_string(v[which - 1]->cols) + "] but config.json implies [" +
                      std::to_string(rows) + ", " + std::to_string(cols) +
                      "]; the quantized weights and config.json do not match");
      }
      const ExpertRange& r = model.expert_range(l, e);
      experts_.push_back(pe);
      ranges_.push_back(&r);
      layouts_.emplace_back(pe, r.data, r.bytes);
    }
  }
}

size_t PackedExperts::index(int layer, int expert) const {
  if (layer < 0 || layer >= num_layers_ || expert < 0 || expert >= num_experts_) {
    std::fprintf(stderr, "localmoe: internal error: expert (%d, %d) out of range\n", layer, expert);
    std::abort();
  }
  return static_cast<size_t>(layer) * static_cast<size_t>(num_experts_) + static_cast<size_t>(expert);
}

WeightView dense_weight(const QuantizedModel& model, const std::string& name) {
  const RawTensor* t = model.dense(name);
  if (!t || name.find(".hqq_") != std::string::npos)
    throw Error("tensor '" + name + "' is missing from the quantized model in " + model.dir() +
                "; quantize the checkpoint again with `moe quantize`");
  WeightView w;
  w.data = t->data;
  if (t->dtype == "F32") w.dtype = DType::F32;
  else if (t->dtype == "F16") w.dtype = DType::F16;
  else if (t->dtype == "BF16") w.dtype = DType::BF16;
  else throw Error("tensor '" + name + "' in " + model.dir() + " has dtype " + t->dtype + ", expected a float type");
  if (t->shape.size() == 2) {
    w.rows = t->shape[0];
    w.cols = t->shape[1];
  } else {
    int64_t n = 1;
    for (int64_t d : t->shape) n *= d;
    w.rows = 1;
    w.cols = n;
  }
  return w;
}

}  // namespace lm::quant
