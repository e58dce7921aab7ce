// The dense (non-expert) weights of a Mixtral checkpoint, as views into the mmap'd safetensors in
// their stored dtype. Experts are reached through an ExpertSource (model/expert_source.h).
//
// Letters: V vocab, D hidden, H query heads, KV kv heads, Dh head dim, E experts.
#pragma once

#include <vector>

#include "common/dtype.h"
#include "localmoe/engine.h"

namespace lm {

class Checkpoint;

struct LayerWeights {
  WeightView attn_norm;  // [D]           model.layers.N.input_layernorm.weight
  WeightView wq;         // [H*Dh, D]     self_attn.q_proj.weight
  WeightView wk;         // [KV*Dh, D]    self_attn.k_proj.weight
  WeightView wv;         // [KV*Dh, D]    self_attn.v_proj.weight
  WeightView wo;         // [D, H*Dh]     self_attn.o_proj.weight
  WeightView ffn_norm;   // [D]           post_attention_layernorm.weight
  WeightView router;     // [E, D]        block_sparse_moe.gate.weight
};

struct MixtralWeights {
  WeightView embed;                 // [V, D]  model.embed_tokens.weight
  std::vector<LayerWeights> layers; // [L]
  WeightView final_norm;            // [D]     model.norm.weight
  WeightView lm_head;               // [V, D]  lm_head.weight, or embed when tie_word_embeddings
  uint64_t bytes = 0;               // total bytes of these views (for memory accounting)
};

// Finds every dense tensor and checks its shape against `config`; throws lm::Error naming the
// tensor, file and expected shape otherwise.
MixtralWeights load_mixtral_weights(const Checkpoint& checkpoint, const ModelConfig& config);

class Backend;
// Moves every dense view to where `backend` computes (a no-op on the CPU backend). A tied lm_head
// stays one copy.
void place_weights(MixtralWeights& weights, Backend& backend);

}  // namespace lm
