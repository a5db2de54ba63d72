// Unicode facts the tokenizers need: UTF-8 decoding exactly as llama.cpp
// does it (an invalid byte becomes U+FFFD and decoding resumes at the next
// byte), the general-category class of a code point (\p{L}, \p{N}, ...), the
// White_Space set, and GPT-2's byte <-> printable-character map used by
// byte-level BPE vocabularies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace apex::tok {

// One class per general category's first letter; unassigned code points
// (Cn) are kUndefined. Values are those of the generated table.
enum class CharClass : uint8_t {
  kUndefined = 0,
  kNumber = 1,       // N*
  kLetter = 2,       // L*
  kSeparator = 3,    // Z*
  kMark = 4,         // M*
  kPunctuation = 5,  // P*
  kSymbol = 6,       // S*
  kControl = 7,      // Cc, Cf, Co, Cs
};

CharClass char_class(uint32_t cpt);
bool is_whitespace(uint32_t cpt);  // the White_Space property

// Bytes of the UTF-8 sequence a lead byte announces, from its high nibble
// alone (continuation bytes count as 1): how llama.cpp cuts text into
// characters for its merge tokenizers.
inline size_t utf8_len(unsigned char lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// Code points of `text`; a malformed sequence yields U+FFFD for its first
// byte. Overlong forms and surrogates are not rejected (llama.cpp accepts
// them too).
std::vector<uint32_t> decode_utf8(std::string_view text);
void append_utf8(std::string& out, uint32_t cpt);

// GPT-2 byte-level encoding: every byte maps to one printable character.
const std::string& byte_to_unicode(uint8_t byte);
// The byte a mapped character stands for, or -1.
int unicode_to_byte(uint32_t cpt);

namespace detail {
struct ClassRange {
  uint32_t start;  // first code point of the range; it ends where the next begins
  uint8_t cls;     // CharClass
};
extern const ClassRange kClassRanges[];
extern const size_t kClassRangeCount;
extern const uint32_t kWhiteSpace[];
extern const size_t kWhiteSpaceCount;
}  // namespace detail

}  // namespace apex::tok
