// What the engine says about models it cannot run: one error naming the file
// and what is missing (the architecture, a tensor), never a crash; and the
// apex commands built on it pass that on as one line.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "engine/engine_test_support.h"
#include "engine/weights.h"
#include "gguf/gguf.h"
#include "support/gguf_edit.h"
#include "support/run_apex.h"

namespace apex::engine {
namespace {

using testing::TempDir;
using test_support::copy_edited;
using test_support::run_apex;

TEST(EngineBadInput, UnsupportedArchitectureIsNamedWithTheSupportedOnes) {
  TempDir dir;
  const std::string good = dir.file("good.gguf"), bad = dir.file("bloom.gguf");
  ASSERT_TRUE(synth::write_model(testing::synth_options("qwen3moe", 4, quant::TypeId::F16), good).ok());
  copy_edited(good, bad, [](gguf::Layout& l) { l.set("general.architecture", gguf::Value(std::string("bloom"))); });
  auto m = load_model(bad);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("bloom"), std::string::npos) << m.message();
  EXPECT_NE(m.message().find("qwen3moe"), std::string::npos) << "should list what is supported: " << m.message();

  // The same through a command: one line, non-zero exit.
  const std::string text = dir.file("text.txt");
  std::ofstream(text) << "hello world";
  std::string err;
  const int rc = run_apex("perplexity " + bad + " -f " + text, &err);
  EXPECT_NE(rc, 0);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("bloom"), std::string::npos) << err;
}

TEST(EngineBadInput, MissingTensorIsNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf"), bad = dir.file("no-attn-k.gguf");
  ASSERT_TRUE(synth::write_model(testing::synth_options("qwen2moe", 4, quant::TypeId::F16), good).ok());
  copy_edited(
      good, bad, [](gguf::Layout&) {}, [](const std::string& name) { return name != "blk.1.attn_k.weight"; });
  auto m = load_model(bad);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("blk.1.attn_k.weight"), std::string::npos) << m.message();
}

}  // namespace
}  // namespace apex::engine
