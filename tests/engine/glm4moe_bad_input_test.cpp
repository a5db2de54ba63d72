// A glm4moe file the engine cannot run is one error naming the file and
// what is wrong (a missing key llama.cpp requires, a missing expert-bias or
// shared-expert tensor, the multi-section RoPE of GLM's vision variants that
// the engine does not implement), never a crash.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/engine_test_support.h"
#include "engine/weights.h"
#include "gguf/gguf.h"
#include "support/gguf_edit.h"

namespace apex::engine {
namespace {

using testing::TempDir;
using test_support::copy_edited;

synth::Options small_glm() {
  synth::Options o = testing::synth_options("glm4moe", 4, quant::TypeId::F16);
  o.n_layer = 3;
  o.n_embd = 64;
  o.head_dim = 16;
  o.n_ff = 32;
  return o;
}

TEST(Glm4MoeBadInput, MissingKeysTensorsAndUnsupportedRopeAreNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf");
  ASSERT_TRUE(synth::write_model(small_glm(), good).ok());
  ASSERT_TRUE(load_model(good).ok());
  const auto all = [](const std::string&) { return true; };
  auto expect_error = [&](const std::string& path, const std::string& what) {
    auto m = load_model(path);
    ASSERT_FALSE(m.ok()) << what;
    EXPECT_NE(m.message().find(what), std::string::npos) << m.message();
    EXPECT_NE(m.message().find(path), std::string::npos) << m.message();
    EXPECT_EQ(m.message().find('\n'), std::string::npos) << m.message();
  };

  const std::string no_key = dir.file("no-shared-count.gguf");
  copy_edited(good, no_key, [](gguf::Layout& l) { l.remove("glm4moe.expert_shared_count"); }, all);
  expect_error(no_key, "glm4moe.expert_shared_count");

  const std::string no_bias = dir.file("no-probs-b.gguf");
  copy_edited(good, no_bias, [](gguf::Layout&) {},
              [](const std::string& name) { return name != "blk.2.exp_probs_b.bias"; });
  expect_error(no_bias, "blk.2.exp_probs_b.bias");

  const std::string no_shexp = dir.file("no-shexp.gguf");
  copy_edited(good, no_shexp, [](gguf::Layout&) {},
              [](const std::string& name) { return name != "blk.1.ffn_up_shexp.weight"; });
  expect_error(no_shexp, "blk.1.ffn_up_shexp.weight");

  const std::string mrope = dir.file("mrope.gguf");
  copy_edited(good, mrope,
              [](gguf::Layout& l) {
                gguf::Array sections{gguf::ValueType::INT32, {}};
                for (int32_t v : {2, 1, 1, 0}) sections.elems.emplace_back(v);
                l.set("glm4moe.rope.dimension_sections", gguf::Value(std::move(sections)));
              },
              all);
  expect_error(mrope, "glm4moe: multi-section RoPE");

  const std::string softmax = dir.file("softmax-gating.gguf");
  copy_edited(good, softmax,
              [](gguf::Layout& l) { l.set("glm4moe.expert_gating_func", gguf::Value(uint32_t{1})); }, all);
  expect_error(softmax, "glm4moe.expert_gating_func");
}

}  // namespace
}  // namespace apex::engine
