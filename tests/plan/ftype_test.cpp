#include "plan/ftype.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "oracle/oracle.h"
#include "quant/type_table.h"

namespace apex::plan {
namespace {

constexpr int32_t kNoType = 43;  // GGML_TYPE_COUNT

// Each ftype's default type is llama_ftype_get_default_type's, and every
// value llama.cpp has no default type for is one apex does not offer either.
TEST(Ftype, DefaultTypesMatchLlamaCpp) {
  int offered = 0;
  for (int32_t v = 0; v < 64; ++v) {
    const int32_t want = oracle::ftype_default_type(v);
    const FtypeInfo* f = find_ftype(v);
    if (want == kNoType) {
      EXPECT_EQ(f, nullptr) << "ftype " << v << " has no default type in llama.cpp";
      continue;
    }
    ASSERT_NE(f, nullptr) << "llama.cpp has a default type for ftype " << v;
    EXPECT_EQ(static_cast<int32_t>(f->default_type), want) << f->name;
    ++offered;
  }
  EXPECT_EQ(offered, 35);
  EXPECT_EQ(oracle::ftype_default_type(static_cast<int32_t>(Ftype::NVFP4)), kNoType);
  EXPECT_EQ(ftype_name(Ftype::NVFP4), "NVFP4");
}

// llama-quantize's names and llama.h's values (ORACLE.md lists them).
TEST(Ftype, NamesAndValuesAreLlamaQuantizes) {
  const std::pair<const char*, int32_t> expected[] = {
      {"F32", 0},      {"F16", 1},      {"Q4_0", 2},     {"Q4_1", 3},      {"Q8_0", 7},
      {"Q5_0", 8},     {"Q5_1", 9},     {"Q2_K", 10},    {"Q3_K_S", 11},   {"Q3_K_M", 12},
      {"Q3_K_L", 13},  {"Q4_K_S", 14},  {"Q4_K_M", 15},  {"Q5_K_S", 16},   {"Q5_K_M", 17},
      {"Q6_K", 18},    {"IQ2_XXS", 19}, {"IQ2_XS", 20},  {"Q2_K_S", 21},   {"IQ3_XS", 22},
      {"IQ3_XXS", 23}, {"IQ1_S", 24},   {"IQ4_NL", 25},  {"IQ3_S", 26},    {"IQ3_M", 27},
      {"IQ2_S", 28},   {"IQ2_M", 29},   {"IQ4_XS", 30},  {"IQ1_M", 31},    {"BF16", 32},
      {"TQ1_0", 36},   {"TQ2_0", 37},   {"MXFP4_MOE", 38}, {"Q1_0", 40},   {"Q2_0", 41},
      {"Q3_K", 12},    {"Q4_K", 15},    {"Q5_K", 17},    {"COPY", 0},
  };
  std::set<std::string> names;
  for (const FtypeInfo& f : all_ftypes()) names.insert(f.name);
  EXPECT_EQ(names.size(), std::size(expected));
  for (const auto& [name, value] : expected) {
    auto f = parse_ftype(name);
    ASSERT_TRUE(f.ok()) << f.message();
    EXPECT_STREQ((*f)->name, name);
    EXPECT_EQ(static_cast<int32_t>((*f)->ftype), value) << name;
  }
}

TEST(Ftype, ParsingIsCaseInsensitiveAndTakesNumbers) {
  EXPECT_STREQ((*parse_ftype("q4_k_m"))->name, "Q4_K_M");
  EXPECT_STREQ((*parse_ftype("Iq2_Xxs"))->name, "IQ2_XXS");
  EXPECT_STREQ((*parse_ftype("mxfp4_moe"))->name, "MXFP4_MOE");
  // Aliases name the _M mix.
  const FtypeInfo* q4k = *parse_ftype("q4_k");
  EXPECT_TRUE(q4k->is_alias);
  EXPECT_EQ(q4k->ftype, Ftype::Q4_K_M);
  // COPY is F32-valued but copies.
  const FtypeInfo* copy = *parse_ftype("copy");
  EXPECT_TRUE(copy->only_copy);
  EXPECT_EQ(copy->ftype, Ftype::F32);
  // Numbers give the canonical row: 0 is F32, never COPY; 12 is Q3_K_M.
  EXPECT_STREQ((*parse_ftype("0"))->name, "F32");
  EXPECT_FALSE((*parse_ftype("0"))->only_copy);
  EXPECT_STREQ((*parse_ftype("12"))->name, "Q3_K_M");
  EXPECT_STREQ((*parse_ftype("38"))->name, "MXFP4_MOE");
}

TEST(Ftype, BadNamesListTheValidOnes) {
  for (const char* bad : {"", "Q4_K_X", "q4", "39", "4", "15x", "-1", "Q4_K_M "}) {
    auto f = parse_ftype(bad);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_NE(f.message().find(std::string("'") + bad + "'"), std::string::npos) << f.message();
    EXPECT_NE(f.message().find("Q4_K_M"), std::string::npos) << f.message();
    EXPECT_NE(f.message().find("COPY"), std::string::npos) << f.message();
  }
}

TEST(Ftype, CanonicalRowsAreUniqueAndAliasesPointAtThem) {
  std::set<int32_t> seen;
  for (const FtypeInfo& f : all_ftypes()) {
    if (f.is_alias) {
      const FtypeInfo* canonical = find_ftype(f.ftype);
      ASSERT_NE(canonical, nullptr) << f.name;
      EXPECT_EQ(canonical->default_type, f.default_type) << f.name;
      continue;
    }
    EXPECT_TRUE(seen.insert(static_cast<int32_t>(f.ftype)).second) << f.name;
    EXPECT_EQ(find_ftype(f.ftype), &f);
    EXPECT_EQ(ftype_name(f.ftype), f.name);
    EXPECT_NE(std::string(f.description), "");
  }
}

}  // namespace
}  // namespace apex::plan
