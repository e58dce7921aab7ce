// config.json -> lm::ModelConfig for MixtralForCausalLM.
//
// Two spellings exist in the wild and both are accepted:
//  - hub (mistralai/Mixtral-8x7B-v0.1): top-level "rope_theta", no "head_dim";
//  - transformers 5 save_pretrained: "rope_parameters": {"rope_theta": ...}, "head_dim": null or n.
// Missing or invalid fields are rejected with a message naming config.json and the field.
#pragma once

#include <string>

#include "localmoe/engine.h"

namespace lm {

// Parses the text of a config.json; `path` names it in errors.
ModelConfig parse_model_config(const std::string& text, const std::string& path);

// Reads <dir>/config.json.
ModelConfig load_model_config(const std::string& dir);

}  // namespace lm
