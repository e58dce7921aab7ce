// config.json parsing: both spellings (hub / transformers 5), the fixture configs, and rejections
// that must name config.json and the offending field.
#include <cmath>
#include <string>

#include "check.h"
#include "model/config.h"

namespace {

const std::string kHub = R"({
  "architectures": ["MixtralForCausalLM"], "hidden_act": "silu", "hidden_size": 4096,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "num_attention_heads": 32,
  "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": null, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "vocab_size": 32000, "bos_token_id": 1, "eos_token_id": 2})";

const std::string kTransformers5 = R"({
  "architectures": ["MixtralForCausalLM"], "dtype": "float16", "head_dim": null, "hidden_size": 64,
  "intermediate_size": 64, "max_position_embeddings": 128, "num_attention_heads": 8,
  "num_experts_per_tok": 3, "num_hidden_layers": 2, "num_key_value_heads": 4, "num_local_experts": 4,
  "rms_norm_eps": 1e-06, "rope_parameters": {"rope_theta": 500.0, "rope_type": "default"},
  "sliding_window": 6, "tie_word_embeddings": true, "vocab_size": 300})";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t p = s.find(from);
  if (p == std::string::npos) return s;
  return s.replace(p, from.size(), to);
}

lm::ModelConfig parse(const std::string& text) { return lm::parse_model_config(text, "m/config.json"); }

void test_styles() {
  const lm::ModelConfig hub = parse(kHub);
  CHECK(hub.architecture == "MixtralForCausalLM");
  CHECK(hub.hidden_size == 4096 && hub.num_layers == 32 && hub.num_heads == 32 && hub.num_kv_heads == 8);
  CHECK(hub.head_dim == 128);  // absent -> hidden / heads
  CHECK(hub.num_experts == 8 && hub.experts_per_token == 2 && hub.intermediate_size == 14336);
  CHECK(hub.rope_theta == 1e6f && hub.sliding_window == 0 && !hub.tie_word_embeddings);
  CHECK(hub.vocab_size == 32000 && hub.weight_dtype == "bf16" && hub.eos_token_id == 2);

  const lm::ModelConfig t5 = parse(kTransformers5);
  CHECK(t5.head_dim == 8);  // null -> hidden / heads
  CHECK(t5.rope_theta == 500.0f && t5.sliding_window == 6 && t5.tie_word_embeddings);
  CHECK(t5.experts_per_token == 3 && t5.num_experts == 4 && std::fabs(t5.rms_norm_eps - 1e-6f) < 1e-12f);
  CHECK(t5.weight_dtype == "fp16");

  const lm::ModelConfig explicit_hd = parse(replace(kTransformers5, "\"head_dim\": null", "\"head_dim\": 48"));
  CHECK(explicit_hd.head_dim == 48);
}

void test_fixture_configs() {
  const std::string root = std::string(LOCALMOE_SOURCE_DIR) + "/test/fixtures/golden/";
  const lm::ModelConfig fp32 = lm::load_model_config(root + "tiny-fp32");
  CHECK(fp32.rope_theta == 10000.0f && fp32.head_dim == 16 && fp32.num_kv_heads == 2);
  const lm::ModelConfig bf16 = lm::load_model_config(root + "tiny-bf16-sharded");
  CHECK(bf16.rope_theta == 1e6f && bf16.head_dim == 48 && bf16.num_kv_heads == 1 && bf16.num_layers == 3);
  const lm::ModelConfig swa = lm::load_model_config(root + "tiny-fp16-swa-tied");
  CHECK(swa.sliding_window == 6 && swa.tie_word_embeddings && swa.experts_per_token == 3);
  CHECK_THROWS(lm::load_model_config(root + "does-not-exist"), "config.json not found");
}

void test_rejections() {
  CHECK_THROWS(parse("{not json"), "m/config.json is not valid JSON");
  CHECK_THROWS(parse("[]"), "not a JSON object");
  CHECK_THROWS(parse(replace(kHub, "MixtralForCausalLM", "LlamaForCausalLM")), "LlamaForCausalLM\" is not supported");
  CHECK_THROWS(parse(replace(kHub, "\"architectures\": [\"MixtralForCausalLM\"],", "")), "architectures");
  CHECK_THROWS(parse(replace(kHub, "\"vocab_size\": 32000,", "")), "\"vocab_size\" is missing");
  CHECK_THROWS(parse(replace(kHub, "\"num_local_experts\": 8", "\"num_local_experts\": \"8\"")), "num_local_experts");
  CHECK_THROWS(parse(replace(kHub, "\"hidden_size\": 4096", "\"hidden_size\": -1")), "hidden_size");
  CHECK_THROWS(parse(replace(kHub, "\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5")), "multiple of");
  CHECK_THROWS(parse(replace(kHub, "\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 9")), "exceeds");
  CHECK_THROWS(parse(replace(kHub, "\"silu\"", "\"gelu\"")), "hidden_act");
  CHECK_THROWS(parse(replace(kHub, "\"rope_theta\": 1000000.0", "\"rope_theta\": \"big\"")), "rope_theta");
  CHECK_THROWS(parse(replace(kTransformers5, "\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"")), "rope_type");
  CHECK_THROWS(parse(replace(kHub, "\"sliding_window\": null", "\"sliding_window\": null, \"rope_scaling\": {\"type\": \"linear\"}")),
               "rope_scaling");
  CHECK_THROWS(parse(replace(kHub, "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": 1")), "tie_word_embeddings");
}

}  // namespace

int main() {
  test_styles();
  test_fixture_configs();
  test_rejections();
  return lm_test::finish("test_config");
}
