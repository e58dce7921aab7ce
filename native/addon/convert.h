// Conversions between JS values and the engine's structs (engine.h <-> src/sidecar/addon-types.ts).
// Parsers validate and throw Napi::TypeError naming the bad field; they run on the JS thread only.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "localmoe/engine.h"

namespace lm_addon {

lm::LoadOptions to_load_options(const Napi::Value& value);
lm::GenerateRequest to_generate_request(const Napi::Value& value);
// `what` names the argument in error messages, e.g. "promptLogits(tokens)".
std::vector<int32_t> to_token_ids(const Napi::Value& value, const char* what);

const char* device_name(lm::Device device);
const char* stop_reason_name(lm::StopReason reason);

Napi::Object model_info_to_js(Napi::Env env, const lm::ModelConfig& config, lm::Device device,
                              uint64_t memory_bytes, const std::string& backend_name);
// expert_usage is flat [L * E] in the engine; JS gets expertUsage[l][e].
Napi::Object counters_to_js(Napi::Env env, const lm::Counters& counters, int num_layers,
                            int num_experts);
Napi::Object generate_result_to_js(Napi::Env env, const lm::GenerateResult& result);

}  // namespace lm_addon
