// A nemotron_h_moe file the engine cannot run is one error naming the file
// and what is wrong (a missing ssm.* key, a missing Mamba-2 tensor, a bad
// block-kind array) or what is not implemented (latent MoE projections),
// never a crash; `apex plan` and `apex quantize` still work on such a file.
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

synth::Options small_nemotron() {
  synth::Options o = testing::synth_options("nemotron_h_moe", 4, quant::TypeId::F16);
  o.n_layer = 3;
  o.layer_pattern = "M*E";
  o.n_embd = 64;
  o.head_dim = 16;
  o.n_ff = 32;
  o.ssm_d_state = 16;
  o.ssm_d_inner = 64;
  return o;
}

TEST(NemotronHBadInput, MissingKeysTensorsAndBadArraysAreNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf");
  ASSERT_TRUE(synth::write_model(small_nemotron(), good).ok());
  ASSERT_TRUE(load_model(good).ok());
  const auto all = [](const std::string&) { return true; };

  const std::string no_key = dir.file("no-inner.gguf");
  copy_edited(good, no_key, [](gguf::Layout& l) { l.remove("nemotron_h_moe.ssm.inner_size"); }, all);
  auto m = load_model(no_key);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("nemotron_h_moe.ssm.inner_size"), std::string::npos) << m.message();
  EXPECT_NE(m.message().find(no_key), std::string::npos) << m.message();

  const std::string no_tensor = dir.file("no-ssm-d.gguf");
  copy_edited(good, no_tensor, [](gguf::Layout&) {},
              [](const std::string& name) { return name != "blk.0.ssm_d"; });
  m = load_model(no_tensor);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("blk.0.ssm_d"), std::string::npos) << m.message();

  const std::string short_array = dir.file("short-ff.gguf");
  copy_edited(good, short_array,
              [](gguf::Layout& l) {
                gguf::Array a{gguf::ValueType::INT32, {}};
                a.elems.emplace_back(int32_t{0});
                l.set("nemotron_h_moe.feed_forward_length", gguf::Value(std::move(a)));
              },
              all);
  m = load_model(short_array);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("nemotron_h_moe.feed_forward_length"), std::string::npos) << m.message();
}

// Latent MoE (Nemotron-3 Super's ffn_latent_down / ffn_latent_up) is not in
// the engine: it refuses the file in one line naming the architecture and
// the missing piece, while plan and quantize handle it like any other.
TEST(NemotronHBadInput, LatentMoeIsRefusedButPlannedAndQuantized) {
  TempDir dir;
  const std::string good = dir.file("good.gguf"), latent = dir.file("latent.gguf");
  const synth::Options o = small_nemotron();
  ASSERT_TRUE(synth::write_model(o, good).ok());
  copy_edited(good, latent, [](gguf::Layout&) {}, [](const std::string&) { return true; },
              {{"blk.2.ffn_latent_down.weight", {o.n_embd, o.n_embd}},
               {"blk.2.ffn_latent_up.weight", {o.n_embd, o.n_embd}}});
  auto m = load_model(latent);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("nemotron_h_moe: latent MoE projections"), std::string::npos)
      << m.message();
  EXPECT_NE(m.message().find("not implemented"), std::string::npos) << m.message();
  EXPECT_EQ(m.message().find('\n'), std::string::npos) << m.message();
  std::string out;
  EXPECT_EQ(run_apex("plan " + latent + " --profile balanced", &out), 0) << out;
  out.clear();
  EXPECT_EQ(run_apex("quantize " + latent + " " + dir.file("q8.gguf") + " Q8_0", &out), 0) << out;
}

}  // namespace
}  // namespace apex::engine
