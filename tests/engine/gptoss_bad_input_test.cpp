// A gpt-oss file the engine cannot run is one error naming the file and
// what is wrong (the missing sliding window, a missing sink or expert-bias
// tensor, a bias of the wrong shape, a sliding-window pattern or rope scaling
// it does not implement), never a crash; `apex plan` and `apex quantize`
// still work on such a file.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <functional>
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

synth::Options small_oss() {
  synth::Options o = testing::synth_options("gpt-oss", 4, quant::TypeId::F16);
  o.n_layer = 2;
  o.n_embd = 64;
  o.head_dim = 16;
  o.n_ff = 32;
  o.sliding_window = 8;
  o.yarn_factor = 4.0f;
  return o;
}

TEST(GptOssBadInput, MissingKeysTensorsAndBadShapesAreNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf");
  ASSERT_TRUE(synth::write_model(small_oss(), good).ok());
  ASSERT_TRUE(load_model(good).ok());
  const auto all = [](const std::string&) { return true; };
  auto expect_error = [](const std::string& path, const std::vector<std::string>& words) {
    auto m = load_model(path);
    ASSERT_FALSE(m.ok()) << path;
    EXPECT_EQ(m.message().find('\n'), std::string::npos) << m.message();
    EXPECT_NE(m.message().find(path), std::string::npos) << m.message();
    for (const std::string& w : words) EXPECT_NE(m.message().find(w), std::string::npos) << m.message();
  };

  const std::string no_window = dir.file("no-window.gguf");
  copy_edited(good, no_window, [](gguf::Layout& l) { l.remove("gpt-oss.attention.sliding_window"); }, all);
  expect_error(no_window, {"gpt-oss.attention.sliding_window"});

  const std::string no_sinks = dir.file("no-sinks.gguf");
  copy_edited(good, no_sinks, [](gguf::Layout&) {},
              [](const std::string& name) { return name != "blk.1.attn_sinks.weight"; });
  expect_error(no_sinks, {"blk.1.attn_sinks.weight"});

  const std::string no_bias = dir.file("no-expert-bias.gguf");
  copy_edited(good, no_bias, [](gguf::Layout&) {},
              [](const std::string& name) { return name != "blk.0.ffn_down_exps.bias"; });
  expect_error(no_bias, {"blk.0.ffn_down_exps.bias"});

  // Patterns other than llama.cpp's default alternation are refused by name.
  const std::string pattern = dir.file("pattern.gguf");
  copy_edited(good, pattern,
              [](gguf::Layout& l) {
                l.set("gpt-oss.attention.sliding_window_pattern", gguf::Value(uint32_t{3}));
              },
              all);
  expect_error(pattern, {"gpt-oss", "sliding_window_pattern", "not implemented"});

  const std::string longrope = dir.file("longrope.gguf");
  copy_edited(good, longrope,
              [](gguf::Layout& l) { l.set("gpt-oss.rope.scaling.type", gguf::Value(std::string("longrope"))); },
              all);
  expect_error(longrope, {"longrope"});

  // The planner and the quantizer do not need the engine: both still work
  // on the file the engine refuses.
  EXPECT_EQ(run_apex("plan " + pattern + " --profile balanced"), 0);
  EXPECT_EQ(run_apex("quantize " + pattern + " " + dir.file("pattern-q8.gguf") + " Q8_0"), 0);
}

}  // namespace
}  // namespace apex::engine
