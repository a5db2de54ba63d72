// A gemma4 file the engine cannot run is one error naming the file and what
// is wrong: per-layer embeddings (Gemma 4 E2B/E4B) and shared KV layers are
// not implemented, and say so naming gemma4, while `apex plan` and `apex
// quantize` still work on such a file; a missing key or tensor is named.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
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

synth::Options small_g4() {
  synth::Options o = testing::synth_options("gemma4", 4, quant::TypeId::F16);
  o.n_layer = 4;
  o.full_attention_interval = 2;
  o.n_embd = 64;
  o.head_dim = 32;
  o.head_dim_swa = 16;
  o.n_head_kv = 1;
  o.n_ff = 32;
  o.n_vocab = 300;
  o.spm_vocab = true;  // 300 tokens are too few for gemma4's own vocabulary (bytes + ASCII + specials)
  return o;
}

TEST(Gemma4BadInput, PerLayerEmbeddingsAreRefusedButPlannedAndQuantized) {
  TempDir dir;
  synth::Options o = small_g4();
  o.n_embd_per_layer = 8;
  const std::string ple = dir.file("ple.gguf");
  ASSERT_TRUE(synth::write_model(o, ple).ok());
  auto m = load_model(ple);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("gemma4: per-layer embeddings not implemented"), std::string::npos)
      << m.message();
  EXPECT_NE(m.message().find(ple), std::string::npos) << m.message();

  std::string err;
  const std::string text = dir.file("text.txt");
  std::ofstream(text) << "hello world";
  EXPECT_NE(run_apex("perplexity " + ple + " -f " + text, &err), 0);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("gemma4: per-layer embeddings not implemented"), std::string::npos) << err;

  EXPECT_EQ(run_apex("plan " + ple + " --profile balanced --summary", &err), 0) << err;
  const std::string q8 = dir.file("ple-q8.gguf");
  EXPECT_EQ(run_apex("quantize " + ple + " " + q8 + " Q8_0", &err), 0) << err;
  auto q = gguf::File::open(q8);
  ASSERT_TRUE(q.ok()) << q.message();
  EXPECT_NE((*q)->find_tensor("per_layer_token_embd.weight"), nullptr);
}

TEST(Gemma4BadInput, SharedKvLayersAreRefused) {
  TempDir dir;
  const std::string good = dir.file("good.gguf"), bad = dir.file("shared-kv.gguf");
  ASSERT_TRUE(synth::write_model(small_g4(), good).ok());
  ASSERT_TRUE(load_model(good).ok());
  copy_edited(good, bad, [](gguf::Layout& l) { l.set("gemma4.attention.shared_kv_layers", gguf::Value(uint32_t{2})); },
              [](const std::string&) { return true; });
  auto m = load_model(bad);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("gemma4: shared KV layers not implemented"), std::string::npos) << m.message();
}

TEST(Gemma4BadInput, MissingKeysAndTensorsAreNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf");
  ASSERT_TRUE(synth::write_model(small_g4(), good).ok());
  const auto all = [](const std::string&) { return true; };
  const struct {
    const char* key;
  } keys[] = {{"gemma4.attention.sliding_window_pattern"}, {"gemma4.attention.sliding_window"}};
  for (const auto& k : keys) {
    const std::string path = dir.file(std::string("no-key-") + k.key + ".gguf");
    copy_edited(good, path, [&](gguf::Layout& l) { l.remove(k.key); }, all);
    auto m = load_model(path);
    ASSERT_FALSE(m.ok()) << k.key;
    EXPECT_NE(m.message().find(k.key), std::string::npos) << m.message();
  }
  for (const char* tensor : {"blk.1.attn_k_norm.weight", "rope_freqs.weight", "blk.2.ffn_gate_inp.scale",
                             "blk.0.post_ffw_norm.weight"}) {
    const std::string path = dir.file(std::string("no-") + tensor + ".gguf");
    copy_edited(good, path, [](gguf::Layout&) {}, [&](const std::string& n) { return n != tensor; });
    auto m = load_model(path);
    ASSERT_FALSE(m.ok()) << tensor;
    EXPECT_NE(m.message().find(tensor), std::string::npos) << m.message();
  }
}

}  // namespace
}  // namespace apex::engine
