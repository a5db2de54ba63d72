// A qwen35moe file the engine cannot run is one error naming the file and
// what is wrong (a missing ssm.* key, a missing linear-attention tensor,
// inconsistent linear-attention sizes), never a crash.
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

synth::Options small_q35() {
  synth::Options o = testing::synth_options("qwen35moe", 4, quant::TypeId::F16);
  o.n_layer = 4;
  o.n_embd = 64;
  o.head_dim = 16;
  o.n_ff = 32;
  o.ssm_d_state = 16;
  return o;
}

TEST(Qwen35BadInput, MissingKeysTensorsAndBadSizesAreNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf");
  ASSERT_TRUE(synth::write_model(small_q35(), good).ok());
  ASSERT_TRUE(load_model(good).ok());
  const auto all = [](const std::string&) { return true; };

  const std::string no_key = dir.file("no-state-size.gguf");
  copy_edited(good, no_key, [](gguf::Layout& l) { l.remove("qwen35moe.ssm.state_size"); }, all);
  auto m = load_model(no_key);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("qwen35moe.ssm.state_size"), std::string::npos) << m.message();
  EXPECT_NE(m.message().find(no_key), std::string::npos) << m.message();

  const std::string no_tensor = dir.file("no-ssm-a.gguf");
  copy_edited(good, no_tensor, [](gguf::Layout&) {},
              [](const std::string& name) { return name != "blk.2.ssm_a"; });
  m = load_model(no_tensor);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("blk.2.ssm_a"), std::string::npos) << m.message();

  const std::string bad_inner = dir.file("bad-inner.gguf");
  copy_edited(good, bad_inner,
              [](gguf::Layout& l) { l.set("qwen35moe.ssm.inner_size", gguf::Value(uint32_t{100})); }, all);
  m = load_model(bad_inner);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("ssm.inner_size"), std::string::npos) << m.message();

  const std::string no_sections = dir.file("no-sections.gguf");
  copy_edited(good, no_sections, [](gguf::Layout& l) { l.remove("qwen35moe.rope.dimension_sections"); },
              all);
  m = load_model(no_sections);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("rope.dimension_sections"), std::string::npos) << m.message();
}

}  // namespace
}  // namespace apex::engine
