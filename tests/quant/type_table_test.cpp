// The type table agrees with the oracle's ggml_type_traits for every type,
// and generic lookups behave.
#include <gtest/gtest.h>
#include <strings.h>

#include "oracle/oracle.h"
#include "quant/type_table.h"

namespace apex::quant {
namespace {

TEST(TypeTable, MatchesOracleTraitsForEveryType) {
  ASSERT_TRUE(oracle::available()) << "oracle libraries missing in " << oracle::library_dir();
  for (const TypeTraits& t : all_types()) {
    const oracle::GgmlTypeTraits* o = oracle::type_traits(static_cast<int>(t.id));
    ASSERT_NE(o, nullptr) << t.name;
    EXPECT_TRUE(strcasecmp(o->type_name, t.name) == 0) << o->type_name << " vs " << t.name;
    EXPECT_EQ(o->blck_size, t.block_size) << t.name;
    EXPECT_EQ(o->type_size, t.block_bytes) << t.name;
    EXPECT_EQ(o->is_quantized, t.is_quantized) << t.name;
    EXPECT_EQ(oracle::quantize_requires_imatrix(static_cast<int>(t.id)), t.needs_imatrix) << t.name;
  }
}

TEST(TypeTable, NamesRoundTripCaseInsensitively) {
  for (const TypeTraits& t : all_types()) {
    auto parsed = parse_type_name(t.name);
    ASSERT_TRUE(parsed.ok()) << t.name;
    EXPECT_EQ(*parsed, t.id);
  }
  EXPECT_EQ(*parse_type_name("q4_k"), TypeId::Q4_K);
  auto bad = parse_type_name("Q4_Z");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("Q4_Z"), std::string::npos);
  EXPECT_NE(bad.message().find("IQ2_XXS"), std::string::npos);  // lists valid names
}

TEST(TypeTable, RetiredIdsAreUnknown) {
  for (int id : {4, 5, 31, 32, 33, 36, 37, 38, 43, -1, 1000}) {
    EXPECT_EQ(find_type(id), nullptr) << id;
  }
}

}  // namespace
}  // namespace apex::quant
