#include "model/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/check.h"

namespace lm {

using json = nlohmann::json;

namespace {

// Field readers: each names config.json and the field when it is missing or has the wrong type.
class Fields {
 public:
  Fields(const json& j, const std::string& path) : j_(j), path_(path) {}

  int positive_int(const char* key) const {
    const json& v = at(key);
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (1 << 30))
      bad(key, "a positive integer");
    return int(v.get<int64_t>());
  }
  // Optional integer; `fallback` when absent or null.
  int optional_int(const char* key, int fallback) const {
    const auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return fallback;
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > (1 << 30))
      bad(key, "a non-negative integer or null");
    return int(it->get<int64_t>());
  }
  float optional_float(const json& obj, const char* key, float fallback) const {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_number() || !(it->get<double>() > 0)) bad(key, "a positive number");
    return float(it->get<double>());
  }
  bool optional_bool(const char* key, bool fallback) const {
    const auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) bad(key, "true or false");
    return it->get<bool>();
  }
  [[noreturn]] void bad(const char* key, const char* expected) const {
    fail(path_, ": field \"", key, "\" must be ", expected, "; fix config.json or choose another model");
  }
  const json& root() const { return j_; }

 private:
  const json& at(const char* key) const {
    const auto it = j_.find(key);
    if (it == j_.end() || it->is_null())
      fail(path_, ": required field \"", key, "\" is missing; is this a MixtralForCausalLM config.json?");
    return *it;
  }
  const json& j_;
  std::string path_;
};

}  // namespace

ModelConfig parse_model_config(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(path, " is not valid JSON (", e.what(), "); fix or re-download config.json");
  }
  if (!j.is_object()) fail(path, " is not a JSON object; choose a Hugging Face model folder");

  ModelConfig c;
  const auto arch = j.find("architectures");
  if (arch == j.end() || !arch->is_array() || arch->empty() || !(*arch)[0].is_string())
    fail(path, ": field \"architectures\" is missing; is this a Hugging Face model folder?");
  c.architecture = (*arch)[0].get<std::string>();
  if (c.architecture != "MixtralForCausalLM")
    fail(path, ": architecture \"", c.architecture,
         "\" is not supported (supported: MixtralForCausalLM); choose a Mixtral-family model");
  const auto act = j.find("hidden_act");
  if (act != j.end() && !act->is_null() && (!act->is_string() || act->get<std::string>() != "silu"))
    fail(path, ": field \"hidden_act\" must be \"silu\" (the only activation Mixtral uses)");

  const Fields f(j, path);
  c.vocab_size = f.positive_int("vocab_size");
  c.hidden_size = f.positive_int("hidden_size");
  c.intermediate_size = f.positive_int("intermediate_size");
  c.num_layers = f.positive_int("num_hidden_layers");
  c.num_heads = f.positive_int("num_attention_heads");
  c.num_kv_heads = f.optional_int("num_key_value_heads", c.num_heads);
  if (c.num_kv_heads == 0) f.bad("num_key_value_heads", "a positive integer");
  if (c.num_heads % c.num_kv_heads != 0)
    fail(path, ": num_attention_heads (", c.num_heads, ") must be a multiple of num_key_value_heads (",
         c.num_kv_heads, ")");
  // head_dim: absent or null means hidden_size / num_attention_heads (transformers' rule).
  c.head_dim = f.optional_int("head_dim", 0);
  if (c.head_dim == 0) {
    if (c.hidden_size % c.num_heads != 0)
      fail(path, ": hidden_size (", c.hidden_size, ") is not divisible by num_attention_heads (",
           c.num_heads, ") and head_dim is not given");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.head_dim % 2 != 0) f.bad("head_dim", "even (rotary embeddings rotate pairs)");
  c.num_experts = f.positive_int("num_local_experts");
  c.experts_per_token = f.positive_int("num_experts_per_tok");
  if (c.experts_per_token > c.num_experts)
    fail(path, ": num_experts_per_tok (", c.experts_per_token, ") exceeds num_local_experts (",
         c.num_experts, ")");
  c.max_position_embeddings = f.positive_int("max_position_embeddings");
  c.sliding_window = f.optional_int("sliding_window", 0);
  c.rms_norm_eps = f.optional_float(j, "rms_norm_eps", 1e-5f);
  c.tie_word_embeddings = f.optional_bool("tie_word_embeddings", false);
  c.bos_token_id = f.optional_int("bos_token_id", 1);
  c.eos_token_id = f.optional_int("eos_token_id", 2);

  // rope_theta: transformers 5 nests it in rope_parameters; hub configs have it at the top level.
  const auto rp = j.find("rope_parameters");
  if (rp != j.end() && rp->is_object()) {
    const auto type = rp->find("rope_type");
    if (type != rp->end() && type->is_string() && type->get<std::string>() != "default")
      fail(path, ": rope_parameters.rope_type \"", type->get<std::string>(),
           "\" is not supported (only \"default\" rotary embeddings)");
    c.rope_theta = f.optional_float(*rp, "rope_theta", f.optional_float(j, "rope_theta", 10000.0f));
  } else {
    c.rope_theta = f.optional_float(j, "rope_theta", 10000.0f);
  }
  const auto rs = j.find("rope_scaling");
  if (rs != j.end() && !rs->is_null())
    fail(path, ": rope_scaling is set, which this engine does not implement yet");

  // Stored dtype, informative only (the loader reads each tensor's dtype from safetensors).
  for (const char* key : {"dtype", "torch_dtype"}) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_string()) continue;
    const std::string s = it->get<std::string>();
    c.weight_dtype = s == "bfloat16" ? "bf16" : s == "float16" ? "fp16" : s == "float32" ? "fp32" : s;
    break;
  }
  return c;
}

ModelConfig load_model_config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  std::ifstream in(path);
  if (!in) fail("config.json not found in ", dir, ": choose a Hugging Face model folder");
  std::stringstream text;
  text << in.rdbuf();
  return parse_model_config(text.str(), path);
}

}  // namespace lm
