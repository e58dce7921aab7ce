#include "model/sampler.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace lm {

void Rng::reseed(uint64_t seed) {
  for (uint64_t& s : s_) {  // splitmix64
    seed += 0x9e3779b97f4a7c15ull;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    s = z ^ (z >> 31);
  }
}

uint64_t Rng::next() {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform() { return float(next() >> 40) * (1.0f / 16777216.0f); }

Sampler::Sampler(int vocab_size)
    : vocab_(vocab_size), cand_(size_t(vocab_size)), seen_(size_t(vocab_size), 0) {}

void Sampler::reset(const SamplingParams& params) {
  if (!(params.temperature >= 0.0f) || !std::isfinite(params.temperature))
    fail("sampling temperature must be a finite number >= 0 (got ", params.temperature, ")");
  if (params.top_k < 0) fail("sampling top_k must be >= 0 (got ", params.top_k, ")");
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f))
    fail("sampling top_p must be in (0, 1] (got ", params.top_p, ")");
  if (!(params.repetition_penalty > 0.0f) || !std::isfinite(params.repetition_penalty))
    fail("repetition_penalty must be a finite number > 0 (got ", params.repetition_penalty, ")");
  params_ = params;
  rng_.reseed(params.seed);
}

int32_t Sampler::sample(float* logits, const int32_t* history, size_t n_history) {
  const int V = vocab_;
  // Repetition penalty (CTRL, as HF): each distinct earlier token once; positive logits are divided,
  // negative ones multiplied, so the token always becomes less likely.
  if (params_.repetition_penalty != 1.0f) {
    const float rp = params_.repetition_penalty;
    for (size_t i = 0; i < n_history; ++i) {
      const int32_t t = history[i];
      if (t < 0 || t >= V || seen_[size_t(t)]) continue;
      seen_[size_t(t)] = 1;
      logits[t] = logits[t] < 0 ? logits[t] * rp : logits[t] / rp;
    }
    for (size_t i = 0; i < n_history; ++i)
      if (history[i] >= 0 && history[i] < V) seen_[size_t(history[i])] = 0;
  }
  if (params_.temperature == 0.0f) {  // greedy; the lowest id wins a tie
    return int32_t(std::max_element(logits, logits + V) - logits);
  }
  // Candidates sorted by descending score, the lower id first on ties (a strict total order, so
  // the result does not depend on the sort algorithm).
  auto before = [](const Candidate& a, const Candidate& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); };
  for (int i = 0; i < V; ++i) cand_[size_t(i)] = Candidate{logits[i], i};
  int n = V;
  if (params_.top_k > 0 && params_.top_k < n) {
    std::nth_element(cand_.begin(), cand_.begin() + params_.top_k, cand_.end(), before);
    n = params_.top_k;
  }
  // Softmax over the candidates with the temperature applied.
  const float inv_t = 1.0f / params_.temperature;
  float mx = -INFINITY;
  for (int i = 0; i < n; ++i) mx = std::max(mx, cand_[size_t(i)].p);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    cand_[size_t(i)].p = std::exp((cand_[size_t(i)].p - mx) * inv_t);
    sum += cand_[size_t(i)].p;
  }
  for (int i = 0; i < n; ++i) cand_[size_t(i)].p /= sum;
  if (params_.top_p < 1.0f) {
    // Smallest set of most likely tokens whose mass reaches top_p (at least one). Sorting all
    // 32000 candidates every token would cost more than the small model's forward pass, so sort a
    // growing head (64, 256, ...) until it holds enough mass.
    int sorted = 0, kept = 0;
    float cum = 0.0f;
    for (int head = std::min(n, 64);; head = std::min(n, head * 4)) {
      std::partial_sort(cand_.begin() + sorted, cand_.begin() + head, cand_.begin() + n, before);
      for (; kept < head && cum < params_.top_p; ++kept) cum += cand_[size_t(kept)].p;
      sorted = head;
      if (cum >= params_.top_p || head == n) break;
    }
    n = std::max(kept, 1);
    sum = 0.0f;
    for (int i = 0; i < n; ++i) sum += cand_[size_t(i)].p;
    for (int i = 0; i < n; ++i) cand_[size_t(i)].p /= sum;
  }
  const float u = rng_.uniform();
  float acc = 0.0f;
  for (int i = 0; i < n; ++i) {
    acc += cand_[size_t(i)].p;
    if (u < acc) return cand_[size_t(i)].id;
  }
  return cand_[size_t(n - 1)].id;  // rounding left u just above the total
}

}  // namespace lm
