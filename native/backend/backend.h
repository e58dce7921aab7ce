// The compute backend: every op the forward pass (model/mixtral.cpp) needs, behind one narrow
// interface chosen once at load (STYLE.md 3.3). The CPU backend (cpu/cpu_backend.*) implements it
// now; the CUDA backend of a later issue implements the same ops on device buffers, so the
// forward pass, the golden tests and the offloaded/resident expert paths stay one code path.
//
// Buffers: activation pointers passed to ops (float*) are memory the backend handed out through
// alloc(); the forward never dereferences them itself except through copy_to_host/copy_from_host.
// For the CPU backend that is plain host memory. Weights arrive as WeightView in their stored dtype
// (bf16/fp16/fp32) and are converted inside the kernels; quantized views come with the HQQ issue.
//
// Letters: T tokens in the chunk, D hidden, N/K matmul output/input, H query heads, KV kv heads,
// Dh head dim, S positions in the KV cache, E experts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/dtype.h"
#include "localmoe/engine.h"

namespace lm {

// Memory owned by a backend (host RAM for CPU; device memory for CUDA).
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual float* f32() = 0;  // base pointer as float (all activations are fp32)
  virtual size_t bytes() const = 0;
};

// Rotary embedding table: cos/sin of pos * inv_freq[i], [max_pos, Dh/2] each, built once at load.
struct RopeTable {
  const float* cos = nullptr;  // [max_pos, Dh/2]
  const float* sin = nullptr;  // [max_pos, Dh/2]
  int max_pos = 0;
  int half = 0;                // Dh / 2
};

struct AttentionArgs {
  const float* q = nullptr;  // [T, H*Dh]   rotated queries of the chunk
  float* k_cache = nullptr;  // [S, KV*Dh]  this layer's keys; rows [pos0, pos0+T) already written
  float* v_cache = nullptr;  // [S, KV*Dh]
  float* out = nullptr;      // [T, H*Dh]
  int T = 0;
  int pos0 = 0;              // absolute position of the chunk's first token
  int heads = 0;             // H
  int kv_heads = 0;          // KV
  int head_dim = 0;          // Dh
  int sliding_window = 0;    // 0 = full causal; else a query at p sees keys (p - window, p]
  float scale = 1.0f;        // 1 / sqrt(Dh)
};

// One layer's mixture of experts, for backends that hold the experts themselves (CUDA with a
// quantized model: expert cache / offloading, routing on the device). x += Σ_k w_k·expert_k(h).
struct MoeArgs {
  int layer = 0;
  int T = 0;
  const float* h = nullptr;            // [T, D] normed input
  const WeightView* gate = nullptr;    // this layer's router [E, D]
  const WeightView* next_gates[2] = {};// routers of layers l+1, l+2 (speculative loading; may be null)
  float* router = nullptr;             // [T, E] scratch for the router logits
  float* x = nullptr;                  // [T, D] residual stream
  int32_t* record = nullptr;           // host [T, K]: the chosen experts, when non-null
  const int32_t* forced = nullptr;     // host [T, K]: experts to use instead of the top-k (replay)
};

// What a backend's memory holds, for the VRAM-by-category report.
enum class MemoryKind { Dense, Experts };

struct MemoryUse {
  uint64_t dense = 0;        // attention, norms, router gates, embeddings, lm_head
  uint64_t experts = 0;      // expert weights (all of them while every expert is resident)
  uint64_t activations = 0;  // KV cache, activations and scratch handed out by alloc()
  uint64_t total() const { return dense + experts + activations; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;  // e.g. "cpu-avx512 x2 threads"

  // Places a weight where this backend's kernels read it, once, at load. The CPU backend reads the
  // mmap'd checkpoint in place (the default); the CUDA backend copies it into device memory.
  virtual WeightView place(const WeightView& host, MemoryKind /*kind*/) { return host; }
  // Backend-owned memory by category (device memory on CUDA; nothing on the CPU backend, whose
  // weights stay in the page cache and whose buffers are counted by the model's run state).
  virtual MemoryUse memory_use() const { return {}; }

  // Experts held by the backend itself (see MoeArgs); false: the forward runs the experts it gets
  // from its ExpertSource op by op.
  virtual bool manages_experts() const { return false; }
  virtual void moe(const MoeArgs& /*args*/) {}
  // Adds the per-(layer, expert) routing counts gathered on the device since the last call to
  // usage [L * E] and clears them (backends that route on the device).
  virtual void collect_expert_usage(uint64_t* /*usage*/) {}
  // Fills the expert-cache and device-memory fields of `c`.
  virtual void report(Counters& /*c*/) {}
  virtual void reset_report() {}  // zeroes what report() counts

  // Decode-step graphs. A single-token forward may be recorded once per `key` (the KV cache it
  // writes) and replayed at any (token, pos): graph_replay returns true when it ran a recorded step
  // and wrote the logits; otherwise, when graph_begin returns true, the caller runs the forward as
  // usual (it is recorded, not executed) and graph_end executes it and writes the logits.
  virtual bool graph_replay(int32_t /*token*/, int /*pos*/, const void* /*key*/, float* /*logits*/) { return false; }
  virtual bool graph_begin(int32_t /*token*/, int /*pos*/, const void* /*key*/) { return false; }
  virtual void graph_end(float* /*logits*/) {}

  // Memory for activations / KV cache, zero-filled.
  virtual std::unique_ptr<Buffer> alloc(size_t bytes) = 0;
  virtual void copy_to_host(const float* src, size_t n, float* host) = 0;
  virtual void copy_from_host(const float* host, size_t n, float* dst) = 0;

  // x[t, :] = table[tokens[t], :] as fp32.                     table [V, D], x [T, D]
  virtual void embed(const WeightView& table, const int32_t* tokens, int T, float* x) = 0;
  // y = x / sqrt(mean(x^2) + eps) * w, per row, in fp32.         x, y [T, D], w [D]
  virtual void rmsnorm(const float* x, const WeightView& w, float eps, int T, int D, float* y) = 0;
  // y (+)= x · Wᵀ.                                               x [T, K], W [N, K], y [T, N]
  virtual void matmul(const WeightView& w, const float* x, int T, float* y, bool accumulate) = 0;
  // ys[i] = x · W_iᵀ for weights sharing one input (the q/k/v projections): a backend may run them
  // as one launch (CUDA: one packed kernel over all three, so the small k/v matrices fill the GPU).
  virtual void matmul_shared_input(const WeightView* const* ws, float* const* ys, int n, const float* x, int T) {
    for (int i = 0; i < n; ++i) matmul(*ws[i], x, T, ys[i], false);
  }
  // Rotates each head of x in place at positions pos0 + t (rotate_half convention: pairs (i, i+Dh/2)).
  //                                                             x [T, heads*Dh]
  virtual void rope(float* x, int T, int heads, int head_dim, int pos0, const RopeTable& table) = 0;
  // Copies rows of the chunk's keys/values into the cache at pos0.  k,v [T, KV*Dh] -> cache [S, KV*Dh]
  virtual void store_kv(const float* k, const float* v, int T, int width, int pos0, float* k_cache,
                        float* v_cache) = 0;
  // Causal (optionally sliding-window) GQA attention over cache rows [0, pos0+T).
  virtual void attention(const AttentionArgs& args) = 0;
  // a = silu(a) * b, elementwise.                                a, b [n]
  virtual void swiglu(float* a, const float* b, size_t n) = 0;
  // dst[i, :] = src[rows[i], :].                                 src [*, D], dst [n, D]
  virtual void gather_rows(const float* src, const int32_t* rows, int n, int D, float* dst) = 0;
  // dst[rows[i], :] += weights[i] * src[i, :].                   src [n, D], dst [*, D]
  virtual void scatter_add_rows(const float* src, const int32_t* rows, const float* weights, int n,
                                int D, float* dst) = 0;
  // x += y.                                                      x, y [n]
  virtual void add(float* x, const float* y, size_t n) = 0;
  // x = 0.                                                       x [n]
  virtual void zero(float* x, size_t n) = 0;
};

}  // namespace lm
