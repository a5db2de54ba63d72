// Issue 9 for qwen35moe (Qwen3.5 / 3.6 MoE): a synthetic GGUF (apex synth,
// 4 blocks = 3 Gated DeltaNet + 1 full attention, one MTP block, the real
// Qwen3 tokenizer) exported with `apex export-hf` and converted back with
// `apex convert`:
//  - tensors equal the original byte for byte (F32 and F16), in the order
//    llama.cpp's converter writes (restated here with this test's own name
//    table), metadata key by key, and the oracle's logits are identical;
//  - the exported values are what transformers expects, checked against
//    statements of the converter's rules written here: A = -exp(A_log),
//    Qwen3.5 norms store gain - 1 (not linear_attn.norm), value heads in
//    grouped order (transformers) vs tiled order (ggml), conv1d as
//    [channels, 1, kernel], the MTP head under mtp.*;
//  - fused 3-D expert input (transformers >= 5: mlp.experts.gate_up_proj /
//    down_proj) converts to the same GGUF as per-expert input, for qwen35moe
//    and qwen3moe;
//  - a multimodal-wrapped config (text_config, layer_types) converts the same;
//  - bad input names the file and key/tensor in one line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "convert/convert_test_support.h"
#include "gguf/gguf.h"
#include "oracle/oracle.h"
#include "quant/fp16.h"
#include "safetensors/safetensors.h"
#include "synth/hf_tokenizer.h"

namespace apex {
namespace {

namespace fs = std::filesystem;
using testing::Case;
using testing::Fixture;
using testing::fixture;
using testing::run_apex;

// 3 key heads of width 16 would not divide; 2 key heads, 4 value heads: the
// value-head reordering moves heads.
constexpr const char* kQwen35Flags = "--ssm-groups 2 --ssm-heads 4 --ssm-state 16 --mtp 1";
constexpr int kLayers = 4;  // blocks 0-2 linear attention, 3 full attention, 4 MTP
constexpr int kKHeads = 2, kVHeads = 4, kHeadDim = 16;

Case q35(const char* type, bool tiny = false, bool fused = false) {
  return Case{"qwen35moe", type, type, tiny, kLayers, kQwen35Flags, fused};
}

// The GGUF name of a checkpoint name, restated from convert_hf_to_gguf.py's
// Qwen3.5 classes and gguf-py's tensor_mapping.py ("" when unknown).
std::string gguf_name_of(std::string hf) {
  // MTP: the head's own tensors, and its block, numbered after the trunk.
  static const std::map<std::string, std::string> mtp = {
      {"mtp.fc.weight", "blk.4.nextn.eh_proj.weight"},
      {"mtp.pre_fc_norm_embedding.weight", "blk.4.nextn.enorm.weight"},
      {"mtp.pre_fc_norm_hidden.weight", "blk.4.nextn.hnorm.weight"},
      {"mtp.norm.weight", "blk.4.nextn.shared_head_norm.weight"},
  };
  if (auto it = mtp.find(hf); it != mtp.end()) return it->second;
  if (hf.rfind("mtp.layers.0.", 0) == 0) hf = "model.layers.4." + hf.substr(13);
  static const std::vector<std::pair<std::regex, std::string>> table = {
      {std::regex(R"(^model\.embed_tokens\.weight$)"), "token_embd.weight"},
      {std::regex(R"(^model\.norm\.weight$)"), "output_norm.weight"},
      {std::regex(R"(^lm_head\.weight$)"), "output.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.input_layernorm\.weight$)"), "blk.$1.attn_norm.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.post_attention_layernorm\.weight$)"), "blk.$1.post_attention_norm.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.self_attn\.(q|k|v)_proj\.weight$)"), "blk.$1.attn_$2.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$)"), "blk.$1.attn_output.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.self_attn\.(q|k)_norm\.weight$)"), "blk.$1.attn_$2_norm.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.linear_attn\.in_proj_qkv\.weight$)"), "blk.$1.attn_qkv.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.linear_attn\.in_proj_z\.weight$)"), "blk.$1.attn_gate.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.linear_attn\.in_proj_b\.weight$)"), "blk.$1.ssm_beta.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.linear_attn\.in_proj_a\.weight$)"), "blk.$1.ssm_alpha.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.linear_attn\.conv1d\.weight$)"), "blk.$1.ssm_conv1d.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.linear_attn\.dt_bias$)"), "blk.$1.ssm_dt.bias"},
      {std::regex(R"(^model\.layers\.(\d+)\.linear_attn\.A_log$)"), "blk.$1.ssm_a"},
      {std::regex(R"(^model\.layers\.(\d+)\.linear_attn\.norm\.weight$)"), "blk.$1.ssm_norm.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.linear_attn\.out_proj\.weight$)"), "blk.$1.ssm_out.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.mlp\.gate\.weight$)"), "blk.$1.ffn_gate_inp.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.mlp\.shared_expert_gate\.weight$)"), "blk.$1.ffn_gate_inp_shexp.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.mlp\.shared_expert\.(gate|up|down)_proj\.weight$)"),
       "blk.$1.ffn_$2_shexp.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.eh_proj\.weight$)"), "blk.$1.nextn.eh_proj.weight"},
      {std::regex(R"(^model\.layers\.(\d+)\.mlp\.experts\.down_proj$)"), "blk.$1.ffn_down_exps.weight"},
  };
  for (const auto& [re, fmt] : table) {
    if (std::regex_match(hf, re)) return std::regex_replace(hf, re, fmt);
  }
  return "";
}

// The converter's reading order: shards sorted, names sorted within each; a
// block's per-expert stacks (down, gate, up) when its last one is read; a
// fused gate_up_proj gives gate then up.
std::vector<std::string> expected_order(const fs::path& hf_dir, int n_expert) {
  std::map<std::string, std::vector<std::string>> by_shard;
  const auto j = nlohmann::json::parse(testing::slurp(hf_dir / "model.safetensors.index.json"));
  for (auto& [name, shard] : j["weight_map"].items()) by_shard[shard.get<std::string>()].push_back(name);
  static const std::regex kExpert(R"(^(?:model|mtp)\.layers\.(\d+)\.mlp\.experts\.\d+\.(gate|up|down)_proj\.weight$)");
  static const std::regex kGateUp(R"(^(model|mtp)\.layers\.(\d+)\.mlp\.experts\.gate_up_proj$)");
  std::vector<std::string> order;
  std::map<std::string, int> seen;
  for (auto& [shard, names] : by_shard) {
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      std::smatch m;
      if (std::regex_match(n, m, kExpert)) {
        const std::string bid = n.rfind("mtp.", 0) == 0 ? "4" : m[1].str();
        if (++seen[bid] == 3 * n_expert) {
          for (const char* p : {"down", "gate", "up"}) order.push_back("blk." + bid + ".ffn_" + p + "_exps.weight");
        }
        continue;
      }
      if (std::regex_match(n, m, kGateUp)) {
        const std::string bid = m[1] == "mtp" ? "4" : m[2].str();
        order.push_back("blk." + bid + ".ffn_gate_exps.weight");
        order.push_back("blk." + bid + ".ffn_up_exps.weight");
        continue;
      }
      std::string g = gguf_name_of(n);
      EXPECT_FALSE(g.empty()) << "unexpected checkpoint tensor " << n;
      order.push_back(g);
    }
  }
  return order;
}

// Tensors (name order, type, shape, bytes) and metadata of `b` equal `a`'s,
// but for the keys in `skip`.
void expect_same_gguf(const fs::path& a_path, const fs::path& b_path, const std::set<std::string>& skip) {
  auto a = gguf::File::open(a_path.string());
  auto b = gguf::File::open(b_path.string());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
  for (const auto& t : (*a)->tensors()) {
    const gguf::TensorInfo* u = (*b)->find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->type, t.type) << t.name;
    EXPECT_EQ(u->ne, t.ne) << t.name;
    const auto x = (*a)->tensor_data(t), y = (*b)->tensor_data(*u);
    ASSERT_EQ(x.size(), y.size()) << t.name;
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin())) << t.name << " differs";
  }
  for (const auto& kv : (*a)->kvs()) {
    if (skip.count(kv.key)) continue;
    const gguf::KeyValue* other = (*b)->find(kv.key);
    ASSERT_NE(other, nullptr) << b_path << " lacks " << kv.key;
    EXPECT_TRUE(other->value == kv.value) << kv.key << ": " << kv.value.to_string() << " vs "
                                          << other->value.to_string();
  }
  for (const auto& kv : (*b)->kvs()) {
    EXPECT_TRUE((*a)->find(kv.key) != nullptr || skip.count(kv.key)) << "unexpected key " << kv.key;
  }
}

const std::set<std::string> kDerived = {"general.name", "general.size_label", "general.basename", "general.finetune",
                                        "tokenizer.chat_template"};

class Qwen35RoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(Qwen35RoundTrip, TensorsAndMetadataEqualOriginal) {
  const Fixture& f = fixture(q35(GetParam()));
  ASSERT_TRUE(f.error.empty()) << f.error;
  expect_same_gguf(f.original, f.converted, kDerived);
  auto b = gguf::File::open(f.converted.string());
  ASSERT_TRUE(b.ok());
  std::vector<std::string> got;
  for (const auto& t : (*b)->tensors()) got.push_back(t.name);
  EXPECT_EQ(got, expected_order(f.hf, 4));
  // The MTP block is under mtp.*, not model.layers.4.
  const auto index = testing::slurp(f.hf / "model.safetensors.index.json");
  EXPECT_NE(index.find("\"mtp.layers.0.mlp.experts.3.up_proj.weight\""), std::string::npos);
  EXPECT_NE(index.find("\"mtp.fc.weight\""), std::string::npos);
  EXPECT_EQ(index.find("model.layers.4."), std::string::npos);
}

TEST_P(Qwen35RoundTrip, OracleLogitsIdentical) {
  const Fixture& f = fixture(q35(GetParam()));
  ASSERT_TRUE(f.error.empty()) << f.error;
  ASSERT_TRUE(oracle::available());
  const std::string chat = "<|im_start|>user\nWhat is 2+2? Gated DeltaNet.<|im_end|>\n<|im_start|>assistant\n";
  std::vector<int32_t> ta, tb;
  ASSERT_TRUE(oracle::tokenize(f.original.string(), chat, true, true, ta));
  ASSERT_TRUE(oracle::tokenize(f.converted.string(), chat, true, true, tb));
  EXPECT_EQ(ta, tb);
  auto la = oracle::eval_logits(f.original.string(), ta);
  auto lb = oracle::eval_logits(f.converted.string(), ta);
  ASSERT_TRUE(la.ok) << la.error;
  ASSERT_TRUE(lb.ok) << lb.error;
  ASSERT_EQ(la.logits.size(), lb.logits.size());
  EXPECT_TRUE(la.logits == lb.logits) << "logits differ";
}

INSTANTIATE_TEST_SUITE_P(Qwen35, Qwen35RoundTrip, ::testing::Values("f32", "f16"));

// --- the exported values, against the converter's rules -------------------

std::vector<float> hf_values(st::Checkpoint& ck, const std::string& name, std::vector<int64_t>* shape = nullptr) {
  auto ref = ck.find(name);
  EXPECT_TRUE(ref.ok()) << name;
  if (!ref.ok()) return {};
  if (shape) *shape = ref->info->shape;
  EXPECT_EQ(ref->info->dtype, st::DType::F32) << name;
  std::vector<float> v(static_cast<size_t>(ref->info->n_elements()));
  std::memcpy(v.data(), ref->data().data(), v.size() * 4);
  return v;
}

std::vector<float> gguf_values(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  EXPECT_EQ(t->type, 0) << name;  // F32 (the f32 fixture)
  std::vector<float> v(static_cast<size_t>(t->n_elements()));
  std::memcpy(v.data(), f.tensor_data(*t).data(), v.size() * 4);
  return v;
}

// transformers orders value heads by key head (head h = k * r + j is value
// head j of key head k); ggml's order repeats the key heads (j * K + k).
int tiled(int h) {
  const int r = kVHeads / kKHeads;
  return (h % r) * kKHeads + h / r;
}

TEST(Qwen35Export, ValuesFollowTheConvertersRules) {
  const Fixture& f = fixture(q35("f32"));
  ASSERT_TRUE(f.error.empty()) << f.error;
  auto gf = gguf::File::open(f.original.string());
  ASSERT_TRUE(gf.ok());
  const gguf::File& g = **gf;
  auto ck = st::Checkpoint::open(f.hf.string());
  ASSERT_TRUE(ck.ok()) << ck.message();
  st::Checkpoint& c = **ck;
  const int qk = 2 * kKHeads * kHeadDim;  // q and k channels before the value heads

  // Norms store gain - 1 (Qwen3.5 multiplies by 1 + weight), except the
  // linear-attention head norm.
  auto plus_one = [&](const std::string& hf, const std::string& gg) {
    const auto h = hf_values(c, hf), y = gguf_values(g, gg);
    ASSERT_EQ(h.size(), y.size()) << hf;
    for (size_t i = 0; i < h.size(); ++i) ASSERT_EQ(h[i] + 1.0f, y[i]) << hf << " [" << i << "]";
  };
  plus_one("model.norm.weight", "output_norm.weight");
  plus_one("model.layers.3.self_attn.q_norm.weight", "blk.3.attn_q_norm.weight");
  plus_one("model.layers.3.self_attn.k_norm.weight", "blk.3.attn_k_norm.weight");
  plus_one("mtp.pre_fc_norm_embedding.weight", "blk.4.nextn.enorm.weight");
  plus_one("mtp.pre_fc_norm_hidden.weight", "blk.4.nextn.hnorm.weight");
  plus_one("mtp.norm.weight", "blk.4.nextn.shared_head_norm.weight");
  plus_one("mtp.layers.0.input_layernorm.weight", "blk.4.attn_norm.weight");
  EXPECT_EQ(hf_values(c, "mtp.fc.weight"), gguf_values(g, "blk.4.nextn.eh_proj.weight"));

  for (int il = 0; il < 3; ++il) {
    const std::string p = fmt::format("model.layers.{}.", il), b = fmt::format("blk.{}.", il);
    plus_one(p + "input_layernorm.weight", b + "attn_norm.weight");
    plus_one(p + "post_attention_layernorm.weight", b + "post_attention_norm.weight");
    EXPECT_EQ(hf_values(c, p + "linear_attn.norm.weight"), gguf_values(g, b + "ssm_norm.weight"));

    // A = -exp(A_log) and dt_bias, per value head.
    const auto a_log = hf_values(c, p + "linear_attn.A_log"), a = gguf_values(g, b + "ssm_a");
    const auto dt = hf_values(c, p + "linear_attn.dt_bias"), gdt = gguf_values(g, b + "ssm_dt.bias");
    ASSERT_EQ(a_log.size(), size_t{kVHeads});
    for (int h = 0; h < kVHeads; ++h) {
      const double want = -std::exp(static_cast<double>(a_log[h]));
      EXPECT_NEAR(a[tiled(h)], want, std::fabs(want) * 0x1p-23) << p << "A_log head " << h;
      EXPECT_EQ(dt[h], gdt[tiled(h)]);
    }
    // Rows per value head: in_proj_b / in_proj_a one, in_proj_z head_dim;
    // in_proj_qkv the same after its q and k rows.
    auto rows_match = [&](const std::string& hf, const std::string& gg, int offset, int rows_per_head) {
      std::vector<int64_t> shape;
      const auto h = hf_values(c, hf, &shape), y = gguf_values(g, gg);
      ASSERT_EQ(shape.size(), 2u) << hf;
      const int64_t n = shape[1];
      ASSERT_EQ(shape[0], offset + kVHeads * rows_per_head) << hf;
      for (int64_t r = 0; r < shape[0]; ++r) {
        int64_t to = r;
        if (r >= offset) {
          const int64_t head = (r - offset) / rows_per_head, k = (r - offset) % rows_per_head;
          to = offset + tiled(static_cast<int>(head)) * rows_per_head + k;
        }
        ASSERT_TRUE(std::equal(h.begin() + r * n, h.begin() + (r + 1) * n, y.begin() + to * n)) << hf << " row " << r;
      }
    };
    rows_match(p + "linear_attn.in_proj_b.weight", b + "ssm_beta.weight", 0, 1);
    rows_match(p + "linear_attn.in_proj_a.weight", b + "ssm_alpha.weight", 0, 1);
    rows_match(p + "linear_attn.in_proj_z.weight", b + "attn_gate.weight", 0, kHeadDim);
    rows_match(p + "linear_attn.in_proj_qkv.weight", b + "attn_qkv.weight", qk, kHeadDim);

    // conv1d: [channels, 1, kernel] in HF, [kernel, channels] in GGUF, value
    // channels reordered like in_proj_qkv's rows.
    std::vector<int64_t> shape;
    const auto conv = hf_values(c, p + "linear_attn.conv1d.weight", &shape), gconv = gguf_values(g, b + "ssm_conv1d.weight");
    ASSERT_EQ(shape, (std::vector<int64_t>{qk + kVHeads * kHeadDim, 1, 4}));
    for (int64_t ch = 0; ch < shape[0]; ++ch) {
      int64_t to = ch;
      if (ch >= qk) to = qk + tiled(static_cast<int>((ch - qk) / kHeadDim)) * kHeadDim + (ch - qk) % kHeadDim;
      for (int k = 0; k < 4; ++k) ASSERT_EQ(conv[ch * 4 + k], gconv[to * 4 + k]) << "channel " << ch;
    }
    // out_proj: the value heads are its input columns.
    const auto out = hf_values(c, p + "linear_attn.out_proj.weight", &shape), gout = gguf_values(g, b + "ssm_out.weight");
    ASSERT_EQ(shape[1], kVHeads * kHeadDim);
    for (int64_t o = 0; o < shape[0]; ++o) {
      for (int h = 0; h < kVHeads; ++h) {
        for (int k = 0; k < kHeadDim; ++k) {
          ASSERT_EQ(out[o * shape[1] + h * kHeadDim + k], gout[o * shape[1] + tiled(h) * kHeadDim + k]);
        }
      }
    }
  }
  // The gated full attention: q_proj is twice as wide (query and gate per head).
  std::vector<int64_t> shape;
  hf_values(c, "model.layers.3.self_attn.q_proj.weight", &shape);
  EXPECT_EQ(shape, (std::vector<int64_t>{2 * 4 * 16, 64}));

  const auto config = nlohmann::json::parse(testing::slurp(f.hf / "config.json"));
  EXPECT_EQ(config["architectures"][0], "Qwen3_5MoeForCausalLM");
  EXPECT_EQ(config["num_hidden_layers"], kLayers);  // the MTP block is not counted
  EXPECT_EQ(config["mtp_num_hidden_layers"], 1);
  EXPECT_EQ(config["linear_num_key_heads"], kKHeads);
  EXPECT_EQ(config["linear_num_value_heads"], kVHeads);
  EXPECT_EQ(config["linear_key_head_dim"], kHeadDim);
  EXPECT_EQ(config["linear_value_head_dim"], kHeadDim);
  EXPECT_EQ(config["full_attention_interval"], 4);
  EXPECT_EQ(config["rope_parameters"]["partial_rotary_factor"], 0.25);
}

// --- fused expert input -------------------------------------------------

TEST(Qwen35Convert, FusedExpertsGiveTheSameGguf) {
  for (const Case& c : {q35("f16", true, true), Case{"qwen3moe", "f16", "f16", true, 2, "", true}}) {
    Case per_expert = c;
    per_expert.fused = false;
    const Fixture& fused = fixture(c);
    const Fixture& plain = fixture(per_expert);
    ASSERT_TRUE(fused.error.empty()) << fused.error;
    ASSERT_TRUE(plain.error.empty()) << plain.error;
    const std::string prefix = std::string(c.arch) == "qwen35moe" ? "mtp.layers.0" : "model.layers.1";
    // transformers >= 5's layout: no per-expert tensors.
    auto ck = st::Checkpoint::open(fused.hf.string());
    ASSERT_TRUE(ck.ok()) << ck.message();
    auto gu = (*ck)->find(prefix + ".mlp.experts.gate_up_proj");
    auto dn = (*ck)->find(prefix + ".mlp.experts.down_proj");
    ASSERT_TRUE(gu.ok() && dn.ok()) << c.arch;
    EXPECT_EQ(gu->info->shape, (std::vector<int64_t>{4, 2 * 256, 256}));
    EXPECT_EQ(dn->info->shape, (std::vector<int64_t>{4, 256, 256}));
    for (const auto& n : (*ck)->names()) EXPECT_EQ(n.find("experts.0."), std::string::npos) << n;
    // Same tensors and metadata as from per-expert input (the order follows
    // the shards, which hold different tensors in the two checkpoints).
    expect_same_gguf(plain.converted, fused.converted, {});
    expect_same_gguf(fused.original, fused.converted, kDerived);
    if (std::string(c.arch) == "qwen35moe") {
      auto b = gguf::File::open(fused.converted.string());
      ASSERT_TRUE(b.ok());
      std::vector<std::string> got;
      for (const auto& t : (*b)->tensors()) got.push_back(t.name);
      EXPECT_EQ(got, expected_order(fused.hf, 4));
    }
  }
}

// --- configs and bad input ----------------------------------------------

class Qwen35BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    const Fixture& f = fixture(q35("f16", true));
    ASSERT_TRUE(f.error.empty()) << f.error;
    original_ = f.original;
    dir_ = f.dir / "bad";
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    hf_ = dir_ / "ckpt";
    fs::copy(f.hf, hf_, fs::copy_options::recursive);
    out_ = dir_ / "out.gguf";
  }
  void TearDown() override { fs::remove_all(dir_); }
  nlohmann::json config() const { return nlohmann::json::parse(testing::slurp(hf_ / "config.json")); }
  void write_config(const nlohmann::json& c) const { std::ofstream(hf_ / "config.json") << c.dump(2); }
  testing::RunResult convert() const {
    return run_apex(dir_, "convert " + hf_.string() + " " + out_.string() + " --no-progress");
  }
  // Rewrites the shard holding `anchor` without `drop` and with `add`
  // (a tensor of zeros), and the index to match.
  void rewrite_shard(const std::string& anchor, const std::string& drop, const st::TensorDecl* add = nullptr) const {
    auto index = nlohmann::json::parse(testing::slurp(hf_ / "model.safetensors.index.json"));
    const std::string shard_name = index["weight_map"][anchor].get<std::string>();
    const fs::path shard = hf_ / shard_name;
    if (!drop.empty()) index["weight_map"].erase(drop);
    if (add != nullptr) index["weight_map"][add->name] = shard_name;
    std::ofstream(hf_ / "model.safetensors.index.json") << index.dump(2);
    auto file = st::File::open(shard.string());
    ASSERT_TRUE(file.ok()) << file.message();
    std::vector<st::TensorDecl> decls;
    std::vector<std::vector<uint8_t>> data;
    for (const auto& t : (*file)->tensors()) {
      if (t.name == drop) continue;
      decls.push_back({t.name, t.dtype, t.shape});
      const auto d = (*file)->tensor_data(t);
      data.emplace_back(d.begin(), d.end());
    }
    if (add != nullptr) {
      decls.push_back(*add);
      int64_t n = 1;
      for (int64_t x : add->shape) n *= x;
      data.emplace_back(static_cast<size_t>(n) * st::dtype_bytes(add->dtype), 0);
    }
    file->reset();
    fs::remove(shard);
    auto w = st::Writer::create(shard.string(), decls);
    ASSERT_TRUE(w.ok()) << w.message();
    for (const auto& d : data) ASSERT_TRUE((*w)->write_tensor(d).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  fs::path original_, dir_, hf_, out_;
};

// Released Qwen3.5 checkpoints wrap the text model (text_config), list
// layer_types (the converter then also writes attention.recurrent_layers)
// and carry a vision tower, which the text converter leaves out.
TEST_F(Qwen35BadInput, MultimodalWrappedConfigConvertsTheSame) {
  const st::TensorDecl visual{"model.visual.blocks.0.attn.qkv.weight", st::DType::F32, {12, 4}};
  rewrite_shard("model.embed_tokens.weight", "", &visual);
  nlohmann::json text = config();
  text["layer_types"] = {"linear_attention", "linear_attention", "linear_attention", "full_attention"};
  text["model_type"] = "qwen3_5_moe_text";
  text.erase("architectures");
  write_config({{"architectures", {"Qwen3_5MoeForConditionalGeneration"}},
                {"model_type", "qwen3_5_moe"},
                {"text_config", text},
                {"vision_config", {{"depth", 2}}}});
  auto r = convert();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> skip = kDerived;
  skip.insert("qwen35moe.attention.recurrent_layers");
  expect_same_gguf(original_, out_, skip);
  auto g = gguf::File::open(out_.string());
  ASSERT_TRUE(g.ok());
  const gguf::KeyValue* kv = (*g)->find("qwen35moe.attention.recurrent_layers");
  ASSERT_NE(kv, nullptr);
  const auto* arr = kv->value.get_if<gguf::Array>();
  ASSERT_NE(arr, nullptr);
  ASSERT_EQ(arr->elems.size(), 5u);  // the MTP block too, as not recurrent
  for (size_t i = 0; i < 5; ++i) EXPECT_TRUE(arr->elems[i] == gguf::Value(i < 3)) << i;
}

TEST_F(Qwen35BadInput, UnsupportedArchitecture) {
  auto c = config();
  c["architectures"] = {"Qwen3NextForCausalLM"};
  write_config(c);
  auto r = convert();
  testing::expect_one_line_error(r, {"config.json", "Qwen3NextForCausalLM", "Qwen3_5MoeForCausalLM"});
  EXPECT_FALSE(fs::exists(out_));
}

TEST_F(Qwen35BadInput, InconsistentConfig) {
  auto c = config();
  c["layer_types"] = {"linear_attention", "full_attention", "linear_attention", "full_attention"};
  write_config(c);
  auto r = convert();
  testing::expect_one_line_error(r, {"config.json", "'layer_types'[1]", "full_attention_interval 4"});
  c.erase("layer_types");
  c["linear_value_head_dim"] = 32;
  write_config(c);
  r = convert();
  testing::expect_one_line_error(r, {"config.json", "linear_value_head_dim", "linear_key_head_dim"});
  c["linear_value_head_dim"] = 16;
  c["linear_num_value_heads"] = 3;
  write_config(c);
  r = convert();
  testing::expect_one_line_error(r, {"config.json", "linear_num_value_heads", "linear_num_key_heads"});
  EXPECT_FALSE(fs::exists(out_));
}

TEST_F(Qwen35BadInput, MissingLinearAttentionTensor) {
  const std::string victim = "model.layers.1.linear_attn.A_log";
  rewrite_shard(victim, victim);
  auto r = convert();
  testing::expect_one_line_error(r, {victim, "missing", "blk.1.ssm_a"});
  EXPECT_FALSE(fs::exists(out_));
}

// The tokenizer's pre-tokenizer name is data: Qwen3's Split regex gives
// "qwen2" (what the converter's hash gives the Qwen3 tokenizer, whatever the
// model), Qwen3.5's "qwen35" (llama-vocab.cpp's original-regex comment).
TEST(Qwen35Tokenizer, PreTokenizerByRegex) {
  // The small byte-level tokenizer with Qwen3's pre_tokenizer (loading the
  // real 151k-token one twice costs seconds).
  const fs::path tmp = testing::cli_scratch("apex_qwen35_tok");
  testing::write_tiny_tokenizer(tmp);
  const std::string path = (tmp / "tokenizer.json").string(), config = (tmp / "tokenizer_config.json").string();
  auto v = synth::load_hf_tokenizer(path, config);
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(v->pre, "qwen2");
  auto tok = nlohmann::json::parse(testing::slurp(path));
  auto& split = tok["pre_tokenizer"]["pretokenizers"][0];
  ASSERT_EQ(split["type"], "Split");
  split["pattern"]["Regex"] =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  std::ofstream(path) << tok.dump();
  auto w = synth::load_hf_tokenizer(path, config);
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(w->pre, "qwen35");
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace apex
