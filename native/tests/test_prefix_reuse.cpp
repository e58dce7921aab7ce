// KV slots and prefix reuse (issue #10): reusing a slot's cached prefix must not change the output.
//
// 1. Model level (bitwise): the logits of positions [r, T) computed after a prefix [0, r) that was
//    prefilled earlier in another slot, in other chunks, with other slots written in between, equal
//    bit for bit those of one uninterrupted prefill. This is the property reuse rests on: the CPU
//    kernels compute every token row with the same operations whatever the chunk (see engine.cpp).
// 2. Engine level: a script of requests that extend, shrink, diverge from and repeat earlier prompts,
//    switch slots, stop and resume, and sample with a seed, gives exactly the tokens of the same
//    requests with reuse_prefix = false on a second engine; reused_tokens and the counters follow the
//    documented rule (longest common prefix with what the slot holds, at most prompt - 1).
// Models: the embedded model (bf16, prompts from its held-out tokens) and the fp16 sliding-window
// golden fixture (the window is shorter than the reused prefix).
#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "cpu/cpu_backend.h"
#include "io/safetensors.h"
#include "localmoe/engine.h"
#include "model/config.h"
#include "model/expert_source.h"
#include "model/mixtral.h"
#include "model/weights.h"

namespace {

const std::string kRoot = LOCALMOE_SOURCE_DIR;
const std::string kEmbedded = kRoot + "/models/localmoe-code-tiny";
const std::string kSwa = kRoot + "/test/fixtures/golden/tiny-fp16-swa-tied";

std::vector<int32_t> heldout_tokens(size_t n) {
  std::ifstream in(kRoot + "/test/fixtures/embedded/heldout_tokens.txt");
  std::vector<int32_t> ids;
  std::string line;
  while (ids.size() < n && std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    int32_t id = 0;
    while (ids.size() < n && words >> id) ids.push_back(id);
  }
  return ids;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<int32_t> slice(const std::vector<int32_t>& v, size_t from, size_t to) {
  return {v.begin() + ptrdiff_t(from), v.begin() + ptrdiff_t(to)};
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

// ---------- 1. model level ----------

// Runs tokens[from, to) in `model`'s current slot in chunks of `step`, returning all rows' logits.
std::vector<float> run_rows(lm::MixtralModel& model, const std::vector<int32_t>& tokens, int from, int to,
                            int step, int V) {
  std::vector<float> out(size_t(to - from) * size_t(V));
  for (int pos = from; pos < to; pos += step) {
    const int n = std::min(step, to - pos);
    CHECK(model.forward(tokens.data() + pos, n, pos, n, out.data() + size_t(pos - from) * size_t(V), nullptr));
  }
  return out;
}

void model_level(const std::string& dir, const std::vector<int32_t>& tokens) {
  const lm::ModelConfig config = lm::load_model_config(dir);
  lm::Checkpoint checkpoint(dir);
  lm::MixtralWeights weights = lm::load_mixtral_weights(checkpoint, config);
  const int S = int(tokens.size()) + 8, chunk = 32, V = config.vocab_size;
  lm::cpu::CpuBackend backend(2, S);
  lm::place_weights(weights, backend);
  lm::ResidentExperts experts(checkpoint, config);
  experts.place_all(backend);
  lm::MixtralModel model(config, weights, experts, backend, S, chunk, 3);
  CHECK(model.kv_slots() == 3);
  CHECK(model.kv_cache_bytes() > 0 && model.kv_cache_bytes() < model.state_bytes());

  const int T = int(tokens.size()), r = T / 2 + 3;  // r: not a multiple of the chunk
  model.set_kv_slot(0);
  const std::vector<float> reference = run_rows(model, tokens, 0, T, chunk, V);  // one prefill

  model.set_kv_slot(2);
  run_rows(model, tokens, 0, r, 7, V);            // the prefix, in other chunks, in slot 2
  std::vector<int32_t> other(tokens.rbegin(), tokens.rend());
  model.set_kv_slot(1);
  run_rows(model, other, 0, T, chunk, V);         // another prompt fills slot 1 meanwhile
  model.set_kv_slot(0);
  run_rows(model, other, 0, r, chunk, V);         // ... and overwrites slot 0's prefix
  model.set_kv_slot(2);
  const std::vector<float> resumed = run_rows(model, tokens, r, T, 1, V);  // token by token

  const size_t offset = size_t(r) * size_t(V);
  CHECK_MSG(std::memcmp(resumed.data(), reference.data() + offset, resumed.size() * sizeof(float)) == 0,
            dir + ": logits after a reused prefix differ from one uninterrupted prefill");
  // Slot 0's prefix was overwritten: continuing there must NOT give the reference (the test can fail).
  model.set_kv_slot(0);
  const std::vector<float> clobbered = run_rows(model, tokens, r, T, chunk, V);
  CHECK_MSG(std::memcmp(clobbered.data(), reference.data() + offset, clobbered.size() * sizeof(float)) != 0,
            dir + ": slots are not separate caches");
}

// ---------- 2. engine level ----------

struct Step {
  const char* what;
  std::vector<int32_t> prompt;
  int slot = 0;
  int max_new = 8;
  float temperature = 0.0f;
  int stop_after = 0;  // > 0: the token callback stops generation after this many tokens
};

std::unique_ptr<lm::Engine> load(const std::string& dir, int max_context, int chunk) {
  lm::LoadOptions o;
  o.model_dir = dir;
  o.threads = 2;
  o.max_context = max_context;
  o.prefill_chunk = chunk;
  return lm::Engine::load(o);
}

lm::GenerateResult run(lm::Engine& engine, const Step& s, bool reuse) {
  lm::GenerateRequest r;
  r.prompt = s.prompt;
  r.max_new_tokens = s.max_new;
  r.stop_at_eos = false;
  r.kv_slot = s.slot;
  r.reuse_prefix = reuse;
  r.sampling.temperature = s.temperature;
  r.sampling.top_k = s.temperature > 0 ? 40 : 0;
  r.sampling.seed = 1234;
  int seen = 0;
  return engine.generate(r, [&](int32_t) { return s.stop_after == 0 || ++seen < s.stop_after; });
}

// Runs the script on a reusing engine and on a non-reusing one; tokens must be identical and the
// reuse must be what the slot's contents predict.
void engine_level(const std::string& dir, const std::vector<int32_t>& text, int chunk) {
  auto reusing = load(dir, 2048, chunk);
  auto plain = load(dir, 2048, chunk);
  const size_t n = text.size();
  const std::vector<int32_t> base = slice(text, 0, n / 2);
  const std::vector<int32_t> chat = concat({1}, slice(text, n / 2, n / 2 + n / 4));
  const std::vector<int32_t> edit = {text[n - 1], text[n - 2], text[n - 3]};  // ids in any model's vocabulary

  std::vector<Step> steps;
  steps.push_back({"first completion", base, 0});
  steps.push_back({"typing extends it", slice(text, 0, n / 2 + 3), 0});
  steps.push_back({"chat in slot 1", chat, 1, 10});
  steps.push_back({"backspace shrinks it", slice(text, 0, n / 2 - 5), 0});
  steps.push_back({"edit in the middle", concat(slice(text, 0, n / 3), edit), 0});
  steps.push_back({"same prompt again", concat(slice(text, 0, n / 3), edit), 0});
  steps.push_back({"chat stopped after 4 tokens", concat(chat, slice(edit, 0, 2)), 1, 12, 0.0f, 4});
  steps.push_back({"other document evicts slot 0", concat({1}, slice(text, 3 * n / 4, n)), 0});
  steps.push_back({"sampled, seeded", concat(chat, edit), 1, 16, 0.8f});
  steps.push_back({"prompt is a prefix of the slot", concat({1}, slice(text, 3 * n / 4, 3 * n / 4 + 10)), 0});

  // The resume of the stopped chat is built from its output: prompt + the tokens it returned.
  std::vector<std::vector<int32_t>> slot(2);  // what each slot holds, by the documented rule
  uint64_t expect_reused = 0, expect_evictions = 0, prompt_total = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    const lm::GenerateResult a = run(*reusing, s, true);
    const lm::GenerateResult b = run(*plain, s, false);
    CHECK_MSG(a.tokens == b.tokens, std::string(s.what) + ": tokens differ with prefix reuse");
    CHECK_MSG(b.reused_tokens == 0, s.what);
    const size_t lcp = std::min(common_prefix(slot[size_t(s.slot)], s.prompt), s.prompt.size() - 1);
    CHECK_MSG(a.reused_tokens == int(lcp), std::string(s.what) + ": reused " + std::to_string(a.reused_tokens) +
                                               ", expected " + std::to_string(lcp));
    if (!slot[size_t(s.slot)].empty() && lcp * 2 < slot[size_t(s.slot)].size()) ++expect_evictions;
    expect_reused += lcp;
    prompt_total += s.prompt.size();
    // The slot now holds the prompt and every generated token but the last (never fed back).
    slot[size_t(s.slot)] = concat(s.prompt, slice(a.tokens, 0, a.tokens.empty() ? 0 : a.tokens.size() - 1));

    if (s.stop_after > 0) {  // resume: prompt + tokens so far, the remaining budget
      CHECK(a.stop_reason == lm::StopReason::Cancelled && int(a.tokens.size()) == s.stop_after);
      Step whole = s;
      whole.stop_after = 0;
      const lm::GenerateResult unbroken = run(*plain, whole, false);
      Step resume{"resumed chat", concat(s.prompt, a.tokens), s.slot, s.max_new - s.stop_after};
      const lm::GenerateResult rest = run(*reusing, resume, true);
      CHECK_MSG(rest.reused_tokens == int(resume.prompt.size()) - 1, "resume reuses all but one token");
      CHECK_MSG(concat(a.tokens, rest.tokens) == unbroken.tokens, "stop + resume differs from one run");
      expect_reused += resume.prompt.size() - 1;
      prompt_total += resume.prompt.size();
      slot[size_t(s.slot)] = concat(resume.prompt, slice(rest.tokens, 0, rest.tokens.size() - 1));
    }
  }
  CHECK(expect_evictions >= 1);  // the script does evict (the counter is exercised)
  const lm::Counters c = reusing->counters();
  CHECK(c.reused_prompt_tokens == expect_reused && c.prompt_tokens == prompt_total);
  CHECK(c.kv_slot_evictions == expect_evictions);
  // Without reuse every request but the first in each slot discards what its slot held.
  CHECK(plain->counters().reused_prompt_tokens == 0 && plain->counters().kv_slot_evictions >= steps.size() - 2);

  // A cancelled prefill records nothing it did not finish: the next request reuses only the old prefix.
  std::atomic<bool> cancel{true};
  lm::GenerateRequest r;
  r.prompt = concat(base, slice(edit, 0, 2));
  r.kv_slot = 0;
  const size_t before = common_prefix(slot[0], r.prompt);
  const lm::GenerateResult cancelled = reusing->generate(r, nullptr, &cancel);
  CHECK(cancelled.stop_reason == lm::StopReason::Cancelled && cancelled.reused_tokens == int(before));
  r.max_new_tokens = 6;
  r.stop_at_eos = false;
  const lm::GenerateResult after = reusing->generate(r, nullptr);
  CHECK(after.reused_tokens == int(before));
  r.reuse_prefix = false;
  CHECK(plain->generate(r, nullptr).tokens == after.tokens);

  // prompt_logits runs in slot 0 and leaves it empty; slot 1 keeps its prefix.
  (void)reusing->prompt_logits(base);
  r.prompt = concat(base, slice(edit, 0, 1));
  r.reuse_prefix = true;
  CHECK(reusing->generate(r, nullptr).reused_tokens == 0);
  r.prompt = slot[1];
  r.kv_slot = 1;
  CHECK(reusing->generate(r, nullptr).reused_tokens == int(slot[1].size()) - 1);

  // Slot errors are lm::Error with a message.
  r.kv_slot = 2;
  CHECK_THROWS(reusing->generate(r, nullptr), "kv_slot 2 does not exist");
  r.kv_slot = -1;
  CHECK_THROWS(reusing->generate(r, nullptr), "kv_slot -1 does not exist");
}

}  // namespace

int main() {
  const std::vector<int32_t> text = heldout_tokens(400);  // small enough for the ASan run
  CHECK(text.size() == 400);
  // The SWA fixture holds 128 positions and a 300-token vocabulary: ids modulo its vocabulary.
  std::vector<int32_t> small;
  for (size_t i = 0; i < 100; ++i) small.push_back(text[i] % 300);

  model_level(kEmbedded, slice(text, 0, 150));
  model_level(kSwa, slice(small, 0, 90));
  engine_level(kEmbedded, text, 64);
  engine_level(kSwa, small, 16);

  // Memory counts every slot; kv_slots < 1 is refused.
  lm::LoadOptions o;
  o.model_dir = kSwa;
  o.threads = 1;
  o.kv_slots = 1;
  const uint64_t one = lm::Engine::load(o)->memory_bytes();
  o.kv_slots = 3;
  const uint64_t three = lm::Engine::load(o)->memory_bytes();
  const lm::ModelConfig cfg = lm::load_model_config(kSwa);
  const uint64_t per_slot = 2ull * uint64_t(cfg.num_layers) * uint64_t(cfg.max_position_embeddings) *
                            uint64_t(cfg.num_kv_heads * cfg.head_dim) * sizeof(float);
  CHECK(three - one == 2 * per_slot);
  o.kv_slots = 0;
  CHECK_THROWS(lm::Engine::load(o), "kv_slots must be >= 1");
  return lm_test::finish("test_prefix_reuse");
}
