// Error helpers shared by the engine.
//
// Two kinds of failure (STYLE.md 3.7):
//  - input and I/O problems (bad file, bad option): throw lm::Error with a message naming the file
//    and what the user can do. The sidecar survives these.
//  - broken invariants (a bug in the engine): LM_ASSERT prints file:line and aborts.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "localmoe/engine.h"

namespace lm {

// Concatenates anything streamable: str("layer ", l, " has ", n, " experts").
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str(args...));
}

}  // namespace lm

#define LM_ASSERT(cond, msg)                                                                \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "localmoe: internal error at %s:%d: %s (%s)\n", __FILE__, __LINE__, \
                   (msg), #cond);                                                           \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)
