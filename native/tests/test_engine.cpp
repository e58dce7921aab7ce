// lm::Engine behaviour around the forward pass: stop rules (stop ids, callback, cancel flag, full
// context), seeded sampling determinism, counters, and input errors. Uses the tiny-fp32 golden
// fixture, whose greedy continuation (reference.json) is known.
#include <atomic>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "check.h"
#include "localmoe/engine.h"

namespace {

const std::string kModel = std::string(LOCALMOE_SOURCE_DIR) + "/test/fixtures/golden/tiny-fp32";

std::unique_ptr<lm::Engine> load(int max_context = 4096) {
  lm::LoadOptions o;
  o.model_dir = kModel;
  o.threads = 2;
  o.max_context = max_context;
  return lm::Engine::load(o);
}

lm::GenerateRequest request(const std::vector<int32_t>& prompt, int max_new) {
  lm::GenerateRequest r;
  r.prompt = prompt;
  r.max_new_tokens = max_new;
  r.stop_at_eos = false;
  return r;
}

}  // namespace

int main() {
  std::ifstream in(kModel + "/reference.json");
  const nlohmann::json ref = nlohmann::json::parse(in);
  const auto& cs = ref.at("cases").at(1);
  const std::vector<int32_t> prompt = cs.at("prompt").get<std::vector<int32_t>>();
  const std::vector<int32_t> greedy = cs.at("greedy").get<std::vector<int32_t>>();  // 8 tokens
  auto engine = load();
  CHECK(engine->memory_bytes() > 1000000);
  CHECK(engine->device() == lm::Device::Cpu);
  CHECK(engine->backend_name().rfind("cpu-", 0) == 0);

  // Stop id: generation ends after emitting it (included).
  lm::GenerateRequest r = request(prompt, 8);
  r.stop_ids = {greedy[2]};
  lm::GenerateResult res = engine->generate(r, nullptr);
  CHECK(res.stop_reason == lm::StopReason::StopToken);
  CHECK(res.tokens == std::vector<int32_t>(greedy.begin(), greedy.begin() + 3));

  // No stop ids, no EOS stop: exactly max_new_tokens greedy tokens.
  res = engine->generate(request(prompt, 8), nullptr);
  CHECK(res.tokens == greedy && res.stop_reason == lm::StopReason::MaxTokens);

  // Callback returning false stops after that token.
  int seen = 0;
  res = engine->generate(request(prompt, 8), [&](int32_t) { return ++seen < 3; });
  CHECK(res.stop_reason == lm::StopReason::Cancelled && res.tokens.size() == 3 && seen == 3);

  // Cancel flag raised before the call: nothing generated.
  std::atomic<bool> cancel{true};
  res = engine->generate(request(prompt, 8), nullptr, &cancel);
  CHECK(res.stop_reason == lm::StopReason::Cancelled && res.tokens.empty());

  // max_new_tokens = 0: prefill only.
  res = engine->generate(request(prompt, 0), nullptr);
  CHECK(res.tokens.empty() && res.stop_reason == lm::StopReason::MaxTokens && res.prompt_tokens == int(prompt.size()));

  // Full context: a cache of prompt + 3 positions yields 4 tokens (the last is never fed back).
  {
    auto small = load(int(prompt.size()) + 3);
    const lm::GenerateResult full = small->generate(request(prompt, 8), nullptr);
    CHECK(full.stop_reason == lm::StopReason::ContextFull);
    CHECK(full.tokens == std::vector<int32_t>(greedy.begin(), greedy.begin() + 4));
    std::vector<int32_t> too_long(size_t(prompt.size()) + 4, 1);
    CHECK_THROWS(small->generate(request(too_long, 1), nullptr), "context holds");
  }

  // Seeded sampling is deterministic; another seed gives another sequence.
  auto sampled = [&](uint64_t seed) {
    lm::GenerateRequest s = request(prompt, 24);
    s.sampling.temperature = 1.5f;
    s.sampling.top_p = 0.95f;
    s.sampling.top_k = 50;
    s.sampling.repetition_penalty = 1.1f;
    s.sampling.seed = seed;
    return engine->generate(s, nullptr).tokens;
  };
  CHECK(sampled(11) == sampled(11));
  CHECK(sampled(11) != sampled(12));

  // Counters and their reset.
  engine->reset_counters();
  lm::GenerateRequest counted = request(prompt, 5);
  counted.reuse_prefix = false;  // the whole prompt goes through the model (else slot 0 holds it)
  res = engine->generate(counted, nullptr);
  lm::Counters c = engine->counters();
  CHECK(c.prompt_tokens == prompt.size() && c.generated_tokens == 5);
  uint64_t usage = 0;
  for (uint64_t u : c.expert_usage) usage += u;
  const lm::ModelConfig& cfg = engine->config();
  // Tokens through the model: the prompt + 4 fed-back tokens, each routed to K experts per layer.
  CHECK(usage == uint64_t(prompt.size() + 4) * uint64_t(cfg.num_layers * cfg.experts_per_token));
  CHECK(c.expert_usage.size() == size_t(cfg.num_layers * cfg.num_experts));
  CHECK(c.prefill_ms > 0 && c.decode_ms > 0);
  CHECK(engine->routing().empty());  // recording is off by default
  // Routing replay needs a backend that routes on the device; on the CPU it is a clear error.
  auto trace = std::make_shared<lm::RoutingTrace>();
  trace->layers = cfg.num_layers, trace->experts = cfg.num_experts, trace->experts_per_token = cfg.experts_per_token;
  trace->tokens.assign(1, std::vector<int32_t>(size_t(cfg.num_layers * cfg.experts_per_token), 0));
  CHECK_THROWS(engine->replay_routing(trace), "CUDA backend with a quantized model");

  // Input errors are lm::Error with a message, never a crash.
  CHECK_THROWS(engine->generate(request({}, 4), nullptr), "empty");
  CHECK_THROWS(engine->generate(request({1, cfg.vocab_size}, 4), nullptr), "outside the vocabulary");
  CHECK_THROWS(engine->generate(request({1, -1}, 4), nullptr), "outside the vocabulary");
  lm::GenerateRequest bad = request(prompt, 4);
  bad.sampling.temperature = -1.0f;
  CHECK_THROWS(engine->generate(bad, nullptr), "temperature");
  lm::LoadOptions cuda;
  cuda.model_dir = kModel;
  cuda.device = lm::Device::Cuda;
  CHECK_THROWS(lm::Engine::load(cuda), "CUDA");
  lm::LoadOptions missing;
  missing.model_dir = kModel + "/nope";
  CHECK_THROWS(lm::Engine::load(missing), "config.json not found");
  return lm_test::finish("test_engine");
}
