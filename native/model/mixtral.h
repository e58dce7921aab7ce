// The Mixtral forward pass (MixtralForCausalLM semantics of transformers) over a chunk of tokens,
// with its preallocated run state. See mixtral.cpp for the computation, top to bottom.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "localmoe/engine.h"
#include "model/expert_source.h"
#include "model/weights.h"

namespace lm {

// Everything the forward writes, allocated once at load (decode allocates nothing).
// Letters: C chunk capacity (tokens per forward call), S KV cache positions, L layers, D hidden,
// H/KV query/kv heads, Dh head dim, F expert hidden, E experts, K experts per token, V vocab.
struct RunState {
  int C = 0;                          // tokens per forward call (prefill chunk)
  int S = 0;                          // positions in the KV cache
  std::unique_ptr<Buffer> x;          // [C, D]      residual stream
  std::unique_ptr<Buffer> h;          // [C, D]      normed input of attention / experts
  std::unique_ptr<Buffer> q;          // [C, H*Dh]
  std::unique_ptr<Buffer> k;          // [C, KV*Dh]
  std::unique_ptr<Buffer> v;          // [C, KV*Dh]
  std::unique_ptr<Buffer> att;        // [C, H*Dh]   attention output before o_proj
  std::unique_ptr<Buffer> router;     // [C, E]      router logits
  std::unique_ptr<Buffer> moe;        // [C, D]      weighted sum of expert outputs
  std::unique_ptr<Buffer> xs;         // [C, D]      rows routed to one expert
  std::unique_ptr<Buffer> a;          // [C, F]      gate (w1) then silu(gate) * up
  std::unique_ptr<Buffer> b;          // [C, F]      up (w3)
  std::unique_ptr<Buffer> ys;         // [C, D]      one expert's output
  std::unique_ptr<Buffer> logits;     // [C, V]
  // KV caches, one per slot (prefix reuse keeps several prompts' keys/values; engine.cpp decides
  // which tokens a slot holds). forward() reads and appends to slot `kv_slot` only.
  std::vector<std::unique_ptr<Buffer>> k_cache;  // [slots] x [L, S, KV*Dh]
  std::vector<std::unique_ptr<Buffer>> v_cache;  // [slots] x [L, S, KV*Dh]
  int kv_slot = 0;                    // the slot forward() uses
  uint64_t kv_bytes = 0;              // bytes of all slots' caches (included in `bytes`)
  std::unique_ptr<Buffer> rope_cos;   // [S, Dh/2]
  std::unique_ptr<Buffer> rope_sin;   // [S, Dh/2]
  // Host-side routing (tiny): decided on the host, as the offloader needs the ids there anyway.
  std::vector<float> router_host;     // [C, E]
  std::vector<int32_t> topk_expert;   // [C, K]  chosen experts, by descending probability
  std::vector<float> topk_weight;     // [C, K]  renormalised probabilities
  std::vector<int32_t> expert_rows;   // [E, C]  rows routed to expert e (first expert_count[e])
  std::vector<float> expert_weight;   // [E, C]  their routing weights
  std::vector<int32_t> expert_count;  // [E]
  uint64_t bytes = 0;                 // memory held by the buffers above
};

class MixtralModel {
 public:
  // `chunk`: tokens per forward call (prefill runs the prompt in chunks of this many).
  MixtralModel(const ModelConfig& config, const MixtralWeights& weights, ExpertSource& experts,
               Backend& backend, int max_context, int chunk, int kv_slots = 1);

  int max_context() const { return state_.S; }
  int chunk() const { return state_.C; }
  uint64_t state_bytes() const { return state_.bytes; }
  // KV slots (kv_slots given at construction, >= 1). forward() runs in the selected slot; the
  // caller keeps track of which positions of each slot hold valid keys/values.
  int kv_slots() const { return int(state_.k_cache.size()); }
  void set_kv_slot(int slot);                              // 0 <= slot < kv_slots(), else aborts
  int kv_slot() const { return state_.kv_slot; }
  uint64_t kv_cache_bytes() const { return state_.kv_bytes; }  // all slots (VRAM budget, UI)

  // Runs tokens[0, n) at positions [pos, pos + n) (n <= chunk(), pos + n <= max_context()),
  // appending their keys/values to the cache, and writes the logits of the last `n_logits` rows to
  // logits_out ([n_logits, V], host memory). Returns false when `cancel` was raised between layers.
  bool forward(const int32_t* tokens, int n, int pos, int n_logits, float* logits_out,
               const std::atomic<bool>* cancel);

  // expert_usage()[l * E + e]: tokens layer l routed to expert e since construction/reset.
  std::vector<uint64_t>& expert_usage();
  // When set, forward appends one row per token: (*log)[t][l * K + k] = chosen expert.
  void set_routing_log(std::vector<std::vector<int32_t>>* log) { routing_log_ = log; }
  // Engine::replay_routing (validated there); null turns it off.
  void set_routing_replay(std::shared_ptr<const RoutingTrace> trace);

 private:
  void route(int n, int layer);  // router_host -> topk_* and expert_rows/weight/count
  void log_routing(int n, int layer);  // topk_expert -> routing_log_ rows

  const ModelConfig& c_;
  const MixtralWeights& w_;
  ExpertSource& experts_;
  Backend& be_;
  RunState state_;
  RopeTable rope_;
  std::vector<uint64_t> expert_usage_;  // [L * E]
  std::vector<std::vector<int32_t>>* routing_log_ = nullptr;
  // Routing replay: the trace, the next trace row, the per-layer expert relabelling [L * E], and
  // the forced ids of the current layer's chunk [C * K].
  std::shared_ptr<const RoutingTrace> replay_;
  size_t replay_row_ = 0;
  std::vector<int32_t> replay_perm_, forced_;
  void fill_forced(int n, int layer);
};

}  // namespace lm
