// Shared pieces of the tokenizer tests: test texts and an oracle comparison
// that reports the first differing token.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "oracle/oracle.h"

namespace apex::tok::testing {

inline std::string shared_path(const std::string& rel) { return std::string(APEX_SHARED_DIR) + "/" + rel; }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Unicode (CJK, emoji with ZWJ and variation selectors, combining marks,
// Cyrillic, Greek, Arabic, Devanagari, non-ASCII spaces), digit runs,
// whitespace runs with tabs, CR and newlines, contractions, code, invalid
// UTF-8. The vocabulary's special-token texts are appended by the tests.
inline std::string stress_text() {
  return std::string(
      "Hello world! It's a test. I'M sure you'LL see, we'Ve they'd 'tis.\n"
      "\n\n   leading spaces and trailing   \n\t\ttabs\tand\t\tmore\r\n\r\nCRLF lines\r\n"
      "digits: 0 1 12 123 1234 12345 123456 1234567 3.14159 1,000,000 2024-01-31 0x1F 1e-9\n"
      "CJK: 我想在apple工作1314151天～ 日本語のテキスト、カタカナ。 한국어 텍스트\n"
      "emoji: 🚀 😶\u200d🌫️ ✅ 🦙🦙 👩🏽\u200d💻 🇩🇪 ❤️\n"
      "marks: e\u0301 a\u0308 n\u0303 Zalgo: Z\u0351\u0364a\u0310l\u0352g\u036Fo\u0334 \u0915\u094D\u0937 "
      "\u0645\u0631\u062D\u0628\u0627\n"
      "Greek: \u0391\u03B8\u03AE\u03BD\u03B1 Cyrillic: \u043D\u0435\u0449\u043E \u043D\u0430 "
      "\u0411\u044A\u043B\u0433\u0430\u0440\u0441\u043A\u0438\n"
      "spaces:\u00A0nbsp\u2003em\u3000ideographic\u2028line\u0085nel\n"
      "punct: ''''''```````\"\"\"\"......!!!!!!?????? ------======= (a) [b] {c} <d> @e #f $g %h ^i &j *k\n"
      "code:\n"
      "def fib(n: int) -> int:\n"
      "    if n < 2:\n"
      "        return n\n"
      "    return fib(n - 1) + fib(n - 2)  # recursion\n"
      "\n"
      "int main(void) { printf(\"%d\\n\", x->y[3] >>= 2); return 0; }\n"
      "    \t  \n"
      "CamelCaseIdentifier snake_case_name HTTPServerError URL's IPv6 x86_64\n"
      "invalid utf8: \xff\xfe \xc3\x28 \xe2\x82 \xf0\x9f\x98 end\n"
      "trailing whitespace   ");
}

// Compares our ids with llama_tokenize's for one flag combination.
inline void expect_same_tokens(const Tokenizer& tok, const std::string& model, const std::string& text,
                               bool add_special, bool parse_special, const std::string& label) {
  std::vector<int32_t> want;
  ASSERT_TRUE(oracle::tokenize(model, text, add_special, parse_special, want)) << label;
  const std::vector<int32_t> got = tok.tokenize(text, add_special, parse_special);
  if (got == want) return;
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  auto show = [&](const std::vector<int32_t>& ids) {
    std::string s;
    for (size_t k = i >= 3 ? i - 3 : 0; k < std::min(ids.size(), i + 5); ++k) {
      s += std::to_string(ids[k]) + "'" + tok.token_to_piece(ids[k]) + "' ";
    }
    return s;
  };
  ADD_FAILURE() << label << " (add_special " << add_special << ", parse_special " << parse_special
                << "): " << got.size() << " tokens vs oracle " << want.size() << ", first difference at "
                << i << "\n  apex:   " << show(got) << "\n  oracle: " << show(want);
}

}  // namespace apex::tok::testing
