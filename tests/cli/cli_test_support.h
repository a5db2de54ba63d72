// Running the apex binary from a test as a user would: a scratch folder per
// test process, the command's exit code, stdout and stderr, and the check
// that a failure is one clear line.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace apex::testing {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// A folder of this test process's own under the system temp dir.
inline std::filesystem::path cli_scratch(const std::string& tag) {
  return apex::test_support::process_scratch(tag);  // removed when the test process exits
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// `apex ARGS` with stdout and stderr captured through files in `scratch`.
inline RunResult run_apex(const std::filesystem::path& scratch, const std::string& args) {
  const auto out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  const std::string cmd = std::string(APEX_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

inline int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// Non-zero exit, exactly one line on stderr starting "apex: ", naming each of `mentions`.
inline void expect_one_line_error(const RunResult& r, const std::vector<std::string>& mentions) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("apex: ", 0), 0u) << r.err;
  for (const auto& m : mentions) EXPECT_NE(r.err.find(m), std::string::npos) << "missing '" << m << "' in: " << r.err;
}

}  // namespace apex::testing
