#include "model/weights.h"

#include "backend/backend.h"
#include "common/check.h"
#include "io/safetensors.h"
#include "model/expert_source.h"

namespace lm {

namespace {

std::string layer_name(int layer, const char* suffix) {
  return str("model.layers.", layer, ".", suffix);
}

}  // namespace

MixtralWeights load_mixtral_weights(const Checkpoint& ck, const ModelConfig& c) {
  const int64_t V = c.vocab_size, D = c.hidden_size, E = c.num_experts;
  const int64_t Q = int64_t(c.num_heads) * c.head_dim;      // H*Dh
  const int64_t KVW = int64_t(c.num_kv_heads) * c.head_dim; // KV*Dh
  const std::string cfg = "config.json";
  MixtralWeights w;
  auto take = [&](const std::string& name, std::vector<int64_t> shape, const std::string& why) {
    const TensorInfo& t = ck.require(name, shape, why);
    w.bytes += t.bytes;
    return as_matrix(t);
  };
  w.embed = take("model.embed_tokens.weight", {V, D}, str(cfg, " (vocab_size=", V, ", hidden_size=", D, ")"));
  w.final_norm = take("model.norm.weight", {D}, str(cfg, " (hidden_size=", D, ")"));
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    if (ck.find("lm_head.weight") == nullptr)
      fail("tensor 'lm_head.weight' is missing from ", ck.dir(),
           " and config.json has tie_word_embeddings=false; the checkpoint is incomplete");
    w.lm_head = take("lm_head.weight", {V, D}, str(cfg, " (vocab_size=", V, ", hidden_size=", D, ")"));
  }
  const std::string attn = str(cfg, " (hidden_size=", D, ", num_attention_heads=", c.num_heads,
                               ", num_key_value_heads=", c.num_kv_heads, ", head_dim=", c.head_dim, ")");
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = take(layer_name(l, "input_layernorm.weight"), {D}, str(cfg, " (hidden_size=", D, ")"));
    lw.ffn_norm = take(layer_name(l, "post_attention_layernorm.weight"), {D}, str(cfg, " (hidden_size=", D, ")"));
    lw.wq = take(layer_name(l, "self_attn.q_proj.weight"), {Q, D}, attn);
    lw.wk = take(layer_name(l, "self_attn.k_proj.weight"), {KVW, D}, attn);
    lw.wv = take(layer_name(l, "self_attn.v_proj.weight"), {KVW, D}, attn);
    lw.wo = take(layer_name(l, "self_attn.o_proj.weight"), {D, Q}, attn);
    lw.router = take(layer_name(l, "block_sparse_moe.gate.weight"), {E, D},
                     str(cfg, " (num_local_experts=", E, ", hidden_size=", D, ")"));
    w.layers.push_back(lw);
  }
  return w;
}

std::string expert_tensor_name(int layer, int expert, int which) {
  return str("model.layers.", layer, ".block_sparse_moe.experts.", expert, ".w", which, ".weight");
}

ResidentExperts::ResidentExperts(const Checkpoint& ck, const ModelConfig& c) : num_experts_(c.num_experts) {
  const int64_t D = c.hidden_size, F = c.intermediate_size;
  const std::string why = str("config.json (hidden_size=", D, ", intermediate_size=", F, ")");
  experts_.reserve(size_t(c.num_layers) * size_t(c.num_experts));
  for (int l = 0; l < c.num_layers; ++l) {
    for (int e = 0; e < c.num_experts; ++e) {
      ExpertWeights ew;
      ew.w1 = as_matrix(ck.require(expert_tensor_name(l, e, 1), {F, D}, why));
      ew.w2 = as_matrix(ck.require(expert_tensor_name(l, e, 2), {D, F}, why));
      ew.w3 = as_matrix(ck.require(expert_tensor_name(l, e, 3), {F, D}, why));
      experts_.push_back(ew);
    }
  }
}

void ResidentExperts::place_all(Backend& backend) {
  for (ExpertWeights& ew : experts_) {
    ew.w1 = backend.place(ew.w1, MemoryKind::Experts);
    ew.w2 = backend.place(ew.w2, MemoryKind::Experts);
    ew.w3 = backend.place(ew.w3, MemoryKind::Experts);
  }
}

void place_weights(MixtralWeights& w, Backend& backend) {
  const bool tied = w.lm_head.data == w.embed.data;
  w.embed = backend.place(w.embed, MemoryKind::Dense);
  for (LayerWeights& lw : w.layers)
    for (WeightView* v : {&lw.attn_norm, &lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.ffn_norm, &lw.router})
      *v = backend.place(*v, MemoryKind::Dense);
  w.final_norm = backend.place(w.final_norm, MemoryKind::Dense);
  w.lm_head = tied ? w.embed : backend.place(w.lm_head, MemoryKind::Dense);
}

ExpertWeights ResidentExperts::acquire(int layer, int expert) {
  return experts_[size_t(layer) * size_t(num_experts_) + size_t(expert)];
}

}  // namespace lm
