// LocalMoE engine: the public C++ API (tokens in, tokens out).
//
// Everything the addon (native/addon) and the CLI (native/tools) may use lives in this header and
// the headers it includes; the rest of native/ is internal. The engine knows nothing of text, JSON
// requests or VS Code: it loads a checkpoint folder, prefills token ids, decodes token ids.
//
// Errors: input and I/O failures (missing file, corrupt checkpoint, bad option) throw lm::Error with
// a message that names the file and what the user can do. Broken invariants abort.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lm {

// The one exception type that crosses the API. what() is meant for the user.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Device { Cpu, Cuda };

// Architecture hyper-parameters, read from config.json (never hard-coded).
struct ModelConfig {
  std::string architecture;      // "MixtralForCausalLM"
  int vocab_size = 0;            // V
  int hidden_size = 0;           // D
  int intermediate_size = 0;     // F (per expert)
  int num_layers = 0;            // L
  int num_heads = 0;             // H  (query heads)
  int num_kv_heads = 0;          // KV (key/value heads, GQA: H % KV == 0)
  int head_dim = 0;              // Dh (config head_dim, or D / H when absent or null)
  int num_experts = 0;           // E
  int experts_per_token = 0;     // K (top-k)
  int max_position_embeddings = 0;
  int sliding_window = 0;        // 0 = none
  float rope_theta = 10000.0f;
  float rms_norm_eps = 1e-5f;
  bool tie_word_embeddings = false;
  int bos_token_id = 1;
  int eos_token_id = 2;
  std::string weight_dtype;      // "bf16" | "fp16" | "fp32"; quantized folder: "METHOD:PRESET", e.g. "hqq:paper-2bit"
};

struct LoadOptions {
  std::string model_dir;         // Hugging Face checkpoint folder (or a quantized one)
  Device device = Device::Cpu;
  int threads = 0;               // 0 = hardware concurrency
  int max_context = 4096;        // KV cache length in tokens (clamped to max_position_embeddings)
  int prefill_chunk = 0;         // tokens per batched prefill step (0 = 128; CUDA 512); bounds activation memory
  int kv_slots = 2;              // KV caches kept for prefix reuse (e.g. 0 = completions, 1 = chat)
  // Expert offloading (CUDA backend; the CPU backend keeps every expert in RAM and ignores these).
  // vram_budget: bytes of device memory the engine may use in all (dense weights, KV caches,
  // workspace and the expert cache); 0 = auto (free memory minus a safety margin), < 0 = no
  // budget: every expert resident.
  int64_t vram_budget = -1;
  int expert_slots = 0;              // > 0: exactly this many cache slots per layer (overrides vram_budget)
  std::string cache_policy = "lru";  // eviction policy of the per-layer expert cache: lru | lfu | none
  int prefetch_lookahead = 1;        // speculative loading: layers ahead (0 = off, 1 or 2)
  int prefetch_guesses = 2;          // experts guessed per look-ahead layer
  // Hybrid execution (CUDA + quantized model; the CPU backend computes every expert on the CPU
  // anyway and ignores both). cpu_expert_layers: the experts of the first N layers never get VRAM
  // slots and are always computed on the CPU from host RAM (like llama.cpp --n-cpu-moe N; the
  // budget's room goes to the other layers). hybrid: in decode, each routed expert that is not in
  // VRAM is either copied (and cached) or computed on the CPU where it lies, whichever a cost model
  // (measured PCIe and CPU speed, corrected online) says finishes sooner; both run at once.
  int cpu_expert_layers = 0;
  bool hybrid = false;
};

struct SamplingParams {
  float temperature = 0.0f;        // 0 = greedy (argmax)
  int top_k = 0;                   // 0 = off
  float top_p = 1.0f;              // 1 = off
  float repetition_penalty = 1.0f; // 1 = off (CTRL-style: divide positive logits, multiply negative)
  uint64_t seed = 0;
};

struct GenerateRequest {
  std::vector<int32_t> prompt;     // token ids, BOS included by the caller when wanted
  int max_new_tokens = 16;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;   // generation stops after emitting one of these (EOS is added by default)
  bool stop_at_eos = true;
  int kv_slot = 0;                 // which KV cache to run in; its longest common prefix is reused (<= prompt - 1)
  bool reuse_prefix = true;        // false: prefill the whole prompt (for tests and benchmarks)
};

enum class StopReason { MaxTokens, StopToken, Cancelled, ContextFull };

struct GenerateResult {
  std::vector<int32_t> tokens;     // generated ids (the stop token included when one ended it)
  StopReason stop_reason = StopReason::MaxTokens;
  int prompt_tokens = 0;
  int reused_tokens = 0;           // prompt tokens whose KV came from the slot (not prefilled)
  double prefill_ms = 0;           // time to first token = prefill + first sample
  double decode_ms = 0;            // time for the remaining tokens
};

// Cumulative counters since load (or since reset_counters). All numbers shown to users come from here.
struct Counters {
  uint64_t prompt_tokens = 0;
  uint64_t generated_tokens = 0;
  double prefill_ms = 0;
  double decode_ms = 0;
  // expert_usage[l * E + e] = number of tokens layer l routed to expert e.
  std::vector<uint64_t> expert_usage;
  // KV prefix reuse.
  uint64_t reused_prompt_tokens = 0;  // prompt tokens served from a KV slot instead of prefilled
  uint64_t kv_slot_evictions = 0;     // requests that kept < half of what their slot held (new document, reuse off)

  // Expert cache (CUDA offloading). All zero when every expert is resident or on the CPU backend.
  uint64_t expert_hits = 0;           // needed expert already in its layer's cache
  uint64_t expert_misses = 0;         // needed expert copied in on demand
  uint64_t expert_cpu_computed = 0;   // needed expert computed on the CPU instead (hybrid / CPU layers)
  uint64_t cpu_expert_bytes = 0;      // expert bytes the CPU read computing them
  double cpu_expert_ms = 0;           // wall time of those CPU computations
  uint64_t prefetch_issued = 0;       // speculative copies started
  uint64_t prefetch_used = 0;         // ... whose expert was then needed before eviction
  uint64_t prefetch_wasted = 0;       // ... evicted (or replaced) without being used
  uint64_t bytes_copied = 0;          // host -> device expert bytes (demand + prefetch)
  double copy_ms = 0;                 // time the copy stream was busy copying experts
  // cache_slots[l] = experts of layer l in its cache now (-1 = empty slot); empty without a cache.
  std::vector<std::vector<int32_t>> cache_slots;

  // Device memory by category in bytes (CUDA; zero on the CPU backend).
  struct Memory {
    uint64_t dense = 0;      // attention, norms, gates, embeddings, lm_head
    uint64_t experts = 0;    // expert weights resident or in the expert cache
    uint64_t kv_cache = 0;   // KV caches of all slots
    uint64_t workspace = 0;  // activations and scratch
    uint64_t budget = 0;     // the VRAM budget in force (0 = none)
  } vram;
};

// Called from the generating thread for each new token; return false to stop generation.
using TokenCallback = std::function<bool(int32_t token)>;

// Recorded routing (`moe run --record-routing`, schema localmoe.routing-trace/1): tokens[t][l * K + k].
struct RoutingTrace {
  int layers = 0, experts = 0, experts_per_token = 0;
  std::vector<std::vector<int32_t>> tokens;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Loads a model folder; throws lm::Error with an actionable message.
  static std::unique_ptr<Engine> load(const LoadOptions& options);

  virtual const ModelConfig& config() const = 0;
  virtual Device device() const = 0;
  // Bytes of weights and KV cache held by the engine (for UI and V8 external-memory accounting).
  virtual uint64_t memory_bytes() const = 0;

  // Runs prompt + decode. `cancel` (may be null) is polled between tokens and between layers of
  // prefill; cancellation stops within one token. Not thread-safe: one generate at a time.
  virtual GenerateResult generate(const GenerateRequest& request, const TokenCallback& on_token,
                                  const std::atomic<bool>* cancel = nullptr) = 0;

  // Prefills `tokens` from position 0 and returns float32 logits for every position, row-major
  // [tokens.size(), vocab]. For golden tests and `moe run --logits-out`.
  virtual std::vector<float> prompt_logits(const std::vector<int32_t>& tokens) = 0;

  // Per-layer top-k expert ids chosen for each position of the last prefill/decode call sequence:
  // routing()[t][l * K + k]. Recording is off unless enabled (it allocates).
  virtual void set_record_routing(bool on) = 0;
  virtual const std::vector<std::vector<int32_t>>& routing() const = 0;

  // Benchmarks: every token from now on takes its experts from `trace` (token i of the run uses
  // row i mod the trace's length; layer l uses trace layer l mod its layer count, with a fixed
  // per-layer relabelling of experts beyond the trace's layers) instead of the router's top-k; the
  // mixing weights stay the router's (renormalised over the forced experts). So a random synthetic
  // model's expert cache sees a trained model's reuse pattern. Null turns it off. Needs a backend
  // that routes on the device (CUDA with a quantized model); decode graphs are off while it is on.
  virtual void replay_routing(std::shared_ptr<const RoutingTrace> trace) = 0;

  virtual Counters counters() const = 0;
  virtual void reset_counters() = 0;

  // Which backend and kernels run the model, e.g. "cpu-avx512 x2" (for logs and benchmark rows).
  virtual std::string backend_name() const { return ""; }
};

const char* to_string(StopReason reason);

// Which backends this build has, and whether CUDA can be used on this machine now (a GPU and a
// recent enough driver). The editor's "auto" device picks CUDA only when it is usable.
struct BackendSupport {
  bool cuda_compiled = false;
  std::string cuda_unavailable_reason;  // empty when CUDA is compiled in and usable
};
BackendSupport backend_support();

// The first CUDA GPU (for benchmark reports and the "auto" VRAM budget); empty name when none.
struct GpuInfo {
  std::string name;
  uint64_t memory_bytes = 0;
  uint64_t free_bytes = 0;
};
GpuInfo gpu_info();
// Measured pinned host -> device copy rate in GB/s (copies of `bytes`, best of a few); 0 without CUDA.
double measure_h2d_gbps(uint64_t bytes);

}  // namespace lm
