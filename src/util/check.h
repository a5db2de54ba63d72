// Invariant checks: a failed APEX_CHECK is a bug in apex, never bad input.
// It prints what was expected and where, then aborts. Bad input goes through
// Status/Result (status.h) instead.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#define APEX_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) [[unlikely]] {                                                \
      std::fprintf(stderr, "apex: internal check failed at %s:%d: %s -- %s\n", \
                   __FILE__, __LINE__, #cond,                                  \
                   ::fmt::format("" __VA_ARGS__).c_str());                     \
      std::abort();                                                            \
    }                                                                          \
  } while (0)
