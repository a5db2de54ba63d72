// `apex tokenize` end to end: ids printed by the binary equal llama_tokenize's;
// bad input is one line on stderr and a non-zero exit.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

#include "tokenizer_test_support.h"

namespace apex::tok {
namespace {

struct CliRun {
  int rc;
  std::string out;
};

CliRun run(const std::string& args) {
  const std::string cmd = std::string(APEX_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

TEST(TokenizeCli, IdsEqualOracle) {
  const std::string model = testing::shared_path("models/tiny-moe-f16.gguf");
  const std::string text = "The tokenizer: <s> special, digits 12345, tabs\t\tand unicode 日本語 🚀\n";
  const auto file = std::filesystem::temp_directory_path() / ("apex-tok-cli-" + std::to_string(getpid()) + ".txt");
  std::ofstream(file, std::ios::binary) << text;
  for (const bool parse : {false, true}) {
    std::vector<int32_t> want;
    ASSERT_TRUE(oracle::tokenize(model, text, true, parse, want));
    const CliRun r = run("tokenize " + model + " -f " + file.string() + " --ids" + (parse ? " --parse-special" : ""));
    ASSERT_EQ(r.rc, 0) << r.out;
    std::istringstream in(r.out);
    std::vector<int32_t> got;
    for (int32_t id; in >> id;) got.push_back(id);
    EXPECT_EQ(got, want);
  }
  const CliRun j = run("tokenize " + model + " -f " + file.string() + " --json --no-bos");
  ASSERT_EQ(j.rc, 0) << j.out;
  EXPECT_NE(j.out.find("\"tokens\":["), std::string::npos) << j.out;
  EXPECT_EQ(j.out.find("\"tokens\":[1,"), std::string::npos) << j.out;  // no BOS (id 1) first
  std::filesystem::remove(file);
}

TEST(TokenizeCli, MissingFilesFailOnOneLine) {
  const CliRun r = run("tokenize /nonexistent/model.gguf -f /nonexistent/text.txt");
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

}  // namespace
}  // namespace apex::tok
