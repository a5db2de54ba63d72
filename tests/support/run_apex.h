// Shared by the tests that run the apex binary (APEX_BINARY, which
// tests/CMakeLists.txt defines for every test module).
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "support/temp_dir.h"

namespace apex::test_support {

// Runs `apex <args>` with stdout discarded; returns its exit status (-1 when
// it did not exit) and, when `err` is given, what it wrote to stderr.
inline int run_apex(const std::string& args, std::string* err = nullptr) {
  TempDir dir;
  const std::string err_file = dir.file("stderr.txt");
  const int status =
      std::system((std::string(APEX_BINARY) + " " + args + " >/dev/null 2>" + err_file).c_str());
  if (err != nullptr) {
    std::ifstream in(err_file);
    err->assign(std::istreambuf_iterator<char>(in), {});
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace apex::test_support
