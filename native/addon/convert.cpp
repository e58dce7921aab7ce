#include "convert.h"

#include <cmath>
#include <limits>
#include <string>

namespace lm_addon {
namespace {

Napi::Object require_object(const Napi::Value& value, const char* what) {
  if (!value.IsObject() || value.IsArray()) {
    throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an object");
  }
  return value.As<Napi::Object>();
}

// A finite number within [min, max] that is an integer: JS numbers are doubles, so a fractional or
// out-of-range value would silently truncate in C++; reject it instead.
int64_t to_integer(const Napi::Value& value, const std::string& field, double min, double max) {
  if (!value.IsNumber()) {
    throw Napi::TypeError::New(value.Env(), field + " must be a number");
  }
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || d < min || d > max) {
    throw Napi::TypeError::New(value.Env(), field + " must be an integer in [" +
                                                std::to_string(static_cast<int64_t>(min)) + ", " +
                                                std::to_string(static_cast<int64_t>(max)) + "]");
  }
  return static_cast<int64_t>(d);
}

double to_finite(const Napi::Value& value, const std::string& field) {
  if (!value.IsNumber() || !std::isfinite(value.As<Napi::Number>().DoubleValue())) {
    throw Napi::TypeError::New(value.Env(), field + " must be a finite number");
  }
  return value.As<Napi::Number>().DoubleValue();
}

constexpr double kIntMax = std::numeric_limits<int32_t>::max();
// Seeds travel as JS numbers: integers are exact up to 2^53.
constexpr double kMaxSafeInteger = 9007199254740991.0;

}  // namespace

std::vector<int32_t> to_token_ids(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) {
    throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an array of token ids");
  }
  const auto array = value.As<Napi::Array>();
  std::vector<int32_t> ids;
  ids.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    ids.push_back(static_cast<int32_t>(
        to_integer(array.Get(i), std::string(what) + "[" + std::to_string(i) + "]", 0, kIntMax)));
  }
  return ids;
}

lm::LoadOptions to_load_options(const Napi::Value& value) {
  const auto obj = require_object(value, "load(options)");
  lm::LoadOptions options;
  const auto dir = obj.Get("modelDir");
  if (!dir.IsString() || dir.As<Napi::String>().Utf8Value().empty()) {
    throw Napi::TypeError::New(value.Env(), "load(options): modelDir must be a non-empty string");
  }
  options.model_dir = dir.As<Napi::String>().Utf8Value();
  const auto device = obj.Get("device");
  if (!device.IsUndefined()) {
    const std::string name = device.IsString() ? device.As<Napi::String>().Utf8Value() : "";
    if (name == "cpu") {
      options.device = lm::Device::Cpu;
    } else if (name == "cuda") {
      options.device = lm::Device::Cuda;
    } else {
      throw Napi::TypeError::New(value.Env(), "load(options): device must be 'cpu' or 'cuda'");
    }
  }
  if (const auto v = obj.Get("threads"); !v.IsUndefined()) {
    options.threads = static_cast<int>(to_integer(v, "load(options): threads", 0, 4096));
  }
  if (const auto v = obj.Get("maxContext"); !v.IsUndefined()) {
    options.max_context = static_cast<int>(to_integer(v, "load(options): maxContext", 1, kIntMax));
  }
  if (const auto v = obj.Get("prefillChunk"); !v.IsUndefined()) {
    options.prefill_chunk = static_cast<int>(to_integer(v, "load(options): prefillChunk", 0, kIntMax));
  }
  if (const auto v = obj.Get("kvSlots"); !v.IsUndefined()) {
    options.kv_slots = static_cast<int>(to_integer(v, "load(options): kvSlots", 1, 64));
  }
  // Expert offloading (CUDA + quantized model). vramBudgetBytes: 0 = auto, -1 = all resident.
  if (const auto v = obj.Get("vramBudgetBytes"); !v.IsUndefined()) {
    options.vram_budget = to_integer(v, "load(options): vramBudgetBytes", -1, 1e15);
  }
  if (const auto v = obj.Get("cachePolicy"); !v.IsUndefined()) {
    const std::string p = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (p != "lru" && p != "lfu") throw Napi::TypeError::New(value.Env(), "load(options): cachePolicy must be 'lru' or 'lfu'");
    options.cache_policy = p;
  }
  if (const auto v = obj.Get("speculativeLoading"); !v.IsUndefined()) {
    if (!v.IsBoolean()) throw Napi::TypeError::New(value.Env(), "load(options): speculativeLoading must be a boolean");
    options.prefetch_lookahead = v.As<Napi::Boolean>().Value() ? 1 : 0;
  }
  return options;
}

lm::GenerateRequest to_generate_request(const Napi::Value& value) {
  const auto obj = require_object(value, "generate(options)");
  lm::GenerateRequest request;
  request.prompt = to_token_ids(obj.Get("prompt"), "generate(options): prompt");
  request.max_new_tokens = static_cast<int>(
      to_integer(obj.Get("maxNewTokens"), "generate(options): maxNewTokens", 0, kIntMax));
  auto& s = request.sampling;
  if (const auto v = obj.Get("temperature"); !v.IsUndefined()) {
    s.temperature = static_cast<float>(to_finite(v, "generate(options): temperature"));
  }
  if (const auto v = obj.Get("topK"); !v.IsUndefined()) {
    s.top_k = static_cast<int>(to_integer(v, "generate(options): topK", 0, kIntMax));
  }
  if (const auto v = obj.Get("topP"); !v.IsUndefined()) {
    s.top_p = static_cast<float>(to_finite(v, "generate(options): topP"));
  }
  if (const auto v = obj.Get("repetitionPenalty"); !v.IsUndefined()) {
    s.repetition_penalty = static_cast<float>(to_finite(v, "generate(options): repetitionPenalty"));
  }
  if (const auto v = obj.Get("seed"); !v.IsUndefined()) {
    s.seed = static_cast<uint64_t>(to_integer(v, "generate(options): seed", 0, kMaxSafeInteger));
  }
  if (const auto v = obj.Get("stopIds"); !v.IsUndefined()) {
    request.stop_ids = to_token_ids(v, "generate(options): stopIds");
  }
  if (const auto v = obj.Get("stopAtEos"); !v.IsUndefined()) {
    if (!v.IsBoolean()) {
      throw Napi::TypeError::New(value.Env(), "generate(options): stopAtEos must be a boolean");
    }
    request.stop_at_eos = v.As<Napi::Boolean>().Value();
  }
  // KV slot and prefix reuse; the engine checks the slot against the loaded kv_slots.
  if (const auto v = obj.Get("kvSlot"); !v.IsUndefined()) {
    request.kv_slot = static_cast<int>(to_integer(v, "generate(options): kvSlot", 0, kIntMax));
  }
  if (const auto v = obj.Get("reusePrefix"); !v.IsUndefined()) {
    if (!v.IsBoolean()) {
      throw Napi::TypeError::New(value.Env(), "generate(options): reusePrefix must be a boolean");
    }
    request.reuse_prefix = v.As<Napi::Boolean>().Value();
  }
  return request;
}

const char* device_name(lm::Device device) { return device == lm::Device::Cuda ? "cuda" : "cpu"; }

const char* stop_reason_name(lm::StopReason reason) {
  switch (reason) {
    case lm::StopReason::MaxTokens: return "max_tokens";
    case lm::StopReason::StopToken: return "stop_token";
    case lm::StopReason::Cancelled: return "cancelled";
    case lm::StopReason::ContextFull: return "context_full";
  }
  return "max_tokens";
}

Napi::Object model_info_to_js(Napi::Env env, const lm::ModelConfig& c, lm::Device device,
                              uint64_t memory_bytes, const std::string& backend_name) {
  auto o = Napi::Object::New(env);
  o.Set("architecture", c.architecture);
  o.Set("vocabSize", c.vocab_size);
  o.Set("hiddenSize", c.hidden_size);
  o.Set("intermediateSize", c.intermediate_size);
  o.Set("numLayers", c.num_layers);
  o.Set("numHeads", c.num_heads);
  o.Set("numKvHeads", c.num_kv_heads);
  o.Set("headDim", c.head_dim);
  o.Set("numExperts", c.num_experts);
  o.Set("expertsPerToken", c.experts_per_token);
  o.Set("maxPositionEmbeddings", c.max_position_embeddings);
  o.Set("slidingWindow", c.sliding_window);
  o.Set("ropeTheta", c.rope_theta);
  o.Set("rmsNormEps", c.rms_norm_eps);
  o.Set("tieWordEmbeddings", c.tie_word_embeddings);
  o.Set("bosTokenId", c.bos_token_id);
  o.Set("eosTokenId", c.eos_token_id);
  o.Set("weightDtype", c.weight_dtype);
  o.Set("device", device_name(device));
  o.Set("backendName", backend_name);
  o.Set("memoryBytes", static_cast<double>(memory_bytes));
  return o;
}

Napi::Object counters_to_js(Napi::Env env, const lm::Counters& k, int num_layers,
                            int num_experts) {
  auto o = Napi::Object::New(env);
  o.Set("promptTokens", static_cast<double>(k.prompt_tokens));
  o.Set("generatedTokens", static_cast<double>(k.generated_tokens));
  o.Set("prefillMs", k.prefill_ms);
  o.Set("decodeMs", k.decode_ms);
  auto usage = Napi::Array::New(env, num_layers);
  for (int l = 0; l < num_layers; ++l) {
    auto row = Napi::Array::New(env, num_experts);
    for (int e = 0; e < num_experts; ++e) {
      const size_t i = static_cast<size_t>(l) * num_experts + e;
      row.Set(static_cast<uint32_t>(e),
              static_cast<double>(i < k.expert_usage.size() ? k.expert_usage[i] : 0));
    }
    usage.Set(static_cast<uint32_t>(l), row);
  }
  o.Set("expertUsage", usage);
  o.Set("reusedPromptTokens", static_cast<double>(k.reused_prompt_tokens));  // KV prefix reuse
  o.Set("kvSlotEvictions", static_cast<double>(k.kv_slot_evictions));
  // Expert cache (CUDA offloading; all zero / empty otherwise) and device memory by category.
  auto cache = Napi::Object::New(env);
  cache.Set("hits", static_cast<double>(k.expert_hits));
  cache.Set("misses", static_cast<double>(k.expert_misses));
  cache.Set("cpuComputed", static_cast<double>(k.expert_cpu_computed));
  cache.Set("prefetchIssued", static_cast<double>(k.prefetch_issued));
  cache.Set("prefetchUsed", static_cast<double>(k.prefetch_used));
  cache.Set("prefetchWasted", static_cast<double>(k.prefetch_wasted));
  cache.Set("bytesCopied", static_cast<double>(k.bytes_copied));
  cache.Set("copyMs", k.copy_ms);
  auto slots = Napi::Array::New(env, k.cache_slots.size());
  for (size_t l = 0; l < k.cache_slots.size(); ++l) {
    auto row = Napi::Array::New(env, k.cache_slots[l].size());
    for (size_t i = 0; i < k.cache_slots[l].size(); ++i) row.Set(static_cast<uint32_t>(i), k.cache_slots[l][i]);
    slots.Set(static_cast<uint32_t>(l), row);
  }
  cache.Set("slots", slots);
  o.Set("cache", cache);
  auto vram = Napi::Object::New(env);
  vram.Set("dense", static_cast<double>(k.vram.dense));
  vram.Set("experts", static_cast<double>(k.vram.experts));
  vram.Set("kvCache", static_cast<double>(k.vram.kv_cache));
  vram.Set("workspace", static_cast<double>(k.vram.workspace));
  vram.Set("budget", static_cast<double>(k.vram.budget));
  o.Set("vram", vram);
  return o;
}

Napi::Object generate_result_to_js(Napi::Env env, const lm::GenerateResult& r) {
  auto o = Napi::Object::New(env);
  auto tokens = Napi::Array::New(env, r.tokens.size());
  for (size_t i = 0; i < r.tokens.size(); ++i) tokens.Set(static_cast<uint32_t>(i), r.tokens[i]);
  o.Set("tokens", tokens);
  o.Set("stopReason", stop_reason_name(r.stop_reason));
  o.Set("promptTokens", r.prompt_tokens);
  o.Set("reusedTokens", r.reused_tokens);
  o.Set("prefillMs", r.prefill_ms);
  o.Set("decodeMs", r.decode_ms);
  return o;
}

}  // namespace lm_addon
