// Unit tests of what the exported llama.cpp helper cannot show (it always
// runs without an imatrix and never checks imatrix/requantize/shape limits),
// reasoned from src/llama-quant.cpp; the imatrix mixes are also compared
// with the full llama_model_quantize in llama_rules_full_path_test.cpp.

#include "plan/llama_rules.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "quant/type_table.h"

namespace apex::plan {
namespace {

using quant::TypeId;

// A dense llama-like model: n_layer blocks of attn_q/k/v/output and ffn
// gate/up/down, rows of `n_embd`, ffn_down rows of `n_ff`.
std::vector<TensorDesc> dense_model(int n_layer, int64_t n_embd = 256, int64_t n_ff = 512) {
  std::vector<TensorDesc> t = {{"token_embd.weight", {n_embd, 64}, TypeId::F16},
                               {"output_norm.weight", {n_embd}, TypeId::F32},
                               {"output.weight", {n_embd, 64}, TypeId::F16}};
  for (int il = 0; il < n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up"}) {
      t.push_back({p + n + ".weight", {n_embd, 64}, TypeId::F16});
    }
    t.push_back({p + "ffn_down.weight", {n_ff, n_embd}, TypeId::F16});
    t.push_back({p + "attn_norm.weight", {n_embd}, TypeId::F32});
  }
  std::vector<std::string> names;
  for (const auto& d : t) names.push_back(d.name);
  std::vector<TensorDesc> sorted;
  for (size_t i : llama_tensor_order(names)) sorted.push_back(t[i]);
  return sorted;
}

ModelFacts llama_facts(uint32_t n_layer, uint32_t n_head = 8, uint32_t n_head_kv = 8) {
  ModelFacts f;
  f.arch = "llama";
  f.n_layer = n_layer;
  f.n_head = n_head;
  f.n_head_kv = n_head_kv;
  return f;
}

// Type chosen for each tensor name.
std::map<std::string, TypeId> choose(const ModelFacts& facts, const std::vector<TensorDesc>& t,
                                     const QuantizeOptions& o) {
  auto got = choose_tensor_types(facts, t, o);
  EXPECT_TRUE(got.ok()) << got.message();
  std::map<std::string, TypeId> out;
  if (!got.ok()) return out;
  for (size_t i = 0; i < t.size(); ++i) out[t[i].name] = (*got)[i].type;
  return out;
}

QuantizeOptions opts(Ftype f, bool imatrix) {
  QuantizeOptions o;
  o.ftype = f;
  o.has_imatrix = imatrix;
  return o;
}

// llama_tensor_get_type_impl: the branches that test has_imatrix.
TEST(LlamaRules, ImatrixChangesTheMixesThatDependOnIt) {
  const auto model = dense_model(16);
  const ModelFacts facts = llama_facts(16);  // n_gqa 1; first eighth = layers 0, 1
  struct Case {
    Ftype ftype;
    const char* tensor;
    TypeId without, with;
  };
  const Case cases[] = {
      // attn_v without GQA: IQ3_S without importance data, IQ3_XXS with it.
      {Ftype::IQ3_XXS, "blk.5.attn_v.weight", TypeId::IQ3_S, TypeId::IQ3_XXS},
      // ffn_down: Q4_K/Q3_K without an imatrix, the default with one.
      {Ftype::IQ3_XXS, "blk.1.ffn_down.weight", TypeId::Q4_K, TypeId::IQ3_XXS},
      {Ftype::IQ3_XXS, "blk.2.ffn_down.weight", TypeId::Q3_K, TypeId::IQ3_XXS},
      {Ftype::IQ4_NL, "blk.0.ffn_down.weight", TypeId::Q5_K, TypeId::IQ4_NL},
      {Ftype::IQ4_XS, "blk.1.ffn_down.weight", TypeId::Q5_K, TypeId::IQ4_XS},
      {Ftype::IQ4_XS, "blk.2.ffn_down.weight", TypeId::IQ4_XS, TypeId::IQ4_XS},
      // Q4_0/Q5_0 guard the first ffn_down with the affine type, only with an imatrix.
      {Ftype::Q4_0, "blk.0.ffn_down.weight", TypeId::Q4_0, TypeId::Q4_1},
      {Ftype::Q5_0, "blk.1.ffn_down.weight", TypeId::Q5_0, TypeId::Q5_1},
      {Ftype::Q5_0, "blk.2.ffn_down.weight", TypeId::Q5_0, TypeId::Q5_0},
      // Unaffected mixes stay put.
      {Ftype::Q4_K_M, "blk.0.ffn_down.weight", TypeId::Q6_K, TypeId::Q6_K},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(choose(facts, model, opts(c.ftype, false))[c.tensor], c.without)
        << ftype_name(c.ftype) << " " << c.tensor;
    EXPECT_EQ(choose(facts, model, opts(c.ftype, true))[c.tensor], c.with)
        << ftype_name(c.ftype) << " " << c.tensor << " with imatrix";
  }
  // With GQA >= 4, IQ3_XXS attn_v is Q4_K either way.
  EXPECT_EQ(choose(llama_facts(16, 32, 8), model, opts(Ftype::IQ3_XXS, true))["blk.5.attn_v.weight"],
            TypeId::Q4_K);
}

// tensor_requires_imatrix.
TEST(LlamaRules, RequiresImatrixForLowBitTypesButNotEmbeddingsOrOutput) {
  const auto model = dense_model(8);
  const ModelFacts facts = llama_facts(8);
  auto requires_of = [&](Ftype f) {
    std::map<std::string, std::pair<TypeId, bool>> out;
    auto got = choose_tensor_types(facts, model, opts(f, false));
    EXPECT_TRUE(got.ok());
    for (size_t i = 0; i < model.size(); ++i) {
      out[model[i].name] = {(*got)[i].type, (*got)[i].requires_imatrix};
    }
    return out;
  };
  auto iq2 = requires_of(Ftype::IQ2_XXS);
  EXPECT_EQ(iq2["blk.3.ffn_up.weight"], std::make_pair(TypeId::IQ2_XXS, true));
  EXPECT_EQ(iq2["blk.0.ffn_down.weight"], std::make_pair(TypeId::Q2_K, false));  // Q2_K in IQ2_XXS
  EXPECT_EQ(iq2["output.weight"], std::make_pair(TypeId::Q5_K, false));
  EXPECT_EQ(iq2["output_norm.weight"], std::make_pair(TypeId::F32, false));

  auto q2ks = requires_of(Ftype::Q2_K_S);
  EXPECT_EQ(q2ks["blk.3.ffn_up.weight"], std::make_pair(TypeId::Q2_K, true));
  EXPECT_EQ(q2ks["blk.0.ffn_down.weight"], std::make_pair(TypeId::Q4_K, false));
  auto q2k = requires_of(Ftype::Q2_K);
  EXPECT_EQ(q2k["blk.3.ffn_up.weight"], std::make_pair(TypeId::Q2_K, false));

  // token_embd never requires one, even when its type would.
  QuantizeOptions o = opts(Ftype::Q4_K_M, false);
  o.token_embedding_type = TypeId::IQ2_XXS;
  auto got = choose_tensor_types(facts, model, o);
  ASSERT_TRUE(got.ok());
  for (size_t i = 0; i < model.size(); ++i) {
    if (model[i].name == "token_embd.weight") {
      EXPECT_EQ((*got)[i].type, TypeId::IQ2_XXS);
      EXPECT_FALSE((*got)[i].requires_imatrix);
      EXPECT_EQ((*got)[i].source, ChoiceSource::kTokenEmbeddingType);
    }
  }
}

TEST(LlamaRules, ChecksRefuseWhatLlamaCppRefuses) {
  const ModelFacts facts = llama_facts(8);
  auto check = [&](const std::vector<TensorDesc>& t, const QuantizeOptions& o) {
    auto got = choose_tensor_types(facts, t, o);
    EXPECT_TRUE(got.ok()) << got.message();
    return check_choices(t, *got, o);
  };
  const auto model = dense_model(8);

  // Low-bit mixes need an imatrix; the error names the first tensor in order.
  const Status no_imatrix = check(model, opts(Ftype::IQ2_XS, false));
  ASSERT_FALSE(no_imatrix.ok());
  EXPECT_NE(no_imatrix.message().find("'blk.0.attn_k.weight'"), std::string::npos)
      << no_imatrix.message();
  EXPECT_TRUE(check(model, opts(Ftype::IQ2_XS, true)).ok());
  EXPECT_TRUE(check(model, opts(Ftype::Q4_K_M, false)).ok());

  // An eligible tensor already in a type that needs an imatrix still needs
  // one (llama.cpp checks before comparing types); an ineligible one not.
  std::vector<TensorDesc> pre = model;
  pre.push_back({"blk.7.ffn_up_exps.weight", {256, 8, 4}, TypeId::IQ2_XXS});
  pre.push_back({"blk.7.ffn_gate_inp.weight", {256, 4}, TypeId::IQ2_XXS});
  QuantizeOptions iq2xxs = opts(Ftype::IQ2_XXS, false);
  iq2xxs.pure = true;
  iq2xxs.allow_requantize = true;
  ASSERT_TRUE(iq2xxs.overrides.add("blk\\.[0-6]\\.=q8_0").ok());
  ASSERT_TRUE(iq2xxs.overrides.add("blk\\.7\\.(attn|ffn_(up|gate|down)\\.)=q8_0").ok());
  const Status pre_quantized = check(pre, iq2xxs);
  ASSERT_FALSE(pre_quantized.ok());
  EXPECT_NE(pre_quantized.message().find("ffn_up_exps"), std::string::npos)
      << pre_quantized.message();

  // Requantizing needs --allow-requantize; an unchanged quantized tensor is copied.
  std::vector<TensorDesc> q8 = dense_model(2);
  for (auto& d : q8) {
    if (d.name == "blk.1.ffn_up.weight") d.type = TypeId::Q8_0;
  }
  const Status requant = check(q8, opts(Ftype::Q4_K_M, false));
  ASSERT_FALSE(requant.ok());
  EXPECT_NE(requant.message().find("requantizing from type Q8_0"), std::string::npos)
      << requant.message();
  QuantizeOptions allow = opts(Ftype::Q4_K_M, false);
  allow.allow_requantize = true;
  EXPECT_TRUE(check(q8, allow).ok());
  EXPECT_TRUE(check(q8, opts(Ftype::Q8_0, false)).ok());

  // Explicit types skip the fallback: llama.cpp would abort on the row size.
  const auto narrow = dense_model(2, 96, 96);
  QuantizeOptions tok = opts(Ftype::Q8_0, false);
  tok.token_embedding_type = TypeId::Q4_K;
  auto got = choose_tensor_types(facts, narrow, tok);
  ASSERT_TRUE(got.ok());
  const Status rows = check_choices(narrow, *got, tok);
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.message().find("'token_embd.weight'"), std::string::npos) << rows.message();

  // Integer tensors cannot be converted.
  std::vector<TensorDesc> ints = dense_model(1);
  ints.push_back({"blk.0.lookup.weight", {256, 4}, TypeId::I32});
  const Status conv = check(ints, opts(Ftype::Q8_0, false));
  ASSERT_FALSE(conv.ok());
  EXPECT_NE(conv.message().find("cannot convert type I32"), std::string::npos) << conv.message();
}

TEST(LlamaRules, FallbackRecordsTheTypeItReplaced) {
  const auto model = dense_model(8, 96, 40);  // rows of 96 (32-blocks), ffn_down rows of 40
  auto got = choose_tensor_types(llama_facts(8), model, opts(Ftype::Q4_K_S, false));
  ASSERT_TRUE(got.ok());
  for (size_t i = 0; i < model.size(); ++i) {
    const TensorChoice& c = (*got)[i];
    if (model[i].name == "blk.3.attn_q.weight") {
      EXPECT_TRUE(c.fell_back);
      EXPECT_EQ(c.fallback_from, TypeId::Q4_K);
      EXPECT_EQ(c.type, TypeId::Q5_0);
    }
    if (model[i].name == "blk.0.ffn_down.weight") {  // Q5_K -> Q5_1 -> F16 (40 % 32)
      EXPECT_EQ(c.fallback_from, TypeId::Q5_K);
      EXPECT_EQ(c.type, TypeId::F16);
    }
    if (model[i].name == "output.weight") {  // 96 % 256: Q8_0 without falling back
      EXPECT_FALSE(c.fell_back);
      EXPECT_EQ(c.type, TypeId::Q8_0);
    }
  }
  // No fallback exists for Q1_0 (blocks of 128): llama.cpp gives up.
  auto q1 = choose_tensor_types(llama_facts(8), model, opts(Ftype::Q1_0, false));
  ASSERT_FALSE(q1.ok());
  EXPECT_NE(q1.message().find("Q1_0"), std::string::npos) << q1.message();
}

TEST(LlamaRules, RejectsFtypesWithoutDefaultTypeAndEmptyModels) {
  const auto model = dense_model(1);
  auto nv = choose_tensor_types(llama_facts(1), model, opts(Ftype::NVFP4, false));
  ASSERT_FALSE(nv.ok());
  EXPECT_NE(nv.message().find("NVFP4"), std::string::npos);
  EXPECT_FALSE(choose_tensor_types(llama_facts(0), model, opts(Ftype::Q8_0, false)).ok());
}

// layer_of must read exactly what glibc's sscanf("blk.%d.") reads, which is
// what libllama calls at run time.
TEST(LlamaRules, LayerOfReadsLikeSscanf) {
  const char* names[] = {"blk.0.attn_v.weight", "blk.17.x", "blk.017.x", "blk.+5.x",
                         "blk.-3.x", "blk. 4.x", "blk.\t\n7.x", "blk.", "blk.x", "blk.-",
                         "blk.+", "xblk.1.x", "Blk.1.x", "blk.2", "blk.4294967298.x",
                         "blk.99999999999.x", "blk.99999999999999999999.x",
                         "blk.-99999999999999999999.x", "blk.2147483648.x", "token_embd.weight"};
  for (const char* name : names) {
    int layer = -1;
    const bool read = std::sscanf(name, "blk.%d.", &layer) == 1;
    const std::optional<int> ours = layer_of(name);
    EXPECT_EQ(ours.has_value(), read) << name;
    if (ours && read) {
      EXPECT_EQ(*ours, layer) << name;
    }
  }
}

TEST(LlamaRules, OrderSortsByLayerThenName) {
  const std::vector<std::string> names = {"blk.10.a", "blk.9.b", "output.weight", "blk.9.a",
                                          "token_embd.weight", "blk.x.y", "Z"};
  std::vector<std::string> sorted;
  for (size_t i : llama_tensor_order(names)) sorted.push_back(names[i]);
  const std::vector<std::string> expected = {"Z", "blk.x.y", "output.weight", "token_embd.weight",
                                             "blk.9.a", "blk.9.b", "blk.10.a"};
  EXPECT_EQ(sorted, expected);
}

TEST(LlamaRules, Categories) {
  const std::pair<const char*, TensorCategory> cases[] = {
      {"token_embd.weight", TensorCategory::kTokenEmbd},
      {"per_layer_token_embd.weight", TensorCategory::kTokenEmbd},
      {"blk.0.token_embd.weight", TensorCategory::kOther},
      {"output.weight", TensorCategory::kOutput},
      {"blk.0.attn_output.weight", TensorCategory::kAttnOutput},
      {"blk.0.attn_qkv.weight", TensorCategory::kAttnQkv},
      {"blk.0.attn_kv_b.weight", TensorCategory::kAttnKvB},
      {"blk.0.attn_v.weight", TensorCategory::kAttnV},
      {"blk.0.attn_v_b.weight", TensorCategory::kOther},
      {"blk.0.attn_k.weight", TensorCategory::kAttnK},
      {"blk.0.attn_q.weight", TensorCategory::kAttnQ},
      {"blk.0.attn_q_b.weight", TensorCategory::kOther},
      {"blk.0.ffn_up_exps.weight", TensorCategory::kFfnUp},
      {"blk.0.ffn_gate_up_exps.weight", TensorCategory::kFfnGate},
      {"blk.0.ffn_gate_shexp.weight", TensorCategory::kFfnGate},
      {"blk.0.ffn_down_shexp.weight", TensorCategory::kFfnDown},
      {"blk.0.ssm_out.weight", TensorCategory::kOther},
  };
  for (const auto& [name, cat] : cases) {
    EXPECT_EQ(tensor_category(name), cat) << name << " is " << category_name(tensor_category(name));
  }
}

using Meta = std::map<std::string, gguf::Value, std::less<>>;

Result<ModelFacts> facts_from(const Meta& m) {
  return model_facts_from_metadata([&](std::string_view key) -> const gguf::Value* {
    auto it = m.find(key);
    return it == m.end() ? nullptr : &it->second;
  });
}

gguf::Value int32_array(std::vector<int32_t> v) {
  gguf::Array a;
  a.elem_type = gguf::ValueType::INT32;
  for (int32_t x : v) a.elems.emplace_back(x);
  return gguf::Value(std::move(a));
}

TEST(LlamaRules, ModelFactsFromMetadata) {
  Meta m = {{"general.architecture", gguf::Value(std::string("qwen3moe"))},
            {"qwen3moe.block_count", gguf::Value(uint32_t{48})},
            {"qwen3moe.expert_count", gguf::Value(uint32_t{128})},
            {"qwen3moe.attention.head_count", gguf::Value(uint32_t{32})},
            {"qwen3moe.attention.head_count_kv", gguf::Value(uint32_t{4})},
            {"qwen3moe.embedding_length", gguf::Value(uint64_t{2048})},
            {"qwen3moe.feed_forward_length", gguf::Value(int32_t{6144})}};
  auto f = facts_from(m);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->arch, "qwen3moe");
  EXPECT_EQ(f->n_layer, 48u);
  EXPECT_EQ(f->n_expert, 128u);
  EXPECT_EQ(f->n_gqa(), 8u);
  EXPECT_EQ(f->n_embd, 2048u);
  EXPECT_EQ(f->n_ff, 6144u);
  EXPECT_FALSE(f->is_70b);

  // KV heads default to the query heads; per-layer arrays give layer 0.
  m.erase("qwen3moe.attention.head_count_kv");
  m["qwen3moe.attention.head_count"] = int32_array({16, 32, 32});
  f = facts_from(m);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->n_head, 16u);
  EXPECT_EQ(f->n_head_kv, 16u);
  m["qwen3moe.attention.head_count_kv"] = int32_array({0, 4, 4});
  EXPECT_EQ(facts_from(m)->n_gqa(), 0u);  // no KV heads in layer 0

  // 70B: llama with 80 blocks (next-token blocks not counted) and GQA.
  Meta llama = {{"general.architecture", gguf::Value(std::string("llama"))},
                {"llama.block_count", gguf::Value(uint32_t{81})},
                {"llama.nextn_predict_layers", gguf::Value(uint32_t{1})},
                {"llama.attention.head_count", gguf::Value(uint32_t{64})},
                {"llama.attention.head_count_kv", gguf::Value(uint32_t{8})}};
  EXPECT_TRUE(facts_from(llama)->is_70b);
  llama["llama.expert_count"] = gguf::Value(uint32_t{8});
  EXPECT_FALSE(facts_from(llama)->is_70b);

  // Bad input names the key.
  auto expect_error = [](const Meta& bad, const char* text) {
    auto r = facts_from(bad);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.message().find(text), std::string::npos) << r.message();
  };
  Meta no_arch = m;
  no_arch.erase("general.architecture");
  expect_error(no_arch, "general.architecture");
  Meta no_blocks = m;
  no_blocks.erase("qwen3moe.block_count");
  expect_error(no_blocks, "qwen3moe.block_count");
  Meta zero = m;
  zero["qwen3moe.block_count"] = gguf::Value(uint32_t{0});
  expect_error(zero, "block_count = 0");
  Meta huge = m;
  huge["qwen3moe.block_count"] = gguf::Value(uint32_t{513});
  expect_error(huge, "block_count = 513");
  Meta text = m;
  text["qwen3moe.expert_count"] = gguf::Value(std::string("8"));
  expect_error(text, "qwen3moe.expert_count");
  Meta negative = m;
  negative["qwen3moe.expert_count"] = gguf::Value(int32_t{-1});
  expect_error(negative, "qwen3moe.expert_count");
  Meta nextn = m;
  nextn["qwen3moe.nextn_predict_layers"] = gguf::Value(uint32_t{49});
  expect_error(nextn, "nextn_predict_layers");
}

TEST(LlamaRules, ChoiceSourcesSayWhoDecided) {
  const auto model = dense_model(2);
  QuantizeOptions o = opts(Ftype::Q4_K_M, false);
  o.output_tensor_type = TypeId::Q8_0;
  ASSERT_TRUE(o.overrides.add("blk\\.1\\.ffn_up=q5_0").ok());
  auto got = choose_tensor_types(llama_facts(2), model, o);
  ASSERT_TRUE(got.ok());
  std::map<std::string, ChoiceSource> src;
  for (size_t i = 0; i < model.size(); ++i) src[model[i].name] = (*got)[i].source;
  EXPECT_EQ(src["output.weight"], ChoiceSource::kOutputTensorType);
  EXPECT_EQ(src["blk.1.ffn_up.weight"], ChoiceSource::kOverride);
  EXPECT_EQ(src["blk.0.ffn_up.weight"], ChoiceSource::kMixture);
  EXPECT_EQ(src["output_norm.weight"], ChoiceSource::kNotQuantized);
  o.ftype = Ftype::F16;  // unquantized ftypes ignore patterns
  got = choose_tensor_types(llama_facts(2), model, o);
  ASSERT_TRUE(got.ok());
  for (size_t i = 0; i < model.size(); ++i) {
    if (model[i].name == "blk.1.ffn_up.weight") {
      EXPECT_EQ((*got)[i].source, ChoiceSource::kDefault);
      EXPECT_EQ((*got)[i].type, TypeId::F16);
    }
  }
}

}  // namespace
}  // namespace apex::plan
