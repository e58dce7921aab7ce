// Minimal test harness for the engine's C++ tests (no third-party framework to install).
// CHECK(cond) records a failure with file:line and goes on; a test binary's main returns
// lm_test::finish(), non-zero when any check failed, which CTest reports.
#pragma once

#include <cstdio>
#include <exception>
#include <string>

#include "localmoe/engine.h"

namespace lm_test {

inline int& failures() {
  static int n = 0;
  return n;
}

inline void report(const char* file, int line, const std::string& what) {
  ++failures();
  if (failures() <= 30) std::fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what.c_str());
}

inline int finish(const char* name) {
  if (failures() == 0) {
    std::printf("%s: all checks passed\n", name);
    return 0;
  }
  std::fprintf(stderr, "%s: %d check(s) failed\n", name, failures());
  return 1;
}

}  // namespace lm_test

#define CHECK(cond)                                               \
  do {                                                            \
    if (!(cond)) lm_test::report(__FILE__, __LINE__, #cond);      \
  } while (0)

#define CHECK_MSG(cond, msg)                                                         \
  do {                                                                               \
    if (!(cond)) lm_test::report(__FILE__, __LINE__, std::string(#cond) + ": " + (msg)); \
  } while (0)

// Expects `expr` to throw lm::Error whose message contains `needle`.
#define CHECK_THROWS(expr, needle)                                                          \
  do {                                                                                      \
    bool thrown_ = false;                                                                   \
    try {                                                                                   \
      (void)(expr);                                                                         \
    } catch (const lm::Error& e_) {                                                         \
      thrown_ = true;                                                                       \
      if (std::string(e_.what()).find(needle) == std::string::npos)                         \
        lm_test::report(__FILE__, __LINE__, std::string("message lacks '") + (needle) +     \
                                                "': " + e_.what());                         \
    }                                                                                       \
    if (!thrown_) lm_test::report(__FILE__, __LINE__, std::string(#expr) + " did not throw"); \
  } while (0)
