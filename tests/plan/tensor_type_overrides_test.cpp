#include "plan/tensor_type_overrides.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "oracle/oracle.h"
#include "quant/type_table.h"

namespace apex::plan {
namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// llama-quantize resolves the type by comparing with ggml_type_name of every
// type, ignoring case: each name the oracle has must give its own id.
TEST(TensorTypeOverrides, EveryGgmlTypeNameParses) {
  int checked = 0;
  for (int32_t id = 0; id < 43; ++id) {
    const oracle::GgmlTypeTraits* t = oracle::type_traits(id);
    const std::string name = t->type_name;
    if (quant::find_type(id) == nullptr) {
      // Retired ids ("DEPRECATED", "TYPE_Q4_0_4_4 REMOVED, ..."): llama-quantize
      // would take the placeholder name and then crash; apex refuses it.
      EXPECT_FALSE(parse_tensor_type_override("attn_v=" + name).ok()) << name;
      continue;
    }
    for (const std::string& spelled : {name, upper(name)}) {
      auto o = parse_tensor_type_override("attn_v=" + spelled);
      ASSERT_TRUE(o.ok()) << o.message();
      EXPECT_EQ(static_cast<int32_t>(o->type), id) << spelled;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 35);
}

TEST(TensorTypeOverrides, PatternIsLowerCasedAndSearched) {
  TensorTypeOverrides o;
  ASSERT_TRUE(o.add("ATTN_V=Q8_0").ok());
  ASSERT_TRUE(o.add("^output=f16").ok());
  ASSERT_TRUE(o.add("blk\\.[0-3]\\.=iq4_nl").ok());
  ASSERT_TRUE(o.add("ffn=q4_K").ok());
  EXPECT_EQ(o.items()[0].pattern, "attn_v");
  ASSERT_EQ(o.size(), 4u);
  auto type_of = [&](const char* name) {
    const quant::TypeId* t = o.match(name);
    return t == nullptr ? std::string("none") : std::string(quant::type_name(*t));
  };
  EXPECT_EQ(type_of("blk.7.attn_v.weight"), "Q8_0");   // found anywhere in the name
  EXPECT_EQ(type_of("blk.2.attn_v.weight"), "Q8_0");   // first match wins
  EXPECT_EQ(type_of("blk.2.attn_q.weight"), "IQ4_NL");
  EXPECT_EQ(type_of("output.weight"), "F16");
  EXPECT_EQ(type_of("blk.9.attn_output.weight"), "none");  // anchored pattern
  EXPECT_EQ(type_of("blk.9.ffn_up_exps.weight"), "Q4_K");
  EXPECT_EQ(type_of("BLK.9.FFN_UP.weight"), "none");  // names are not lower-cased
  EXPECT_EQ(type_of("token_embd.weight"), "none");
}

TEST(TensorTypeOverrides, MalformedItemsNameTheText) {
  struct Case {
    const char* item;
    const char* expect;
  };
  const Case cases[] = {
      {"attn_v", "expected PATTERN=TYPE"},
      {"=q4_0", "missing tensor name"},
      {"attn_v=", "missing quantization type"},
      {"attn_v=q9_9", "unknown type 'q9_9'"},
      {"attn_v=q4_0=x", "unknown type 'q4_0=x'"},   // the type is everything after the first '='
      {"attn_v=deprecated", "unknown type"},
      {"attn_v(=q4_0", "not a valid regular expression"},
  };
  for (const Case& c : cases) {
    auto o = parse_tensor_type_override(c.item);
    ASSERT_FALSE(o.ok()) << c.item;
    EXPECT_NE(o.message().find(std::string("'") + c.item + "'"), std::string::npos)
        << o.message();
    EXPECT_NE(o.message().find(c.expect), std::string::npos) << o.message();
  }
  auto o = parse_tensor_type_override("attn_v=q9_9");
  EXPECT_NE(o.message().find(quant::type_name_list()), std::string::npos) << o.message();
  // Regex syntax is fine in the pattern.
  EXPECT_TRUE(parse_tensor_type_override("a|b=q8_0").ok());
}

TEST(TensorTypeOverrides, TextAndFileItemsAreWhitespaceSeparated) {
  TensorTypeOverrides o;
  ASSERT_TRUE(o.add_text("  attn_v=q8_0\n\tffn_down=Q6_K\r\n\v\fattn_k=q5_0 ", "list").ok());
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o.items()[1].type, quant::TypeId::Q6_K);
  EXPECT_TRUE(o.add_text("", "empty").ok());
  EXPECT_EQ(o.size(), 3u);

  const Status bad = o.add_text("attn_v=q8_0\nffn_up", "types.txt");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("types.txt: item 2"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("'ffn_up'"), std::string::npos) << bad.message();

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("apex_tt_" + std::to_string(::getpid()) + ".txt"))
                               .string();
  {
    std::ofstream f(path);
    f << "blk\\.0\\.=f16 exps=IQ4_XS\n";
  }
  TensorTypeOverrides from_file;
  const Status st = from_file.add_file(path);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(from_file.size(), 2u);
  EXPECT_EQ(from_file.items()[1].type, quant::TypeId::IQ4_XS);
  std::remove(path.c_str());

  const Status missing = from_file.add_file(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find(path), std::string::npos) << missing.message();
}

}  // namespace
}  // namespace apex::plan
