// minimax-m2 / olmoe files the engine cannot run are one error naming the
// file and what is wrong (the missing or unsupported expert_gating_func
// key, a missing selection-bias or q/k-norm tensor, a per-head-sized norm
// where the architecture norms whole projections), never a crash.
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

synth::Options small(const char* arch) {
  synth::Options o = testing::synth_options(arch, 4, quant::TypeId::F16);
  o.n_embd = 64;
  o.head_dim = std::string(arch) == "olmoe" ? 0 : 16;
  o.n_head_kv = std::string(arch) == "olmoe" ? 4 : 2;
  o.n_ff = 32;
  return o;
}

void expect_error(const std::string& path, const std::string& needle) {
  auto m = load_model(path);
  ASSERT_FALSE(m.ok()) << path;
  EXPECT_NE(m.message().find(needle), std::string::npos) << m.message();
  EXPECT_NE(m.message().find(path), std::string::npos) << m.message();
  EXPECT_EQ(m.message().find('\n'), std::string::npos) << m.message();
}

TEST(MinimaxM2BadInput, MissingKeysTensorsAndBadShapesAreNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf");
  ASSERT_TRUE(synth::write_model(small("minimax-m2"), good).ok());
  ASSERT_TRUE(load_model(good).ok());
  const auto all = [](const std::string&) { return true; };
  const auto same = [](gguf::Layout&) {};

  const std::string no_key = dir.file("no-gating.gguf");
  copy_edited(good, no_key, [](gguf::Layout& l) { l.remove("minimax-m2.expert_gating_func"); }, all);
  expect_error(no_key, "minimax-m2.expert_gating_func");

  const std::string bad_key = dir.file("bad-gating.gguf");
  copy_edited(good, bad_key,
              [](gguf::Layout& l) { l.set("minimax-m2.expert_gating_func", gguf::Value(uint32_t{4})); },
              all);
  expect_error(bad_key, "minimax-m2.expert_gating_func");

  const std::string no_bias = dir.file("no-bias.gguf");
  copy_edited(good, no_bias, same, [](const std::string& n) { return n != "blk.1.exp_probs_b.bias"; });
  expect_error(no_bias, "blk.1.exp_probs_b.bias");

  // A per-head q norm (qwen3moe's shape) is not minimax-m2's.
  const std::string per_head = dir.file("per-head-norm.gguf");
  copy_edited(good, per_head, same, all, {{"blk.0.attn_q_norm.weight", {16}}});
  expect_error(per_head, "blk.0.attn_q_norm.weight");
}

TEST(OlmoeBadInput, MissingNormTensorIsNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf");
  ASSERT_TRUE(synth::write_model(small("olmoe"), good).ok());
  ASSERT_TRUE(load_model(good).ok());
  const std::string no_norm = dir.file("no-k-norm.gguf");
  copy_edited(good, no_norm, [](gguf::Layout&) {},
              [](const std::string& n) { return n != "blk.1.attn_k_norm.weight"; });
  expect_error(no_norm, "blk.1.attn_k_norm.weight");
}

}  // namespace
}  // namespace apex::engine
