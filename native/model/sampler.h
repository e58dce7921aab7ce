// Next-token selection from logits: repetition penalty, then greedy (temperature 0) or
// temperature -> top-k -> top-p -> draw, in the order Hugging Face's logits processors apply them.
// Deterministic for a given seed; allocates only at construction (decode does no heap allocation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "localmoe/engine.h"

namespace lm {

// xoshiro256** seeded through splitmix64: small, fast, and the same sequence on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed);
  uint64_t next();
  float uniform();  // [0, 1) with 24 random bits

 private:
  uint64_t s_[4] = {};
};

class Sampler {
 public:
  explicit Sampler(int vocab_size);

  // Starts a request: sets parameters and reseeds the generator.
  void reset(const SamplingParams& params);

  // Chooses a token from logits [V] (modified in place: penalty, temperature). `history` holds the
  // tokens so far (prompt + generated) for the repetition penalty.
  int32_t sample(float* logits, const int32_t* history, size_t n_history);

 private:
  int vocab_;
  SamplingParams params_;
  Rng rng_;
  struct Candidate {
    float p;     // logit, then probability
    int32_t id;  // token
  };
  std::vector<Candidate> cand_;  // [V]
  std::vector<uint8_t> seen_;    // [V] marks for de-duplicating the history
};

}  // namespace lm
