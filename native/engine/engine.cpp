// lm::Engine implementation: loads a checkpoint folder, owns backend + model + sampler, and runs
// prefill (batched, in chunks) then token-by-token decode with preallocated state.
#include <algorithm>
#include <chrono>

#include "common/check.h"
#include "cpu/cpu_backend.h"
#ifdef LOCALMOE_HAVE_CUDA
#include "cuda/cuda_backend.h"
#endif
#include "io/safetensors.h"
#include "localmoe/engine.h"
#include "model/config.h"
#include "model/expert_source.h"
#include "model/mixtral.h"
#include "model/packed_weights.h"
#include "model/sampler.h"
#include "model/weights.h"

namespace lm {

namespace {

constexpr int kDefaultPrefillChunk = 128;
constexpr int kDefaultCudaPrefillChunk = 512;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

const char* dtype_label(DType t) {
  switch (t) {
    case DType::F32: return "fp32";
    case DType::F16: return "fp16";
    case DType::BF16: return "bf16";
  }
  return "?";
}

class LoadedEngine final : public Engine {
 public:
  explicit LoadedEngine(const LoadOptions& o) {
    config_ = load_model_config(o.model_dir);
    // The loader is picked by looking at the folder: the output of `moe quantize` (its shards say
    // format "localmoe-hqq") computes from the packed form; anything else is a Hugging Face folder.
    std::unique_ptr<ResidentExperts> resident;
    std::unique_ptr<PackedExpertSource> packed_experts;
    if (is_quantized_folder(o.model_dir)) {
      packed_ = std::make_unique<PackedModelWeights>(o.model_dir, config_);
      weights_ = packed_->weights();  // packed views point into packed_, which lives as long
      config_.weight_dtype = packed_->label();
      packed_experts = std::make_unique<PackedExpertSource>(packed_->model(), config_);
    } else {
      checkpoint_ = std::make_unique<Checkpoint>(o.model_dir);
      weights_ = load_mixtral_weights(*checkpoint_, config_);
      config_.weight_dtype = dtype_label(weights_.embed.dtype);
      resident = std::make_unique<ResidentExperts>(*checkpoint_, config_);
    }
    if (o.max_context <= 0) fail("max_context must be positive (got ", o.max_context, ")");
    if (o.threads < 0) fail("threads must be >= 0 (got ", o.threads, ")");
    if (o.prefill_chunk < 0) fail("prefill_chunk must be >= 0 (got ", o.prefill_chunk, ")");
    if (o.cpu_expert_layers < 0 || o.cpu_expert_layers > config_.num_layers)
      fail("cpu_expert_layers must be in [0, ", config_.num_layers, "] (the model's layers), got ", o.cpu_expert_layers);
    // Hybrid settings place experts between VRAM and host RAM: meaningless on the CPU backend (every
    // expert is computed on the CPU already: ignored there), but on CUDA they need the quantized
    // expert store, which an unquantized folder does not have.
    if (o.device == Device::Cuda && !packed_ && (o.cpu_expert_layers > 0 || o.hybrid))
      fail("cpu_expert_layers / hybrid need a quantized model on the CUDA device (run `moe quantize` first)");
    if (o.kv_slots < 1) fail("kv_slots must be >= 1 (got ", o.kv_slots, "): one KV cache per slot");
    const int context = std::min(o.max_context, config_.max_position_embeddings);
    // CUDA: 512-token chunks keep the tensor-core prefill matmul (cuda/packed_gemm.h) busy; each
    // chunk reads every weight once, so fewer chunks read less.
    const int chunk = o.prefill_chunk > 0 ? o.prefill_chunk
                      : o.device == Device::Cuda ? kDefaultCudaPrefillChunk
                                                 : kDefaultPrefillChunk;
    backend_ = make_backend(o, context);
    device_ = o.device;
    place_weights(weights_, *backend_);  // dense weights to the device (CPU: in place)
    if (resident) {
      resident->place_all(*backend_);  // every expert resident (the offloader replaces this)
      experts_ = std::move(resident);
    } else {
      experts_ = std::move(packed_experts);  // resident in the mmap; the CPU reads it in place
    }
    model_ = std::make_unique<MixtralModel>(config_, weights_, *experts_, *backend_, context, chunk,
                                            o.kv_slots);
    if (packed_ && o.device == Device::Cuda) bind_device_experts(o, chunk);
    sampler_ = std::make_unique<Sampler>(config_.vocab_size);
    logits_.assign(size_t(config_.vocab_size), 0.0f);
    history_.reserve(size_t(context) + 1);
    slot_tokens_.assign(size_t(o.kv_slots), {});  // KV slots start empty (prefix reuse)
    counters_.expert_usage.assign(size_t(config_.num_layers) * size_t(config_.num_experts), 0);
  }

  const ModelConfig& config() const override { return config_; }
  Device device() const override { return device_; }
  std::string backend_name() const override { return backend_->name(); }
  uint64_t memory_bytes() const override {
    if (device_ == Device::Cuda) return backend_->memory_use().total();
    const uint64_t files = checkpoint_ ? checkpoint_->total_bytes() : packed_->file_bytes();
    return files + model_->state_bytes();
  }

  // Prefix reuse: the request runs in KV slot req.kv_slot; slot_tokens_[slot] says which tokens'
  // keys/values that slot holds (positions 0..n-1). The longest common prefix of those and the new
  // prompt is kept, only the rest is prefilled, and at least the last prompt token is run again (its
  // logits pick the first new token). The CPU kernels compute every token row independently of how
  // rows are batched (each output is one fixed FMA chain, attention is per query row), so with
  // 16/32-bit weights the result is bitwise the same as without reuse; see
  // native/tests/test_prefix_reuse.cpp and docs/ARCHITECTURE.md for the quantized case.
  GenerateResult generate(const GenerateRequest& req, const TokenCallback& on_token,
                          const std::atomic<bool>* cancel) override {
    check_tokens(req.prompt, "prompt");
    check_slot(req.kv_slot);
    sampler_->reset(req.sampling);
    begin_routing();
    GenerateResult result;
    result.prompt_tokens = int(req.prompt.size());
    result.tokens.reserve(size_t(std::max(0, req.max_new_tokens)));
    history_.assign(req.prompt.begin(), req.prompt.end());

    const int P = int(req.prompt.size());
    std::vector<int32_t>& cached = slot_tokens_[size_t(req.kv_slot)];
    const int reuse = req.reuse_prefix ? std::min(common_prefix(cached, req.prompt), P - 1) : 0;
    take_slot(req.kv_slot, reuse);
    result.reused_tokens = reuse;
    counters_.reused_prompt_tokens += uint64_t(reuse);

    const auto t0 = std::chrono::steady_clock::now();
    bool ok = true;
    for (int pos = reuse; pos < P && ok; pos += model_->chunk()) {  // batched prefill, chunk by chunk
      const int n = std::min(model_->chunk(), P - pos);
      const bool last = pos + n == P;
      ok = model_->forward(req.prompt.data() + pos, n, pos, last ? 1 : 0, logits_.data(), cancel);
      if (ok) cached.insert(cached.end(), req.prompt.begin() + pos, req.prompt.begin() + pos + n);
    }
    counters_.prompt_tokens += uint64_t(P);
    if (!ok || req.max_new_tokens <= 0) {
      result.stop_reason = ok ? StopReason::MaxTokens : StopReason::Cancelled;
      result.prefill_ms = ms_since(t0);
      counters_.prefill_ms += result.prefill_ms;
      end_routing();
      return result;
    }

    auto t1 = t0;
    int pos = P;
    for (;;) {
      const int32_t token = sampler_->sample(logits_.data(), history_.data(), history_.size());
      if (result.tokens.empty()) {  // time to first token = prefill + first sample
        result.prefill_ms = ms_since(t0);
        t1 = std::chrono::steady_clock::now();
      }
      result.tokens.push_back(token);
      history_.push_back(token);
      if (on_token && !on_token(token)) {
        result.stop_reason = StopReason::Cancelled;
        break;
      }
      if ((req.stop_at_eos && token == config_.eos_token_id) ||
          std::find(req.stop_ids.begin(), req.stop_ids.end(), token) != req.stop_ids.end()) {
        result.stop_reason = StopReason::StopToken;
        break;
      }
      if (int(result.tokens.size()) >= req.max_new_tokens) {
        result.stop_reason = StopReason::MaxTokens;
        break;
      }
      if (pos >= model_->max_context()) {
        result.stop_reason = StopReason::ContextFull;
        break;
      }
      if ((cancel != nullptr && cancel->load(std::memory_order_relaxed)) ||
          !model_->forward(&token, 1, pos, 1, logits_.data(), cancel)) {
        result.stop_reason = StopReason::Cancelled;
        break;
      }
      cached.push_back(token);  // its keys/values are in the slot now (the last sampled never is)
      ++pos;
    }
    result.decode_ms = ms_since(t1);
    counters_.generated_tokens += result.tokens.size();
    counters_.prefill_ms += result.prefill_ms;
    counters_.decode_ms += result.decode_ms;
    end_routing();
    return result;
  }

  // Runs in KV slot 0 without reuse (every position's logits are wanted, so all are computed) and
  // leaves slot 0 empty: a generate() after it prefills its whole prompt, as the golden tests expect.
  std::vector<float> prompt_logits(const std::vector<int32_t>& tokens) override {
    check_tokens(tokens, "tokens");
    begin_routing();
    take_slot(0, 0);
    const size_t V = size_t(config_.vocab_size);
    std::vector<float> out(tokens.size() * V);
    const auto t0 = std::chrono::steady_clock::now();
    const int T = int(tokens.size());
    for (int pos = 0; pos < T; pos += model_->chunk()) {
      const int n = std::min(model_->chunk(), T - pos);
      model_->forward(tokens.data() + pos, n, pos, n, out.data() + size_t(pos) * V, nullptr);
    }
    slot_tokens_[0].clear();
    counters_.prompt_tokens += uint64_t(T);
    counters_.prefill_ms += ms_since(t0);
    end_routing();
    return out;
  }

  void set_record_routing(bool on) override {
    record_routing_ = on;
    if (!on) routing_.clear();
  }
  const std::vector<std::vector<int32_t>>& routing() const override { return routing_; }

  void replay_routing(std::shared_ptr<const RoutingTrace> trace) override {
    if (trace != nullptr) {
      const int K = config_.experts_per_token, E = config_.num_experts;
      if (!backend_->manages_experts())
        fail("routing replay needs the CUDA backend with a quantized model (the device routes there)");
      if (trace->experts != E || trace->experts_per_token != K || trace->layers < 1 || trace->tokens.empty())
        fail("routing trace has ", trace->experts, " experts, top-", trace->experts_per_token, " over ",
             trace->layers, " layers; this model has ", E, " experts, top-", K);
      for (const std::vector<int32_t>& row : trace->tokens) {
        if (row.size() != size_t(trace->layers) * size_t(K)) fail("routing trace row of the wrong length");
        for (int32_t e : row)
          if (e < 0 || e >= E) fail("routing trace names expert ", e, "; this model has ", E);
      }
    }
    model_->set_routing_replay(std::move(trace));
  }

  Counters counters() const override {
    Counters c = counters_;
    c.expert_usage = model_->expert_usage();
    backend_->report(c);
    if (device_ == Device::Cuda) {  // the backend counts the KV caches among its activations
      c.vram.kv_cache = model_->kv_cache_bytes();
      c.vram.workspace -= std::min(c.vram.workspace, c.vram.kv_cache);
    }
    return c;
  }
  void reset_counters() override {
    counters_ = Counters{};
    std::fill(model_->expert_usage().begin(), model_->expert_usage().end(), 0);
    backend_->reset_report();
  }

 private:
  void check_tokens(const std::vector<int32_t>& tokens, const char* what) const {
    if (tokens.empty()) fail("the ", what, " is empty: give at least one token id (e.g. BOS = ", config_.bos_token_id, ")");
    if (int64_t(tokens.size()) > model_->max_context())
      fail("the ", what, " has ", tokens.size(), " tokens but the context holds ", model_->max_context(),
           "; shorten it or load with a larger max_context");
    for (int32_t t : tokens)
      if (t < 0 || t >= config_.vocab_size)
        fail("token id ", t, " in the ", what, " is outside the vocabulary [0, ", config_.vocab_size, ")");
  }
  void check_slot(int slot) const {
    const int n = model_->kv_slots();
    if (slot < 0 || slot >= n)
      fail("kv_slot ", slot, " does not exist: the engine was loaded with ", n, " KV slot(s), so use 0..", n - 1,
           " or load with more kv_slots");
  }
  static int common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    const auto ends = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
    return int(ends.first - a.begin());
  }
  // Selects `slot` for the next forward calls and keeps its first `keep` tokens; positions from
  // `keep` on are rewritten. Keeping less than half of what a slot held counts as an eviction (the
  // slot went to another document or conversation, or reuse was off); trimming the tail (an edit
  // near the cursor, the previous reply) is ordinary reuse.
  void take_slot(int slot, int keep) {
    std::vector<int32_t>& cached = slot_tokens_[size_t(slot)];
    if (!cached.empty() && size_t(keep) * 2 < cached.size()) ++counters_.kv_slot_evictions;
    cached.resize(size_t(keep));
    model_->set_kv_slot(slot);
  }
  void begin_routing() {
    routing_.clear();
    model_->set_routing_log(record_routing_ ? &routing_ : nullptr);
  }
  void end_routing() { model_->set_routing_log(nullptr); }

  // Quantized model on CUDA: the backend takes the experts (all resident, or an expert cache
  // within the VRAM budget with speculative loading); validated here so bad options fail at load.
  void bind_device_experts(const LoadOptions& o, int chunk) {
#ifdef LOCALMOE_HAVE_CUDA
    if (o.prefetch_lookahead < 0 || o.prefetch_lookahead > 2)
      fail("prefetch_lookahead must be 0, 1 or 2 (got ", o.prefetch_lookahead, ")");
    if (o.prefetch_guesses < 1) fail("prefetch_guesses must be >= 1 (got ", o.prefetch_guesses, ")");
    cuda::ExpertPlan plan;
    plan.vram_budget = o.vram_budget;
    plan.slots = o.expert_slots;
    plan.policy = o.cache_policy;
    plan.lookahead = o.prefetch_lookahead;
    plan.guesses = o.prefetch_guesses;
    plan.max_tokens = chunk;
    plan.cpu_layers = o.cpu_expert_layers;
    plan.hybrid = o.hybrid;
    plan.threads = o.threads;
    cuda::bind_experts(*backend_, static_cast<const PackedExpertSource&>(*experts_).packed(), config_, plan);
#else
    (void)o, (void)chunk;
#endif
  }

  // The backend is chosen once, here (STYLE.md 3.3).
  static std::unique_ptr<Backend> make_backend(const LoadOptions& o, int context) {
    if (o.device == Device::Cuda) {
#ifdef LOCALMOE_HAVE_CUDA
      return cuda::make_backend(0);
#else
      fail("this build of the engine has no CUDA backend (built without the CUDA toolkit); "
           "rebuild with CUDA installed or use the CPU device");
#endif
    }
    return std::make_unique<cpu::CpuBackend>(o.threads, context);
  }

  ModelConfig config_;
  Device device_ = Device::Cpu;
  std::unique_ptr<Checkpoint> checkpoint_;      // a Hugging Face folder, or
  std::unique_ptr<PackedModelWeights> packed_;  // a quantized one (exactly one is set)
  MixtralWeights weights_;
  std::unique_ptr<ExpertSource> experts_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<MixtralModel> model_;
  std::unique_ptr<Sampler> sampler_;
  std::vector<float> logits_;      // [V] logits of the newest position
  std::vector<int32_t> history_;   // prompt + generated tokens (capacity reserved at load)
  std::vector<std::vector<int32_t>> slot_tokens_;  // [kv_slots] tokens whose keys/values each slot holds
  Counters counters_;
  bool record_routing_ = false;
  std::vector<std::vector<int32_t>> routing_;
};

}  // namespace

std::unique_ptr<Engine> Engine::load(const LoadOptions& options) {
  return std::make_unique<LoadedEngine>(options);
}

BackendSupport backend_support() {
  BackendSupport s;
#ifdef LOCALMOE_HAVE_CUDA
  s.cuda_compiled = true;
  s.cuda_unavailable_reason = cuda::unavailable_reason();
#else
  s.cuda_unavailable_reason = "this build has no CUDA backend (the CUDA toolkit was not found when it was built)";
#endif
  return s;
}

GpuInfo gpu_info() {
#ifdef LOCALMOE_HAVE_CUDA
  return cuda::gpu_info();
#else
  return {};
#endif
}

double measure_h2d_gbps(uint64_t bytes) {
#ifdef LOCALMOE_HAVE_CUDA
  return cuda::measure_h2d_gbps(bytes);
#else
  (void)bytes;
  return 0;
#endif
}

const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::StopToken: return "stop_token";
    case StopReason::Cancelled: return "cancelled";
    case StopReason::ContextFull: return "context_full";
  }
  return "unknown";
}

}  // namespace lm
