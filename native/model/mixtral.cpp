// Mixtral forward pass, matching transformers' MixtralForCausalLM (eager attention, fp32 compute).
//
// Letters: T tokens in this chunk (n), D hidden, H/KV query/kv heads, Dh head dim, F expert hidden,
// E experts, K experts per token, V vocab, S KV cache positions, L layers.
//
// Per chunk of tokens at positions [pos, pos+T):
//   x = embed(tokens)                                            [T, D]
//   for each layer l:
//     h = rmsnorm(x) * attn_norm                                  [T, D]
//     q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ                              [T, H*Dh], [T, KV*Dh] x2
//     rope(q), rope(k) at positions pos..                         (rotate_half convention)
//     cache[l][pos..] = k, v                                      [S, KV*Dh]
//     att = softmax(q·kᵀ/sqrt(Dh) + causal/window mask)·v         [T, H*Dh]  (GQA: H/KV q per kv)
//     x += att·Woᵀ                                                [T, D]
//     h = rmsnorm(x) * ffn_norm                                   [T, D]
//     r = h·Wgateᵀ; p = softmax(r); top-K of p; renormalise       [T, E] -> [T, K]
//     for each expert e with tokens routed to it (rows R_e):      grouped: matrix-matrix per expert
//       y_e = (silu(h[R_e]·w1ᵀ) ⊙ h[R_e]·w3ᵀ)·w2ᵀ                [|R_e|, D]
//       moe[R_e] += weight · y_e
//     x += moe                                                    [T, D]
//   logits = (rmsnorm(x) * final_norm)·lm_headᵀ  for the last n_logits rows   [n_logits, V]
#include "model/mixtral.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/check.h"

namespace lm {

MixtralModel::MixtralModel(const ModelConfig& c, const MixtralWeights& w, ExpertSource& experts,
                           Backend& backend, int max_context, int chunk, int kv_slots)
    : c_(c), w_(w), experts_(experts), be_(backend) {
  RunState& s = state_;
  s.S = max_context;
  s.C = std::max(1, std::min(chunk, max_context));
  const size_t C = size_t(s.C), S = size_t(s.S), D = size_t(c.hidden_size), F = size_t(c.intermediate_size);
  const size_t QW = size_t(c.num_heads) * size_t(c.head_dim), KVW = size_t(c.num_kv_heads) * size_t(c.head_dim);
  const size_t E = size_t(c.num_experts), K = size_t(c.experts_per_token), V = size_t(c.vocab_size);
  const size_t L = size_t(c.num_layers), half = size_t(c.head_dim) / 2;
  auto alloc = [&](size_t floats) {
    s.bytes += floats * sizeof(float);
    return be_.alloc(floats * sizeof(float));
  };
  s.x = alloc(C * D);
  s.h = alloc(C * D);
  s.q = alloc(C * QW);
  s.k = alloc(C * KVW);
  s.v = alloc(C * KVW);
  s.att = alloc(C * QW);
  s.router = alloc(C * E);
  s.moe = alloc(C * D);
  s.xs = alloc(C * D);
  s.a = alloc(C * F);
  s.b = alloc(C * F);
  s.ys = alloc(C * D);
  s.logits = alloc(C * V);
  LM_ASSERT(kv_slots >= 1, "kv_slots must be >= 1 (checked by the engine)");
  for (int slot = 0; slot < kv_slots; ++slot) {  // one K and one V cache per slot
    s.k_cache.push_back(alloc(L * S * KVW));
    s.v_cache.push_back(alloc(L * S * KVW));
    s.kv_bytes += 2 * L * S * KVW * sizeof(float);
  }
  s.rope_cos = alloc(S * half);
  s.rope_sin = alloc(S * half);
  s.router_host.assign(C * E, 0.0f);
  s.topk_expert.assign(C * K, 0);
  s.topk_weight.assign(C * K, 0.0f);
  s.expert_rows.assign(E * C, 0);
  s.expert_weight.assign(E * C, 0.0f);
  s.expert_count.assign(E, 0);
  expert_usage_.assign(L * E, 0);

  // RoPE table, computed as transformers does in fp32: inv_freq[i] = 1 / theta^(2i/Dh),
  // angle = pos * inv_freq[i] (one fp32 product), then cos/sin.
  std::vector<float> cos_host(S * half), sin_host(S * half);
  for (size_t i = 0; i < half; ++i) {
    // fp32 frequencies whatever the weight dtype, as transformers' from_pretrained keeps them.
    const float inv_freq = 1.0f / std::pow(c.rope_theta, float(2 * i) / float(c.head_dim));
    for (size_t p = 0; p < S; ++p) {
      const float angle = float(p) * inv_freq;
      cos_host[p * half + i] = std::cos(angle);
      sin_host[p * half + i] = std::sin(angle);
    }
  }
  be_.copy_from_host(cos_host.data(), cos_host.size(), s.rope_cos->f32());
  be_.copy_from_host(sin_host.data(), sin_host.size(), s.rope_sin->f32());
  rope_ = RopeTable{s.rope_cos->f32(), s.rope_sin->f32(), s.S, int(half)};
}

void MixtralModel::set_kv_slot(int slot) {
  LM_ASSERT(slot >= 0 && slot < kv_slots(), "KV slot out of range (checked by the engine)");
  state_.kv_slot = slot;
}

// Router, as MixtralSparseMoeBlock: softmax over all E experts (fp32), top-K, renormalise the K
// weights to sum 1. Then group rows by expert so each expert runs once as a matrix-matrix product.
void MixtralModel::route(int n, int layer) {
  RunState& s = state_;
  const int E = c_.num_experts, K = c_.experts_per_token;
  std::fill(s.expert_count.begin(), s.expert_count.end(), 0);
  for (int t = 0; t < n; ++t) {
    float* p = s.router_host.data() + size_t(t) * E;  // logits -> probabilities in place
    const float mx = *std::max_element(p, p + E);
    float sum = 0.0f;
    for (int e = 0; e < E; ++e) {
      p[e] = std::exp(p[e] - mx);
      sum += p[e];
    }
    for (int e = 0; e < E; ++e) p[e] /= sum;
    int32_t* idx = s.topk_expert.data() + size_t(t) * K;
    float* wt = s.topk_weight.data() + size_t(t) * K;
    float wsum = 0.0f;
    for (int k = 0; k < K; ++k) {  // K is small (2): repeated argmax, earlier index wins ties
      int best = -1;
      for (int e = 0; e < E; ++e) {
        bool taken = false;
        for (int j = 0; j < k; ++j) taken = taken || idx[j] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = e;
      }
      idx[k] = best;
      wt[k] = p[best];
      wsum += p[best];
    }
    for (int k = 0; k < K; ++k) {
      wt[k] /= wsum;
      const int e = idx[k];
      const int slot = s.expert_count[size_t(e)]++;
      s.expert_rows[size_t(e) * size_t(s.C) + size_t(slot)] = t;
      s.expert_weight[size_t(e) * size_t(s.C) + size_t(slot)] = wt[k];
      expert_usage_[size_t(layer) * size_t(E) + size_t(e)] += 1;
    }
  }
  if (routing_log_ != nullptr) log_routing(n, layer);
}

void MixtralModel::set_routing_replay(std::shared_ptr<const RoutingTrace> trace) {
  replay_ = std::move(trace);
  replay_row_ = 0;
  if (replay_ == nullptr) return;
  LM_ASSERT(be_.manages_experts(), "routing replay needs a backend that routes on the device");
  const int L = c_.num_layers, E = c_.num_experts;
  // Layers past the trace's own reuse its rows under a fixed relabelling of the experts, so two
  // such layers do not miss and hit in lockstep (a trained model's layers route independently).
  replay_perm_.resize(size_t(L) * size_t(E));
  std::mt19937 rng(20261125u);
  for (int l = 0; l < L; ++l) {
    int32_t* p = replay_perm_.data() + size_t(l) * size_t(E);
    std::iota(p, p + E, 0);
    if (l >= replay_->layers) std::shuffle(p, p + E, rng);
  }
  forced_.resize(size_t(state_.C) * size_t(c_.experts_per_token));
}

void MixtralModel::fill_forced(int n, int layer) {
  const RoutingTrace& tr = *replay_;
  const int K = c_.experts_per_token, tl = layer % tr.layers;
  const int32_t* perm = replay_perm_.data() + size_t(layer) * size_t(c_.num_experts);
  for (int t = 0; t < n; ++t) {
    const std::vector<int32_t>& row = tr.tokens[(replay_row_ + size_t(t)) % tr.tokens.size()];
    for (int k = 0; k < K; ++k) forced_[size_t(t) * size_t(K) + size_t(k)] = perm[row[size_t(tl) * size_t(K) + size_t(k)]];
  }
}

void MixtralModel::log_routing(int n, int layer) {
  const int K = c_.experts_per_token;
  for (int t = 0; t < n; ++t) {
    const int32_t* idx = state_.topk_expert.data() + size_t(t) * size_t(K);
    std::vector<int32_t>& row = (*routing_log_)[routing_log_->size() - size_t(n) + size_t(t)];
    std::copy(idx, idx + K, row.begin() + ptrdiff_t(layer) * K);
  }
}

std::vector<uint64_t>& MixtralModel::expert_usage() {
  be_.collect_expert_usage(expert_usage_.data());  // routing done on the device, if any
  return expert_usage_;
}

bool MixtralModel::forward(const int32_t* tokens, int n, int pos, int n_logits, float* logits_out,
                           const std::atomic<bool>* cancel) {
  RunState& s = state_;
  LM_ASSERT(n >= 1 && n <= s.C && pos >= 0 && pos + n <= s.S, "forward chunk out of range");
  LM_ASSERT(n_logits >= 0 && n_logits <= n, "n_logits out of range");
  const int D = c_.hidden_size, F = c_.intermediate_size, E = c_.num_experts;
  const int H = c_.num_heads, KVH = c_.num_kv_heads, Dh = c_.head_dim;
  const int KVW = KVH * Dh;
  const size_t layer_cache = size_t(s.S) * size_t(KVW);
  float* x = s.x->f32();
  float* h = s.h->f32();
  if (routing_log_ != nullptr)
    routing_log_->resize(routing_log_->size() + size_t(n),
                         std::vector<int32_t>(size_t(c_.num_layers) * size_t(c_.experts_per_token)));

  // A single decode token may run as a recorded CUDA graph (one launch for the whole step); the
  // key is the KV cache it writes. Not while recording routing (that needs the host per layer).
  const void* graph_key = s.k_cache[size_t(s.kv_slot)]->f32();
  const bool graphable = n == 1 && n_logits == 1 && routing_log_ == nullptr && replay_ == nullptr;
  if (graphable && be_.graph_replay(tokens[0], pos, graph_key, logits_out)) return true;
  const bool capturing = graphable && be_.graph_begin(tokens[0], pos, graph_key);

  be_.embed(w_.embed, tokens, n, x);                                       // x [T, D]
  for (int l = 0; l < c_.num_layers; ++l) {
    if (!capturing && cancel != nullptr && cancel->load(std::memory_order_relaxed)) return false;
    const LayerWeights& lw = w_.layers[size_t(l)];

    // --- attention ---
    be_.rmsnorm(x, lw.attn_norm, c_.rms_norm_eps, n, D, h);               // h [T, D]
    {  // q [T, H*Dh], k and v [T, KV*Dh]
      const WeightView* ws[3] = {&lw.wq, &lw.wk, &lw.wv};
      float* ys[3] = {s.q->f32(), s.k->f32(), s.v->f32()};
      be_.matmul_shared_input(ws, ys, 3, h, n);
    }
    be_.rope(s.q->f32(), n, H, Dh, pos, rope_);
    be_.rope(s.k->f32(), n, KVH, Dh, pos, rope_);
    float* k_cache = s.k_cache[size_t(s.kv_slot)]->f32() + size_t(l) * layer_cache;  // [S, KV*Dh]
    float* v_cache = s.v_cache[size_t(s.kv_slot)]->f32() + size_t(l) * layer_cache;
    be_.store_kv(s.k->f32(), s.v->f32(), n, KVW, pos, k_cache, v_cache);
    AttentionArgs aa;
    aa.q = s.q->f32();
    aa.k_cache = k_cache;
    aa.v_cache = v_cache;
    aa.out = s.att->f32();
    aa.T = n;
    aa.pos0 = pos;
    aa.heads = H;
    aa.kv_heads = KVH;
    aa.head_dim = Dh;
    aa.sliding_window = c_.sliding_window;
    aa.scale = 1.0f / std::sqrt(float(Dh));
    be_.attention(aa);                                                    // att [T, H*Dh]
    be_.matmul(lw.wo, s.att->f32(), n, x, true);                          // x += att·Woᵀ [T, D]

    // --- mixture of experts ---
    be_.rmsnorm(x, lw.ffn_norm, c_.rms_norm_eps, n, D, h);                // h [T, D]
    be_.matmul(lw.router, h, n, s.router->f32(), false);                  // router [T, E]
    if (be_.manages_experts()) {                                          // CUDA + quantized:
      MoeArgs ma;                                                         // the backend routes on the
      ma.layer = l;                                                       // device and runs its own
      ma.T = n;                                                           // expert cache
      ma.h = h;
      ma.gate = &lw.router;
      for (int a = 0; a < 2; ++a)
        ma.next_gates[a] = l + 1 + a < c_.num_layers ? &w_.layers[size_t(l + 1 + a)].router : nullptr;
      ma.router = s.router->f32();
      ma.x = x;
      ma.record = routing_log_ != nullptr ? s.topk_expert.data() : nullptr;
      if (replay_ != nullptr) {
        fill_forced(n, l);
        ma.forced = forced_.data();
      }
      be_.moe(ma);
      if (routing_log_ != nullptr) log_routing(n, l);
      continue;
    }
    be_.copy_to_host(s.router->f32(), size_t(n) * size_t(E), s.router_host.data());
    route(n, l);                                                          // top-K per row
    be_.zero(s.moe->f32(), size_t(n) * size_t(D));                        // moe [T, D]
    for (int e = 0; e < E; ++e) {
      const int count = s.expert_count[size_t(e)];
      if (count == 0) continue;
      const int32_t* rows = s.expert_rows.data() + size_t(e) * size_t(s.C);
      const float* weights = s.expert_weight.data() + size_t(e) * size_t(s.C);
      const ExpertWeights ew = experts_.acquire(l, e);
      be_.gather_rows(h, rows, count, D, s.xs->f32());                    // xs [n_e, D]
      be_.matmul(ew.w1, s.xs->f32(), count, s.a->f32(), false);           // a  [n_e, F]
      be_.matmul(ew.w3, s.xs->f32(), count, s.b->f32(), false);           // b  [n_e, F]
      be_.swiglu(s.a->f32(), s.b->f32(), size_t(count) * size_t(F));      // a = silu(a) ⊙ b
      be_.matmul(ew.w2, s.a->f32(), count, s.ys->f32(), false);           // ys [n_e, D]
      be_.scatter_add_rows(s.ys->f32(), rows, weights, count, D, s.moe->f32());
      experts_.release(l, e);
    }
    be_.add(x, s.moe->f32(), size_t(n) * size_t(D));                      // x += moe
  }

  if (replay_ != nullptr) replay_row_ += size_t(n);
  if (n_logits > 0) {
    const float* last = x + size_t(n - n_logits) * size_t(D);
    be_.rmsnorm(last, w_.final_norm, c_.rms_norm_eps, n_logits, D, h);    // h [n_logits, D]
    be_.matmul(w_.lm_head, h, n_logits, s.logits->f32(), false);          // logits [n_logits, V]
    be_.copy_to_host(s.logits->f32(), size_t(n_logits) * size_t(c_.vocab_size), logits_out);
  }
  if (capturing) be_.graph_end(logits_out);  // runs the recorded step, writes the logits
  return true;
}

}  // namespace lm
