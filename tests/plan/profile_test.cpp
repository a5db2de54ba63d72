// Profile files: the built-in tiers, the layer classes, and errors that name
// the line.
#include "plan/profile.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

#include "quant/type_table.h"

namespace apex::plan {
namespace {

TEST(Profile, EveryBuiltinParsesWithTheBaseQuantizeShUses) {
  const std::map<std::string, std::string> base = {
      {"quality", "Q6_K"},    {"i-quality", "Q6_K"}, {"balanced", "Q6_K"}, {"i-balanced", "Q6_K"},
      {"compact", "Q4_K_M"},  {"i-compact", "Q4_K_M"}, {"mini", "Q3_K_M"}, {"nano", "Q6_K"},
      {"i-nano", "Q6_K"},     {"micro", "Q6_K"},     {"i-micro", "Q6_K"}};
  for (const auto& name : builtin_profile_names()) {
    auto p = builtin_profile(name);
    ASSERT_TRUE(p.ok()) << p.message();
    EXPECT_EQ(p->name, name);
    EXPECT_EQ(p->source, "built-in");
    EXPECT_FALSE(p->about.empty());
    if (!base.count(name)) continue;  // a tier beyond the scripts' own
    EXPECT_EQ(p->base->name, base.at(name)) << name;
    EXPECT_EQ(p->imatrix_recommended, name.rfind("i-", 0) == 0 || name == "mini" || name == "nano" || name == "micro")
        << name;
  }
}

TEST(Profile, LayerClassesFollowGenerateConfig) {
  auto p = builtin_profile("quality");
  ASSERT_TRUE(p.ok());
  // 40 layers: edge 0-4 and 35-39, near-edge 5-9 and 30-34, middle 10-29;
  // attention edge 0-2 and 37-39.
  for (int i = 0; i < 40; ++i) {
    const LayerClass want = (i <= 4 || i >= 35) ? LayerClass::kEdge
                            : (i <= 9 || i >= 30) ? LayerClass::kNearEdge
                                                  : LayerClass::kMiddle;
    EXPECT_EQ(p->gradient_class(i, 40), want) << i;
    EXPECT_EQ(p->attention_class(i, 40), (i <= 2 || i >= 37) ? LayerClass::kAttnEdge : LayerClass::kAttnMiddle) << i;
  }
  EXPECT_EQ(p->rule_for(Role::kRoutedExperts, 20, 40)->type, quant::TypeId::IQ4_XS);
  EXPECT_EQ(p->rule_for(Role::kRoutedExperts, 7, 40)->type, quant::TypeId::Q5_K);
  EXPECT_EQ(p->rule_for(Role::kRoutedExperts, 39, 40)->type, quant::TypeId::Q6_K);
  EXPECT_EQ(p->rule_for(Role::kDenseFfn, 3, 40), nullptr);
  // Small models: every layer of a 10-layer model is an edge layer.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(p->gradient_class(i, 10), LayerClass::kEdge);
  EXPECT_EQ(p->gradient_class(7, 15), LayerClass::kNearEdge);
}

TEST(Profile, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* want;
  };
  const Case cases[] = {
      {"base Q6_K\nrouted_experts edge Q6_KK\n", "my.profile:2: unknown type 'Q6_KK'"},
      {"base Q6_K\n\nrouted_expert edge Q6_K\n", "my.profile:3: unknown setting or role 'routed_expert'"},
      {"base Q6_K\nattention edgy Q6_K\n", "my.profile:2: unknown layer class 'edgy'"},
      {"base Q6_K\nrouter all Q8_0\n", "my.profile:2: role 'router' is never quantized"},
      {"base Q6_K\nattention all\n", "my.profile:2: a rule is 'ROLE LAYERS TYPE'"},
      {"# nothing\nbase Q9_K\n", "my.profile:2: base:"},
      {"base COPY\n", "my.profile:1: base: COPY"},
      {"attention all Q6_K\n", "my.profile: no 'base FTYPE' line"},
      {"base Q6_K\nimatrix always\n", "my.profile:2: imatrix: expected"},
      {"base Q6_K\nedge_layers -1\n", "my.profile:2: edge_layers: expected a layer count"},
      {"base Q6_K Q4_K\n", "my.profile:1: 'base' takes 1 value, found 2"},
  };
  for (const Case& c : cases) {
    auto p = parse_profile(c.text, "my.profile");
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_NE(p.message().find(c.want), std::string::npos) << p.message();
    EXPECT_EQ(p.message().find('\n'), std::string::npos) << "one line: " << p.message();
  }
}

TEST(Profile, UserFileWithItsOwnClassesAndComments) {
  const char* text =
      "# my tier\n"
      "about   experts at Q4_K, one near-edge layer\n"
      "base    q4_k_m   # llama-quantize spelling, case-insensitive\n"
      "edge_layers 2\nnear_edge_layers 1\nattn_edge_layers 1\n"
      "routed_experts edge Q6_K\nrouted_experts all Q4_K\n"
      "dense_ffn all Q8_0\n";
  auto p = parse_profile(text, "/tmp/mine.profile");
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->name, "mine");
  EXPECT_EQ(p->about, "experts at Q4_K, one near-edge layer");
  EXPECT_EQ(p->base->name, std::string("Q4_K_M"));
  EXPECT_EQ(p->gradient_class(1, 10), LayerClass::kEdge);
  EXPECT_EQ(p->gradient_class(2, 10), LayerClass::kNearEdge);
  EXPECT_EQ(p->gradient_class(3, 10), LayerClass::kMiddle);
  EXPECT_EQ(p->attention_class(1, 10), LayerClass::kAttnMiddle);
  EXPECT_EQ(p->rule_for(Role::kRoutedExperts, 5, 10)->type, quant::TypeId::Q4_K);
  EXPECT_EQ(p->rule_for(Role::kDenseFfn, 5, 10)->type, quant::TypeId::Q8_0);
}

TEST(Profile, LoadByNameOrPathAndUnknownNamesListTheValidOnes) {
  auto bad = load_profile("qualty");
  ASSERT_FALSE(bad.ok());
  for (const char* n : {"quality", "i-quality", "balanced", "compact", "mini", "nano", "i-micro", "custom"})
    EXPECT_NE(bad.message().find(n), std::string::npos) << bad.message();

  const auto path = std::filesystem::temp_directory_path() / ("apex_profile_test_" + std::to_string(getpid()) + ".profile");
  {
    std::ofstream(path) << "base Q8_0\nrouted_experts all Q4_0\n";
  }
  auto p = load_profile(path.string());
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->source, path.string());
  EXPECT_EQ(p->base->name, std::string("Q8_0"));
  {
    std::ofstream(path) << "base Q8_0\nrouted_experts all Q4_0\nshared_experts all Q4_O\n";
  }
  auto typo = load_profile(path.string());
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.message().find(path.string() + ":3: unknown type 'Q4_O'"), std::string::npos) << typo.message();
  std::filesystem::remove(path);
  EXPECT_FALSE(load_profile("/nonexistent/x.profile").ok());
}

TEST(Profile, CustomNeedsEdgeExperts) {
  auto p = custom_profile({});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("--edge-exp"), std::string::npos);
  CustomTypes t;
  t.edge_experts = "Q9_K";
  auto bad = custom_profile(t);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("Q9_K"), std::string::npos) << bad.message();
}

}  // namespace
}  // namespace apex::plan
