// The tensor-type file of every built-in profile equals, byte for byte, what
// APEX's generate_config.sh prints for the same profile and layer count
// (golden files in tests/data/apex_config, see NOTE.md there).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "plan/profile.h"

namespace apex::plan {
namespace {

namespace fs = std::filesystem;

std::string read_golden(const std::string& file) {
  const fs::path p = fs::path(APEX_TEST_DATA_DIR) / "apex_config" / file;
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing golden file " << p;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TensorTypeFileGolden, EveryProfileAndLayerCountMatchesGenerateConfig) {
  const std::vector<std::string> profiles = {"quality", "i-quality", "balanced", "i-balanced", "compact", "i-compact",
                                             "mini",    "nano",      "i-nano",   "micro",      "i-micro"};
  // Every profile of generate_config.sh ships.
  const auto shipped = builtin_profile_names();
  for (const auto& name : profiles)
    EXPECT_NE(std::find(shipped.begin(), shipped.end(), name), shipped.end()) << name;
  int compared = 0;
  for (const std::string& name : profiles) {
    auto p = builtin_profile(name);
    ASSERT_TRUE(p.ok()) << p.message();
    for (int layers : {24, 40, 48, 94}) {
      SCOPED_TRACE(name + " " + std::to_string(layers));
      const std::string ours = tensor_type_file_text(tensor_type_lines(*p, layers));
      const std::string golden = read_golden(name + "-" + std::to_string(layers) + ".txt");
      ASSERT_FALSE(golden.empty());
      EXPECT_EQ(ours, golden);
      ++compared;
    }
  }
  EXPECT_EQ(compared, 44);
}

TEST(TensorTypeFileGolden, FewerThanTwentyLayersOverlapLikeTheScript) {
  auto mini = builtin_profile("mini");
  ASSERT_TRUE(mini.ok());
  EXPECT_EQ(tensor_type_file_text(tensor_type_lines(*mini, 7)), read_golden("mini-7.txt"));
  auto quality = builtin_profile("quality");
  ASSERT_TRUE(quality.ok());
  EXPECT_EQ(tensor_type_file_text(tensor_type_lines(*quality, 16)), read_golden("quality-16.txt"));
}

TEST(TensorTypeFileGolden, CustomFlagsMatchTheScriptsCustomMode) {
  CustomTypes t;
  t.edge_experts = "Q8_0";
  t.mid_experts = "q4_k";
  t.mid_shared = "Q6_K";
  t.edge_attn = "Q5_K";
  auto p = custom_profile(t);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(tensor_type_file_text(tensor_type_lines(*p, 12)),
            read_golden("custom-edgeQ8_0-midq4_k-midsharedQ6_K-edgeattnQ5_K-12.txt"));
  EXPECT_EQ(p->base->name, std::string("Q6_K"));  // quantize.sh's default base
}

}  // namespace
}  // namespace apex::plan
