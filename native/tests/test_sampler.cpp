// Sampling: greedy, temperature draws (deterministic per seed, right frequencies), top-k, top-p,
// repetition penalty, parameter validation.
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "check.h"
#include "model/sampler.h"

namespace {

lm::SamplingParams params(float t, int k = 0, float p = 1.0f, float rp = 1.0f, uint64_t seed = 0) {
  lm::SamplingParams s;
  s.temperature = t;
  s.top_k = k;
  s.top_p = p;
  s.repetition_penalty = rp;
  s.seed = seed;
  return s;
}

int32_t draw(lm::Sampler& s, std::vector<float> logits, const std::vector<int32_t>& history = {}) {
  return s.sample(logits.data(), history.data(), history.size());
}

void test_greedy() {
  lm::Sampler s(5);
  s.reset(params(0.0f));
  CHECK(draw(s, {0.1f, 3.0f, -1.0f, 2.9f, 0.0f}) == 1);
  CHECK(draw(s, {1.0f, 2.0f, 2.0f, 0.0f, 0.0f}) == 1);  // tie: lowest id
}

void test_repetition_penalty() {
  lm::Sampler s(3);
  s.reset(params(0.0f, 0, 1.0f, 2.0f));
  std::vector<float> logits = {2.0f, 1.5f, -1.0f};
  const std::vector<int32_t> history = {0, 0, 2};  // token 0 twice: penalised once
  CHECK(s.sample(logits.data(), history.data(), history.size()) == 1);
  CHECK(logits[0] == 1.0f && logits[1] == 1.5f && logits[2] == -2.0f);
}

void test_temperature_distribution() {
  // p = [0.5, 0.3, 0.2]; 20000 draws: each frequency within 0.015 (about 5 sigma).
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  lm::Sampler s(3);
  s.reset(params(1.0f, 0, 1.0f, 1.0f, 7));
  std::vector<int> counts(3, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) counts[size_t(draw(s, logits))] += 1;
  CHECK(std::fabs(counts[0] / double(n) - 0.5) < 0.015);
  CHECK(std::fabs(counts[1] / double(n) - 0.3) < 0.015);
  CHECK(std::fabs(counts[2] / double(n) - 0.2) < 0.015);
  // Low temperature sharpens towards the argmax.
  s.reset(params(0.05f, 0, 1.0f, 1.0f, 7));
  int top = 0;
  for (int i = 0; i < 1000; ++i) top += draw(s, logits) == 0;
  CHECK(top > 990);
}

void test_determinism() {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[size_t(i)] = std::sin(float(i)) * 2.0f;
  auto run = [&](uint64_t seed) {
    lm::Sampler s(100);
    s.reset(params(1.0f, 0, 1.0f, 1.0f, seed));
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(draw(s, logits));
    return out;
  };
  CHECK(run(1) == run(1));
  CHECK(run(1) != run(2));
  // reset() restarts the sequence.
  lm::Sampler s(100);
  s.reset(params(1.0f, 0, 1.0f, 1.0f, 5));
  const int32_t first = draw(s, logits);
  s.reset(params(1.0f, 0, 1.0f, 1.0f, 5));
  CHECK(draw(s, logits) == first);
}

void test_top_k_top_p() {
  std::vector<float> logits = {1.0f, 5.0f, 4.0f, 3.0f, 0.0f, 4.5f};
  lm::Sampler s(6);
  s.reset(params(5.0f, 3, 1.0f, 1.0f, 3));  // hot, but only ids 1, 5, 2 allowed
  std::set<int32_t> seen;
  for (int i = 0; i < 2000; ++i) seen.insert(draw(s, logits));
  CHECK(seen == std::set<int32_t>({1, 2, 5}));
  s.reset(params(1.0f, 1, 1.0f, 1.0f, 3));  // top_k = 1 is greedy
  for (int i = 0; i < 100; ++i) CHECK(draw(s, logits) == 1);
  // top_p: probabilities 0.5, 0.3, 0.2 -> top_p 0.6 keeps {0, 1}; top_p 0.4 keeps {0}.
  const std::vector<float> l3 = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  lm::Sampler s3(3);
  s3.reset(params(1.0f, 0, 0.6f, 1.0f, 9));
  std::map<int32_t, int> c;
  for (int i = 0; i < 5000; ++i) c[draw(s3, l3)] += 1;
  CHECK(c.count(2) == 0 && c[0] > 0 && c[1] > 0);
  CHECK(std::fabs(c[0] / 5000.0 - 0.625) < 0.03);  // renormalised 0.5 / 0.8
  s3.reset(params(1.0f, 0, 0.4f, 1.0f, 9));
  for (int i = 0; i < 100; ++i) CHECK(draw(s3, l3) == 0);
  // A large vocabulary with a flat tail: the growing-head sort must still find the nucleus.
  std::vector<float> big(32000, 0.0f);
  big[31999] = 8.0f;  // p ~ 0.085
  lm::Sampler sb(32000);
  sb.reset(params(1.0f, 0, 0.5f, 1.0f, 4));
  int hits = 0;
  for (int i = 0; i < 60; ++i) hits += draw(sb, big) == 31999;
  CHECK(hits > 0 && hits < 60);  // nucleus holds many tokens besides the top one
}

void test_validation() {
  lm::Sampler s(3);
  CHECK_THROWS(s.reset(params(-1.0f)), "temperature");
  CHECK_THROWS(s.reset(params(1.0f, -2)), "top_k");
  CHECK_THROWS(s.reset(params(1.0f, 0, 0.0f)), "top_p");
  CHECK_THROWS(s.reset(params(1.0f, 0, 1.5f)), "top_p");
  CHECK_THROWS(s.reset(params(1.0f, 0, 1.0f, 0.0f)), "repetition_penalty");
}

}  // namespace

int main() {
  test_greedy();
  test_repetition_penalty();
  test_temperature_distribution();
  test_determinism();
  test_top_k_top_p();
  test_validation();
  return lm_test::finish("test_sampler");
}
