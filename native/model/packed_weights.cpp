#include "model/packed_weights.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "common/check.h"

namespace lm {

namespace {

std::string layer_name(int layer, const char* suffix) { return str("model.layers.", layer, ".", suffix); }

WeightView packed_matrix(const quant::PackedView* v) {
  WeightView w;
  w.rows = v->rows;
  w.cols = v->cols;
  w.packed = v;
  return w;
}

// The header JSON of a safetensors file, or null when it cannot be read (is_quantized_folder).
nlohmann::json read_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char len[8];
  if (!in.read(reinterpret_cast<char*>(len), 8)) return nullptr;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  if (n < 2 || n > (100ull << 20)) return nullptr;
  std::string text(size_t(n), '\0');
  if (!in.read(text.data(), std::streamsize(n))) return nullptr;
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

bool is_quantized_folder(const std::string& dir) {
  // A sharded folder names its first file in the index; a single-file one is model.safetensors.
  std::string first = dir + "/model.safetensors";
  std::ifstream index(dir + "/model.safetensors.index.json");
  if (index) {
    const nlohmann::json j = nlohmann::json::parse(index, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object() || j["weight_map"].empty())
      return false;
    std::string name;
    for (const auto& [tensor, file] : j["weight_map"].items())
      if (file.is_string() && (name.empty() || file.get<std::string>() < name)) name = file.get<std::string>();
    if (name.empty() || name.find('/') != std::string::npos) return false;
    first = dir + "/" + name;
  }
  const nlohmann::json h = read_header(first);
  if (!h.is_object() || !h.contains("__metadata__")) return false;
  const nlohmann::json& meta = h["__metadata__"];
  return meta.is_object() && meta.contains("format") && meta["format"] == quant::kFormatName;
}

uint64_t packed_bytes(const quant::PackedView& v) {
  return uint64_t(quant::row_bytes(v.spec.bits, v.cols) * v.rows) + 2 * uint64_t(v.n_groups()) +
         2 * 2 * sizeof(uint16_t) * uint64_t(v.n_meta());
}

WeightView PackedModelWeights::take(const std::string& name, int64_t rows, int64_t cols) {
  if (model_->is_quantized(name)) {
    const quant::PackedView v = model_->packed(name);
    if (v.rows != rows || v.cols != cols)
      fail(model_->dir(), ": quantized weight '", name, "' is [", v.rows, ", ", v.cols,
           "] but config.json implies [", rows, ", ", cols, "]; the quantized weights and config.json do not match");
    views_.push_back(v);
    weights_.bytes += packed_bytes(v);
    return packed_matrix(&views_.back());
  }
  const WeightView w = quant::dense_weight(*model_, name);  // throws naming the folder when missing
  if (w.rows * w.cols != rows * cols || (rows > 1 && w.rows != rows))
    fail(model_->dir(), ": tensor '", name, "' is [", w.rows, ", ", w.cols, "] but config.json implies [",
         rows, ", ", cols, "]; the quantized weights and config.json do not match");
  weights_.bytes += w.bytes();
  return w;
}

PackedModelWeights::PackedModelWeights(const std::string& dir, const ModelConfig& c)
    : model_(std::make_unique<quant::QuantizedModel>(dir)) {
  const int64_t V = c.vocab_size, D = c.hidden_size, E = c.num_experts;
  const int64_t Q = int64_t(c.num_heads) * c.head_dim;       // H*Dh
  const int64_t KVW = int64_t(c.num_kv_heads) * c.head_dim;  // KV*Dh
  weights_.embed = take("model.embed_tokens.weight", V, D);
  weights_.final_norm = take("model.norm.weight", 1, D);
  weights_.lm_head = c.tie_word_embeddings ? weights_.embed : take("lm_head.weight", V, D);
  if (weights_.embed.is_packed() || weights_.lm_head.is_packed())
    fail(dir, ": the embedding or lm_head is quantized, which this engine does not run (the presets keep "
         "them 16-bit); quantize the checkpoint again with `moe quantize`");
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = take(layer_name(l, "input_layernorm.weight"), 1, D);
    lw.ffn_norm = take(layer_name(l, "post_attention_layernorm.weight"), 1, D);
    lw.wq = take(layer_name(l, "self_attn.q_proj.weight"), Q, D);
    lw.wk = take(layer_name(l, "self_attn.k_proj.weight"), KVW, D);
    lw.wv = take(layer_name(l, "self_attn.v_proj.weight"), KVW, D);
    lw.wo = take(layer_name(l, "self_attn.o_proj.weight"), D, Q);
    lw.router = take(layer_name(l, "block_sparse_moe.gate.weight"), E, D);
    if (lw.attn_norm.is_packed() || lw.ffn_norm.is_packed() || lw.router.is_packed())
      fail(dir, ": a norm or router gate of layer ", l, " is quantized; the presets keep them 16-bit: "
           "quantize the checkpoint again with `moe quantize`");
    weights_.layers.push_back(lw);
  }
}

std::string PackedModelWeights::label() const {
  return str(model_->method().empty() ? "hqq" : model_->method(), ":", model_->preset());
}

PackedExpertSource::PackedExpertSource(const quant::QuantizedModel& model, const ModelConfig& c)
    : num_experts_(c.num_experts),
      packed_(model, c.num_layers, c.num_experts, c.hidden_size, c.intermediate_size) {
  experts_.reserve(size_t(c.num_layers) * size_t(c.num_experts));
  for (int l = 0; l < c.num_layers; ++l) {
    for (int e = 0; e < c.num_experts; ++e) {
      const quant::PackedExpert& pe = packed_.get(l, e);
      experts_.push_back({packed_matrix(&pe.w1), packed_matrix(&pe.w2), packed_matrix(&pe.w3)});
    }
  }
}

ExpertWeights PackedExpertSource::acquire(int layer, int expert) {
  return experts_[size_t(layer) * size_t(num_experts_) + size_t(expert)];
}

}  // namespace lm
