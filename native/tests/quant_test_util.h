// Minimal checks and weight generators shared by the quant tests (no framework: each test is a
// main() that prints what it measured and returns non-zero on the first failed CHECK).
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#define QCHECK(cond, ...)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n  ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                       \
      std::fprintf(stderr, "\n");                                              \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

namespace qtest {

enum class Dist { Gaussian, StudentT3, Laplace };

inline const char* dist_name(Dist d) {
  switch (d) {
    case Dist::Gaussian: return "gaussian";
    case Dist::StudentT3: return "student-t(3)";
    case Dist::Laplace: return "laplace";
  }
  return "?";
}

// n weights with scale ~0.02 (typical LLM init), drawn from `d`.
inline std::vector<float> weights(Dist d, size_t n, uint32_t seed, float scale = 0.02f) {
  std::mt19937 rng(seed);
  std::vector<float> w(n);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::student_t_distribution<float> student(3.0f);
  std::exponential_distribution<float> expo(1.0f);
  std::bernoulli_distribution coin(0.5);
  for (auto& v : w) {
    switch (d) {
      case Dist::Gaussian: v = normal(rng); break;
      case Dist::StudentT3: v = student(rng); break;
      case Dist::Laplace: v = coin(rng) ? expo(rng) : -expo(rng); break;
    }
    v *= scale;
  }
  return w;
}

}  // namespace qtest
