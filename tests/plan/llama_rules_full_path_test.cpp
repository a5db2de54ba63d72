// The type choice against the whole llama_model_quantize (dry run): what the
// exported compute-types helper cannot show. llama.cpp loads a GGUF file
// (written here with its own gguf API, tensor data all zeros), sorts the
// tensors, labels the model size from its metadata, sets has_imatrix when an
// imatrix is passed, and logs each tensor's target type, which we read back.
// Covered here:
//   - processing order (llama_tensor_order) on tricky names;
//   - has_imatrix = true (the mixes of IQ3_XXS, IQ4_NL, IQ4_XS, Q4_0, Q5_0);
//   - model_facts_from_metadata and is_70b_model (qwen2/olmo/jais2 and
//     llama with next-token blocks, which the mock model labels differently);
//   - requires_imatrix, through the dry run's "will require an imatrix" warning.

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "model_builder.h"
#include "oracle/oracle.h"
#include "plan/ftype.h"
#include "plan/llama_rules.h"
#include "quant/type_table.h"
#include "support/temp_dir.h"

namespace apex::plan {
namespace {

namespace fs = std::filesystem;
using oracle::MetaKv;
using oracle::TensorSpec;

using test_support::TempDir;

MetaKv str_kv(std::string key, std::string v) {
  MetaKv kv{};
  kv.kind = MetaKv::kString;
  kv.key = std::move(key);
  kv.str = std::move(v);
  return kv;
}
MetaKv u32_kv(std::string key, uint32_t v) {
  MetaKv kv{};
  kv.kind = MetaKv::kU32;
  kv.key = std::move(key);
  kv.u32 = v;
  return kv;
}
MetaKv f32_kv(std::string key, float v) {
  MetaKv kv{};
  kv.kind = MetaKv::kF32;
  kv.key = std::move(key);
  kv.f32 = v;
  return kv;
}

struct ModelMeta {
  std::string arch;
  uint32_t n_layer;
  uint32_t n_head;
  uint32_t n_head_kv;
  uint32_t n_expert = 0;
  uint32_t n_nextn = 0;
  uint32_t n_embd = 256;
  bool rms_norm = true;  // else the model reads layer_norm_epsilon
};

// The keys llama.cpp's loader needs for these architectures.
std::vector<MetaKv> metadata(const ModelMeta& m) {
  const std::string a = m.arch + ".";
  std::vector<MetaKv> kvs = {
      str_kv("general.architecture", m.arch),
      u32_kv(a + "context_length", 256),
      u32_kv(a + "embedding_length", m.n_embd),
      u32_kv(a + "feed_forward_length", 512),
      u32_kv(a + "block_count", m.n_layer),
      u32_kv(a + "attention.head_count", m.n_head),
      u32_kv(a + "attention.head_count_kv", m.n_head_kv),
      f32_kv(a + (m.rms_norm ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon"),
             1e-6f),
  };
  if (m.n_expert > 0) {
    kvs.push_back(u32_kv(a + "expert_count", m.n_expert));
    kvs.push_back(u32_kv(a + "expert_used_count", 2));
    kvs.push_back(u32_kv(a + "expert_feed_forward_length", 512));
  }
  if (m.n_nextn > 0) kvs.push_back(u32_kv(a + "nextn_predict_layers", m.n_nextn));
  return kvs;
}

// The same metadata as gguf::Values, for model_facts_from_metadata.
std::map<std::string, gguf::Value, std::less<>> as_values(const std::vector<MetaKv>& kvs) {
  std::map<std::string, gguf::Value, std::less<>> out;
  for (const MetaKv& kv : kvs) {
    switch (kv.kind) {
      case MetaKv::kString: out[kv.key] = gguf::Value(kv.str); break;
      case MetaKv::kU32: out[kv.key] = gguf::Value(kv.u32); break;
      case MetaKv::kF32: out[kv.key] = gguf::Value(kv.f32); break;
    }
  }
  return out;
}

ModelFacts facts_of(const std::vector<MetaKv>& kvs) {
  const auto values = as_values(kvs);
  auto facts = model_facts_from_metadata([&](std::string_view key) -> const gguf::Value* {
    auto it = values.find(key);
    return it == values.end() ? nullptr : &it->second;
  });
  EXPECT_TRUE(facts.ok()) << facts.message();
  return facts.ok() ? *facts : ModelFacts{};
}

// Runs the dry run and apex on the same file contents and compares the
// tensor order, every type, and the imatrix warning.
void expect_same_as_dry_run(const std::string& path, const std::string& what,
                            const std::vector<MetaKv>& kvs, const std::vector<TensorSpec>& specs,
                            Ftype ftype, bool with_imatrix, int* compared = nullptr) {
  ASSERT_TRUE(oracle::write_skeleton_gguf(path, kvs, specs)) << path;
  oracle::QuantizeParams p = oracle::default_quantize_params();
  p.ftype = static_cast<int32_t>(ftype);
  p.nthread = 1;
  // An imatrix with no entries still sets has_imatrix in llama.cpp; the dry
  // run never looks entries up.
  const oracle::ImatrixEntry empty_imatrix[] = {{nullptr, nullptr, 0}};
  if (with_imatrix) p.imatrix = empty_imatrix;
  const oracle::DryRunResult want = oracle::quantize_dry_run(path, p);

  const ModelFacts facts = facts_of(kvs);
  QuantizeOptions options;
  options.ftype = ftype;
  options.has_imatrix = with_imatrix;
  const auto plan = plan_types(facts, testing::to_descs(specs), options);
  const Result<std::vector<TensorChoice>> got =
      plan.ok() ? Result<std::vector<TensorChoice>>(plan->choices)
                : Result<std::vector<TensorChoice>>(plan.error());
  const std::vector<TensorDesc> descs = plan.ok() ? plan->tensors : std::vector<TensorDesc>{};
  const std::string ctx = what + ", " + ftype_name(ftype) + (with_imatrix ? ", imatrix" : "");

  ASSERT_EQ(got.ok(), want.ok) << ctx << ": apex " << (got.ok() ? "ok" : got.message())
                               << "; llama.cpp log tail: "
                               << want.log.substr(want.log.size() > 600 ? want.log.size() - 600 : 0);
  if (!got.ok()) return;
  ASSERT_EQ(want.names.size(), descs.size()) << ctx;
  bool needs_imatrix = false;
  for (size_t i = 0; i < descs.size(); ++i) {
    ASSERT_EQ(descs[i].name, want.names[i]) << ctx << ": processing order differs at " << i;
    EXPECT_EQ(static_cast<int32_t>((*got)[i].type), want.types[i])
        << ctx << ": " << descs[i].name << ": apex " << quant::type_name((*got)[i].type);
    needs_imatrix |= (*got)[i].allows_quantization && (*got)[i].requires_imatrix;
    if (compared != nullptr) ++*compared;
  }
  if (!with_imatrix) {
    EXPECT_EQ(needs_imatrix, want.imatrix_warning) << ctx << ": requires_imatrix";
  }
}

TEST(LlamaRulesFullPath, ProcessingOrderMatchesLlamaCpp) {
  TempDir dir;
  const ModelMeta meta{"llama", 12, 8, 8};
  std::vector<TensorSpec> specs = {
      {"blk.10.attn_v.weight", {256, 8}, 1},
      {"blk.9.attn_v.weight", {256, 8}, 1},
      {"blk.1.ffn_down.weight", {256, 8}, 1},
      {"blk.1.attn_v.weight", {256, 8}, 1},
      {"Z_upper.weight", {256, 8}, 1},          // uppercase sorts before lowercase
      {"a.weight", {256, 8}, 1},
      {"\xc3\xa9t\xc3\xa9.weight", {256, 8}, 1},  // bytes >= 0x80 sort last
      {"output.weight", {256, 8}, 1},
      {"token_embd.weight", {256, 8}, 1},
      {"blk.-1.attn_v.weight", {256, 8}, 1},    // layer -1: with the global tensors
      {"blk.03.attn_q.weight", {256, 8}, 1},    // layer 3
      {"blk.3.attn_k.weight", {256, 8}, 1},
      {"blk. 4.attn_k.weight", {256, 8}, 1},    // %d skips the space: layer 4
      {"blk.+5.attn_k.weight", {256, 8}, 1},    // layer 5
      {"blk.x.attn_k.weight", {256, 8}, 1},     // no layer
      {"blk.2", {256, 8}, 1},                   // layer 2, without the dot
      {"blk.11.ffn_up.weight", {256, 8}, 1},
      {"blk.4294967298.attn_q.weight", {256, 8}, 1},  // wraps to layer 2
  };
  for (Ftype f : {Ftype::Q4_K_M, Ftype::Q3_K_M, Ftype::Q8_0}) {
    expect_same_as_dry_run(dir.file("order.gguf"), "order", metadata(meta), specs, f, false);
  }
}

// Every ftype, with and without an imatrix, on dense and MoE models whose
// rows do and do not fit 256-element blocks.
TEST(LlamaRulesFullPath, EveryFtypeWithAndWithoutImatrixMatchesLlamaCpp) {
  TempDir dir;
  struct Model {
    const char* label;
    testing::ArchSpec arch;
    ModelMeta meta;
  };
  const Model models[] = {
      {"llama MHA", {"", "llama", 0, 8, 8, true}, {"llama", 16, 8, 8}},
      {"llama GQA 4", {"", "llama", 0, 32, 8, false}, {"llama", 16, 32, 8}},
      {"qwen3moe", {"", "qwen3moe", 8, 16, 4, false}, {"qwen3moe", 16, 16, 4, 8}},
      {"qwen2moe", {"", "qwen2moe", 4, 8, 8, false}, {"qwen2moe", 9, 8, 8, 4}},
  };
  const testing::Shape shapes[] = {{"256", 256, 512}, {"96", 96, 160}};
  int compared = 0;
  for (const Model& m : models) {
    for (const testing::Shape& shape : shapes) {
      ModelMeta meta = m.meta;
      meta.n_embd = static_cast<uint32_t>(shape.n_embd);
      const auto specs = testing::build_tensors(m.arch, shape, meta.n_layer);
      for (const FtypeInfo& f : all_ftypes()) {
        if (f.is_alias) continue;
        for (bool imatrix : {false, true}) {
          expect_same_as_dry_run(dir.file("sweep.gguf"),
                                 std::string(m.label) + ", rows " + shape.label, metadata(meta),
                                 specs, f.ftype, imatrix, &compared);
        }
      }
    }
  }
  EXPECT_GT(compared, 20000);
}

// llama.cpp's "70B" label comes from each architecture's loader; the rules
// then move attn_v from Q3_K/Q4_K to Q5_K.
TEST(LlamaRulesFullPath, SeventyBLabelMatchesLlamaCpp) {
  TempDir dir;
  struct Case {
    const char* label;
    ModelMeta meta;
    bool is_70b;
  };
  const Case cases[] = {
      {"llama 80 layers, GQA", {"llama", 80, 32, 8}, true},
      {"llama 80 layers, MHA (65B)", {"llama", 80, 8, 8}, false},
      {"llama 81 layers with one next-token block", {"llama", 81, 32, 8, 0, 1}, true},
      {"llama 79 layers", {"llama", 79, 32, 8}, false},
      {"qwen2 80 layers", {"qwen2", 80, 8, 8}, true},
      {"olmo 80 layers", {"olmo", 80, 8, 8, 0, 0, 256, false}, true},
      {"jais2 68 layers", {"jais2", 68, 8, 8, 0, 0, 256, false}, true},
      {"jais2 80 layers", {"jais2", 80, 8, 8, 0, 0, 256, false}, false},
  };
  for (const Case& c : cases) {
    const auto kvs = metadata(c.meta);
    EXPECT_EQ(facts_of(kvs).is_70b, c.is_70b) << c.label;
    std::vector<TensorSpec> specs = {{"token_embd.weight", {256, 64}, 1},
                                     {"output.weight", {256, 64}, 1}};
    for (uint32_t il = 0; il < c.meta.n_layer; ++il) {
      const std::string p = "blk." + std::to_string(il) + ".";
      specs.push_back({p + "attn_v.weight", {256, 64}, 1});
      specs.push_back({p + "attn_q.weight", {256, 256}, 1});
      specs.push_back({p + "ffn_down.weight", {512, 256}, 1});
    }
    for (Ftype f : {Ftype::Q3_K_S, Ftype::Q3_K_M, Ftype::Q2_K, Ftype::Q4_K_S, Ftype::Q4_K_M,
                    Ftype::IQ3_M, Ftype::IQ4_XS}) {
      expect_same_as_dry_run(dir.file("size.gguf"), c.label, kvs, specs, f, false);
    }
  }
}

}  // namespace
}  // namespace apex::plan
