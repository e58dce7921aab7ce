// `moe info`: validates a checkpoint folder (config, every tensor's presence and shape) and prints
// the config and a tensor summary as JSON; a quantized folder prints its preset and byte counts.
// Loads no backend.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "model/config.h"
#include "model/expert_source.h"
#include "model/weights.h"
#include "model/packed_weights.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace lm::tools {

namespace {
// A float as the shortest decimal that reads back to it (1e-05, not 9.99999974737875e-06).
double tidy(float f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", double(f));
  return std::strtod(buf, nullptr);
}
}  // namespace

nlohmann::json config_json(const ModelConfig& c, const std::string& weight_dtype) {
  return {{"architecture", c.architecture}, {"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
          {"intermediate_size", c.intermediate_size}, {"num_layers", c.num_layers}, {"num_heads", c.num_heads},
          {"num_kv_heads", c.num_kv_heads}, {"head_dim", c.head_dim}, {"num_experts", c.num_experts},
          {"experts_per_token", c.experts_per_token}, {"max_position_embeddings", c.max_position_embeddings},
          {"sliding_window", c.sliding_window}, {"rope_theta", tidy(c.rope_theta)}, {"rms_norm_eps", tidy(c.rms_norm_eps)},
          {"tie_word_embeddings", c.tie_word_embeddings}, {"bos_token_id", c.bos_token_id},
          {"eos_token_id", c.eos_token_id}, {"weight_dtype", weight_dtype}};
}

// A quantized folder (`moe quantize`): validated the way the engine loads it.
int info_quantized(const std::string& dir, const ModelConfig& c) {
  const PackedModelWeights w(dir, c);                   // validates dense + attention shapes
  const PackedExpertSource experts(w.model(), c);       // validates expert shapes and byte ranges
  uint64_t expert_bytes = 0;
  for (int l = 0; l < c.num_layers; ++l)
    for (int e = 0; e < c.num_experts; ++e) expert_bytes += experts.packed().range(l, e).bytes;
  const double active_bytes = double(w.weights().bytes) + double(expert_bytes) * c.experts_per_token / c.num_experts;
  const nlohmann::json out = {
      {"model", dir},
      {"config", config_json(c, w.label())},
      {"quantized_weights", w.model().quantized().size()},
      {"bytes", w.file_bytes()},
      {"expert_bytes", expert_bytes},
      {"active_bytes_per_token", int64_t(active_bytes)},
  };
  std::cout << out.dump(2) << std::endl;
  return 0;
}

int cmd_info(const std::vector<std::string>& argv) {
  const cli::Args args(argv, {"--model"}, {"--tensors"});
  const std::string dir = args.required("--model");
  ModelConfig c = load_model_config(dir);
  if (is_quantized_folder(dir)) {
    if (args.has("--tensors")) throw cli::UsageError("--tensors lists 16-bit checkpoints only");
    return info_quantized(dir, c);
  }
  const Checkpoint ck(dir);
  const MixtralWeights dense = load_mixtral_weights(ck, c);  // validates shapes
  const ResidentExperts experts(ck, c);                        // validates expert shapes
  (void)experts;

  std::map<std::string, int64_t> dtype_counts;
  int64_t params = 0, expert_params = 0;
  nlohmann::json list = nlohmann::json::array();
  for (const TensorInfo* t : ck.all()) {
    dtype_counts[dtype_name(t->dtype)] += 1;
    params += t->numel();
    if (t->name.find(".block_sparse_moe.experts.") != std::string::npos) expert_params += t->numel();
    if (args.has("--tensors")) list.push_back({{"name", t->name}, {"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"file", t->file}});
  }
  const nlohmann::json config = config_json(c, dtype_name(dense.embed.dtype));
  // Bytes of weights one decoded token reads: dense part + K of E experts per layer (STYLE.md 3.8).
  const double expert_bytes = double(ck.total_bytes() - dense.bytes);
  const double active_bytes = double(dense.bytes) + expert_bytes * c.experts_per_token / c.num_experts;
  nlohmann::json out = {
      {"model", dir},
      {"config", config},
      {"files", ck.num_files()},
      {"tensors", ck.all().size()},
      {"dtypes", dtype_counts},
      {"params", params},
      {"expert_params", expert_params},
      {"bytes", ck.total_bytes()},
      {"active_bytes_per_token", int64_t(active_bytes)},
  };
  if (args.has("--tensors")) out["tensor_list"] = list;
  std::cout << out.dump(2) << std::endl;
  return 0;
}

}  // namespace lm::tools
