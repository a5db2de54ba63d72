// The planner on synthetic layouts (no weights) and on shape lists.
#include "plan/apex_plan.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "quant/type_table.h"
#include "synth/synth.h"

namespace apex::plan {
namespace {

using quant::TypeId;

struct Model {
  ModelFacts facts;
  std::vector<TensorDesc> tensors;
};

Model model_of(const synth::Options& o) {
  auto layout = synth::make_layout(o);
  EXPECT_TRUE(layout.ok()) << layout.message();
  Model m;
  auto facts = model_facts_from_metadata([&](std::string_view key) -> const gguf::Value* {
    const gguf::KeyValue* kv = layout->find(key);
    return kv ? &kv->value : nullptr;
  });
  EXPECT_TRUE(facts.ok()) << facts.message();
  m.facts = *facts;
  for (const auto& t : layout->tensors) m.tensors.push_back({t.name, t.ne, static_cast<TypeId>(t.type)});
  return m;
}

synth::Options qwen2moe(int layers) {
  synth::Options o;
  o.arch = "qwen2moe";
  o.n_layer = layers;
  o.n_embd = 256;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_expert = 4;
  o.n_ff = 256;
  o.n_ff_shared = 256;
  o.n_vocab = 512;
  return o;
}

const PlannedTensor& find(const Plan& p, const std::string& name) {
  for (const auto& t : p.tensors)
    if (t.name == name) return t;
  ADD_FAILURE() << "no tensor " << name;
  static PlannedTensor none;
  return none;
}

TEST(ApexPlan, QualityOnA24LayerModelFollowsTheGradient) {
  const Model m = model_of(qwen2moe(24));
  auto profile = builtin_profile("quality");
  ASSERT_TRUE(profile.ok());
  auto p = make_plan(m.facts, m.tensors, *profile);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(find(*p, "blk.0.ffn_up_exps.weight").type, TypeId::Q6_K);
  EXPECT_EQ(find(*p, "blk.0.ffn_up_exps.weight").layer_class, "edge");
  EXPECT_EQ(find(*p, "blk.7.ffn_down_exps.weight").type, TypeId::Q5_K);
  EXPECT_EQ(find(*p, "blk.7.ffn_down_exps.weight").layer_class, "near_edge");
  EXPECT_EQ(find(*p, "blk.12.ffn_gate_exps.weight").type, TypeId::IQ4_XS);
  EXPECT_EQ(find(*p, "blk.12.ffn_gate_exps.weight").layer_class, "middle");
  EXPECT_EQ(find(*p, "blk.19.ffn_gate_exps.weight").type, TypeId::Q6_K);
  EXPECT_EQ(find(*p, "blk.12.ffn_down_shexp.weight").type, TypeId::Q8_0);
  EXPECT_EQ(find(*p, "blk.12.attn_v.weight").type, TypeId::Q6_K);
  EXPECT_EQ(find(*p, "blk.12.attn_v.weight").layer_class, "attn_middle");
  EXPECT_EQ(find(*p, "blk.1.attn_v.weight").layer_class, "attn_edge");
  EXPECT_EQ(find(*p, "blk.12.ffn_gate_inp.weight").role, Role::kRouter);
  EXPECT_FALSE(find(*p, "blk.12.ffn_gate_inp.weight").quantized);
  EXPECT_EQ(find(*p, "token_embd.weight").source, ChoiceSource::kMixture);  // base ftype's rule
  EXPECT_EQ(p->lines.size(), 24u * 15u);
  EXPECT_TRUE(p->warnings.empty());
  EXPECT_TRUE(p->other_tensors.empty());
  EXPECT_TRUE(p->needs_imatrix.empty());

  uint64_t sum = 0, role_sum = 0;
  for (const auto& t : p->tensors) {
    sum += t.bytes;
    if (t.quantized) EXPECT_EQ(t.bytes, quant::row_bytes(t.type, t.ne[0]) * (t.n_elements / t.ne[0])) << t.name;
  }
  for (const auto& r : p->roles) role_sum += r.bytes;
  EXPECT_EQ(sum, p->bytes);
  EXPECT_EQ(role_sum, p->bytes);
  EXPECT_NE(plan_summary(*p).find("routed_experts=Q6_K:30,Q5_K:30,IQ4_XS:12"), std::string::npos)
      << plan_summary(*p);
  const auto j = plan_to_json(*p);
  EXPECT_EQ(j["tensors"].size(), p->tensors.size());
  EXPECT_EQ(j["bytes"].get<uint64_t>(), p->bytes);
}

TEST(ApexPlan, MiniNeedsAnImatrixOnlyWhereItHasMiddleLayers) {
  auto mini = builtin_profile("mini");
  ASSERT_TRUE(mini.ok());
  const Model small = model_of(qwen2moe(6));  // all edge layers: Q3_K experts
  auto a = make_plan(small.facts, small.tensors, *mini);
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_TRUE(a->needs_imatrix.empty());
  const Model big = model_of(qwen2moe(22));  // layers 10 and 11 are middle: IQ2_S
  auto b = make_plan(big.facts, big.tensors, *mini);
  ASSERT_TRUE(b.ok()) << b.message();
  ASSERT_EQ(b->needs_imatrix.size(), 6u);
  EXPECT_EQ(find(*b, "blk.10.ffn_up_exps.weight").type, TypeId::IQ2_S);
  EXPECT_TRUE(find(*b, "blk.10.ffn_up_exps.weight").needs_imatrix);
}

TEST(ApexPlan, DenseModelWarnsAndUnknownTensorsAreListed) {
  synth::Options o;
  o.arch = "llama";
  o.n_layer = 2;
  o.n_embd = 256;
  o.n_head = 4;
  o.n_head_kv = 4;
  o.n_expert = 0;
  o.n_ff = 512;
  o.n_vocab = 300;
  Model m = model_of(o);
  m.tensors.push_back({"blk.1.mystery_proj.weight", {256, 256}, TypeId::F16});
  auto profile = builtin_profile("balanced");
  ASSERT_TRUE(profile.ok());
  auto p = make_plan(m.facts, m.tensors, *profile);
  ASSERT_TRUE(p.ok()) << p.message();
  ASSERT_EQ(p->warnings.size(), 1u);
  EXPECT_NE(p->warnings[0].find("assumptions"), std::string::npos);
  ASSERT_EQ(p->other_tensors.size(), 1u);
  EXPECT_EQ(p->other_tensors[0], "blk.1.mystery_proj.weight");
  EXPECT_EQ(find(*p, "blk.1.ffn_down.weight").role, Role::kDenseFfn);
  const std::string text = format_plan_text(*p, true);
  EXPECT_NE(text.find("blk.1.mystery_proj.weight"), std::string::npos);
  EXPECT_NE(text.find("warning:"), std::string::npos);
}

TEST(ApexPlan, TensorsTheScriptDoesNotNameGetTheirRolesLine) {
  // A fused gate_up expert tensor and an ssm_in projection: no line of
  // generate_config.sh matches them, so the planner adds one.
  Model m = model_of(qwen2moe(3));
  m.tensors.push_back({"blk.1.ffn_gate_up_exps.weight", {256, 512, 4}, TypeId::F16});
  m.tensors.push_back({"blk.2.ssm_in.weight", {256, 512}, TypeId::F16});
  auto profile = builtin_profile("compact");
  ASSERT_TRUE(profile.ok());
  auto p = make_plan(m.facts, m.tensors, *profile);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->lines.size(), 3u * 15u + 2u);
  EXPECT_EQ(find(*p, "blk.1.ffn_gate_up_exps.weight").type, TypeId::Q4_K);
  EXPECT_EQ(find(*p, "blk.2.ssm_in.weight").type, TypeId::Q4_K);
  const std::string file = tensor_type_file_text(p->lines);
  EXPECT_NE(file.find("blk.1.ffn_gate_up_exps=Q4_K\n"), std::string::npos);
  EXPECT_NE(file.find("blk.2.ssm_in=Q4_K\n"), std::string::npos);
}

TEST(ApexPlan, BaseOverrideAndUserOverridesWin) {
  const Model m = model_of(qwen2moe(3));
  auto profile = builtin_profile("balanced");
  ASSERT_TRUE(profile.ok());
  PlanOptions o;
  auto q8 = parse_ftype("Q8_0");
  ASSERT_TRUE(q8.ok());
  o.base_override = *q8;
  ASSERT_TRUE(o.user_overrides.add("blk.1.ffn_up_exps=Q4_0").ok());
  auto p = make_plan(m.facts, m.tensors, *profile, o);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->base->name, std::string("Q8_0"));
  EXPECT_EQ(find(*p, "blk.1.ffn_up_exps.weight").type, TypeId::Q4_0);
  EXPECT_EQ(find(*p, "blk.2.ffn_up_exps.weight").type, TypeId::Q6_K);
  EXPECT_EQ(find(*p, "token_embd.weight").type, TypeId::Q8_0);
}

TEST(ApexPlan, ShapesJson) {
  const nlohmann::json j = nlohmann::json::parse(R"({
    "architecture": "qwen35moe", "block_count": 8, "expert_count": 4, "head_count": 4, "head_count_kv": 2,
    "tensors": [ {"name": "token_embd.weight", "shape": [256, 1000]},
                 {"name": "output_norm.weight", "shape": [256]} ],
    "layer_tensors": [
      {"name": "attn_q.weight", "shape": [256, 512], "layers": "3-7/4"},
      {"name": "attn_qkv.weight", "shape": [256, 768], "layers": "0-2,4-6"},
      {"name": "ffn_up_exps.weight", "shape": [256, 128, 4], "type": "F16"} ] })");
  auto m = parse_shapes_json(j, "s.json");
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ(m->facts.n_layer, 8u);
  EXPECT_EQ(m->tensors.size(), 2u + 2u + 6u + 8u);
  EXPECT_EQ(m->tensors[2].name, "blk.3.attn_q.weight");
  EXPECT_EQ(m->tensors[3].name, "blk.7.attn_q.weight");
  EXPECT_EQ(m->tensors[0].type, TypeId::BF16);
  EXPECT_EQ(m->tensors[1].type, TypeId::F32);
  EXPECT_EQ(m->tensors.back().type, TypeId::F16);
  auto profile = builtin_profile("balanced");
  ASSERT_TRUE(profile.ok());
  auto p = make_plan(m->facts, m->tensors, *profile);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(find(*p, "blk.3.attn_q.weight").type, TypeId::Q6_K);

  const std::pair<const char*, const char*> bad[] = {
      {R"({"block_count": 2, "tensors": []})", "missing \"architecture\""},
      {R"({"architecture": "x", "tensors": []})", "missing \"block_count\""},
      {R"({"architecture": "x", "block_count": 2, "layer_tensors": [{"name": "a.weight", "shape": [4, 4], "layers": "1-5"}]})",
       "layer_tensors[0]: layers '1-5' outside 0..1"},
      {R"({"architecture": "x", "block_count": 2, "tensors": [{"name": "a.weight", "shape": [4, 4], "type": "Q9"}]})",
       "tensors[0] (a.weight)"},
      {R"({"architecture": "x", "block_count": 2, "tensors": [{"name": "a.weight", "shape": [100, 4], "type": "Q4_K"}]})",
       "tensors[0] (a.weight)"},
      {R"({"architecture": "x", "block_count": 2})", "no tensors"},
  };
  for (const auto& [text, want] : bad) {
    auto r = parse_shapes_json(nlohmann::json::parse(text), "s.json");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.message().find(want), std::string::npos) << r.message();
  }
}

TEST(ApexPlan, ShippedShapeFilesPlan) {
  for (const char* f : {"qwen3.5-35b-a3b.json", "qwen3-30b-a3b.json"}) {
    const auto path = std::filesystem::path(APEX_TEST_DATA_DIR).parent_path().parent_path() / "docs" / "shapes" / f;
    auto m = read_shapes_json(path.string());
    ASSERT_TRUE(m.ok()) << m.message();
    for (const auto& name : builtin_profile_names()) {
      auto profile = builtin_profile(name);
      ASSERT_TRUE(profile.ok());
      auto p = make_plan(m->facts, m->tensors, *profile);
      ASSERT_TRUE(p.ok()) << p.message();
      EXPECT_TRUE(p->other_tensors.empty()) << f;
      EXPECT_TRUE(p->warnings.empty()) << f;
      EXPECT_GT(p->bytes, 5'000'000'000u) << f << " " << name;
    }
  }
}

}  // namespace
}  // namespace apex::plan
