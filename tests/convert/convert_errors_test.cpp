// Bad input to `apex convert` and `apex export-hf`: one line naming the file
// and tensor at fault, exit code 1, and nothing left that looks like output
// (no OUT.gguf, no temp file, no finished checkpoint directory).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "convert/convert_test_support.h"
#include "safetensors/safetensors.h"

namespace apex {
namespace {

namespace fs = std::filesystem;
using testing::expect_one_line_error;
using testing::run_apex;

// A copy of a small sharded qwen3moe checkpoint (byte-level vocabulary) to break.
class ConvertBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& f = testing::fixture(testing::Case{"qwen3moe", "f16", "f16", true});
    ASSERT_TRUE(f.error.empty()) << f.error;
    dir_ = f.dir / "bad";
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    hf_ = dir_ / "ckpt";
    fs::copy(f.hf, hf_, fs::copy_options::recursive);
    out_ = dir_ / "out.gguf";
  }
  void TearDown() override { fs::remove_all(dir_); }

  nlohmann::json config() const { return nlohmann::json::parse(testing::slurp(hf_ / "config.json")); }
  // The shard the index assigns a tensor to.
  std::string shard_of(const std::string& tensor) const {
    const auto index = nlohmann::json::parse(testing::slurp(hf_ / "model.safetensors.index.json"));
    return index["weight_map"][tensor].get<std::string>();
  }
  void write_config(const nlohmann::json& c) const { std::ofstream(hf_ / "config.json") << c.dump(2); }

  testing::RunResult convert() const {
    return run_apex(dir_, "convert " + hf_.string() + " " + out_.string() + " --no-progress");
  }
  // Nothing but the checkpoint and the captured stdout/stderr in the folder.
  void expect_no_output() const {
    EXPECT_FALSE(fs::exists(out_));
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      EXPECT_TRUE(name == "ckpt" || name == "stdout.txt" || name == "stderr.txt") << "left behind: " << name;
    }
  }

  fs::path dir_, hf_, out_;
};

TEST_F(ConvertBadInput, MissingConfig) {
  fs::remove(hf_ / "config.json");
  auto r = convert();
  expect_one_line_error(r, {"config.json"});
  expect_no_output();
}

TEST_F(ConvertBadInput, UnsupportedArchitecture) {
  auto c = config();
  c["architectures"] = {"MixtralForCausalLM"};
  write_config(c);
  auto r = convert();
  expect_one_line_error(r, {"config.json", "MixtralForCausalLM", "Qwen3MoeForCausalLM"});
  expect_no_output();
}

TEST_F(ConvertBadInput, ConfigInconsistentWithTensors) {
  auto c = config();
  const int64_t n_vocab = c["vocab_size"].get<int64_t>();
  c["hidden_size"] = 128;
  write_config(c);
  auto r = convert();
  expect_one_line_error(r, {"config.json", "model.embed_tokens.weight", fmt::format("[{}, 256]", n_vocab),
                            fmt::format("[{}, 128]", n_vocab)});
  expect_no_output();

  c["hidden_size"] = 256;
  c["num_experts"] = 3;  // the checkpoint holds experts 0..3
  write_config(c);
  r = convert();
  // The router, read before the experts, already disagrees.
  expect_one_line_error(r, {"config.json", "model.layers.0.mlp.gate.weight", "[4, 256]", "[3, 256]"});
  expect_no_output();

  c["num_experts"] = 4;
  c["num_hidden_layers"] = 3;  // block 2 has no tensors
  write_config(c);
  r = convert();
  expect_one_line_error(r, {"model.layers.2.", "missing"});
  expect_no_output();
}

TEST_F(ConvertBadInput, ShardListedButAbsent) {
  // The shard holding block 1's first tensor in reading order.
  const std::string shard = shard_of("model.layers.1.input_layernorm.weight");
  fs::remove(hf_ / shard);
  auto r = convert();
  expect_one_line_error(r, {"model.safetensors.index.json", shard, "model.layers."});
  expect_no_output();
}

TEST_F(ConvertBadInput, UnsupportedDtype) {
  // lm_head.weight rewritten as an int8 tensor of the same shape.
  const std::string shard_name = shard_of("lm_head.weight");
  const fs::path shard = hf_ / shard_name;
  auto file = st::File::open(shard.string());
  ASSERT_TRUE(file.ok()) << file.message();
  // Same shard, same tensors, lm_head.weight now int8.
  std::vector<st::TensorDecl> decls;
  for (const auto& t : (*file)->tensors()) {
    decls.push_back({t.name, t.name == "lm_head.weight" ? st::DType::I8 : t.dtype, t.shape});
  }
  std::vector<std::vector<uint8_t>> data;
  for (const auto& t : (*file)->tensors()) {
    const auto d = (*file)->tensor_data(t);
    data.emplace_back(t.name == "lm_head.weight" ? std::vector<uint8_t>(static_cast<size_t>(t.n_elements()))
                                                 : std::vector<uint8_t>(d.begin(), d.end()));
  }
  file->reset();
  fs::remove(shard);
  auto w = st::Writer::create(shard.string(), decls);
  ASSERT_TRUE(w.ok()) << w.message();
  for (const auto& d : data) ASSERT_TRUE((*w)->write_tensor(d).ok());
  ASSERT_TRUE((*w)->finish().ok());
  auto r = convert();
  expect_one_line_error(r, {shard_name, "lm_head.weight", "I8"});
  expect_no_output();
}

TEST_F(ConvertBadInput, MissingTokenizer) {
  fs::remove(hf_ / "tokenizer.json");
  auto r = convert();
  expect_one_line_error(r, {"tokenizer.json"});
  expect_no_output();
}

TEST(ExportHfBadInput, RefusesUnknownArchitectureAndExistingOutput) {
  const fs::path dir = testing::cli_scratch("apex_export_hf_bad");
  const fs::path llama = dir / "llama.gguf";
  auto r = run_apex(dir, "synth --arch llama --experts 0 --layers 1 --embd 64 --heads 2 --kv-heads 2 --ff 64 "
                         "--vocab 300 --no-progress " + llama.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_apex(dir, "export-hf " + llama.string() + " " + (dir / "hf").string());
  expect_one_line_error(r, {"llama.gguf", "llama", "qwen3moe"});
  EXPECT_FALSE(fs::exists(dir / "hf"));

  const fs::path moe = dir / "moe.gguf";
  r = run_apex(dir, "synth --arch qwen3moe --layers 1 --embd 64 --heads 2 --kv-heads 2 --experts 2 --ff 32 "
                    "--vocab 300 --no-progress " + moe.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::create_directories(dir / "taken");
  std::ofstream(dir / "taken" / "keep.txt") << "x";
  r = run_apex(dir, "export-hf " + moe.string() + " " + (dir / "taken").string());
  expect_one_line_error(r, {"taken", "not an empty directory"});
  EXPECT_TRUE(fs::exists(dir / "taken" / "keep.txt"));
  // Without tokenizer files the checkpoint is still complete otherwise.
  r = run_apex(dir, "export-hf " + moe.string() + " " + (dir / "hf").string() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  // token_embd, 9 block tensors, 3 expert stacks of 2 experts, output_norm, output.
  EXPECT_EQ(j["tensors"], 1 + 9 + 3 * 2 + 2);
  EXPECT_TRUE(j["tokenizer_files"].empty());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace apex
