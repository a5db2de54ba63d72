// A deepseek2 file the engine cannot run is one error naming the file and
// what is wrong (a missing MLA key or tensor, a cache layout that is not
// MLA's), never a crash; a file in the legacy form (no key_length_mla: an
// unsplit attn_kv_b) is refused by the engine with the architecture and
// what is not implemented, while `apex plan` and `apex quantize` still
// handle it.
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

synth::Options small_ds2() {
  synth::Options o = testing::synth_options("deepseek2", 4, quant::TypeId::F16);
  o.n_layer = 2;
  o.n_embd = 64;
  o.head_dim = 48;
  o.rope_dim = 16;
  o.q_lora_rank = 32;
  o.kv_lora_rank = 32;
  o.n_ff = 32;
  o.n_vocab = 300;
  return o;
}

TEST(Deepseek2BadInput, MissingKeysTensorsAndNonMlaLayoutsAreNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf");
  ASSERT_TRUE(synth::write_model(small_ds2(), good).ok());
  ASSERT_TRUE(load_model(good).ok());
  const auto all = [](const std::string&) { return true; };

  const std::string no_key = dir.file("no-kv-lora.gguf");
  copy_edited(good, no_key, [](gguf::Layout& l) { l.remove("deepseek2.attention.kv_lora_rank"); }, all);
  auto m = load_model(no_key);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("deepseek2.attention.kv_lora_rank"), std::string::npos) << m.message();
  EXPECT_NE(m.message().find(no_key), std::string::npos) << m.message();

  const std::string no_tensor = dir.file("no-k-b.gguf");
  copy_edited(good, no_tensor, [](gguf::Layout&) {},
              [](const std::string& name) { return name != "blk.1.attn_k_b.weight"; });
  m = load_model(no_tensor);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("blk.1.attn_k_b.weight"), std::string::npos) << m.message();

  const std::string bad_kv = dir.file("bad-key-length.gguf");
  copy_edited(good, bad_kv,
              [](gguf::Layout& l) { l.set("deepseek2.attention.key_length", gguf::Value(uint32_t{64})); },
              all);
  m = load_model(bad_kv);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("MLA layout"), std::string::npos) << m.message();

  // The legacy form: no key_length_mla / value_length_mla.
  const std::string legacy = dir.file("legacy.gguf");
  copy_edited(good, legacy,
              [](gguf::Layout& l) {
                l.remove("deepseek2.attention.key_length_mla");
                l.remove("deepseek2.attention.value_length_mla");
              },
              all);
  m = load_model(legacy);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("deepseek2: "), std::string::npos) << m.message();
  EXPECT_NE(m.message().find("not implemented"), std::string::npos) << m.message();
  EXPECT_EQ(m.message().find('\n'), std::string::npos) << m.message();
  EXPECT_EQ(run_apex("plan " + legacy + " --profile balanced"), 0);
  EXPECT_EQ(run_apex("quantize " + legacy + " " + dir.file("legacy-q8.gguf") + " Q8_0"), 0);
}

}  // namespace
}  // namespace apex::engine
