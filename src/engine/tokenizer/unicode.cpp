#include "engine/tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace apex::tok {
namespace {

constexpr uint32_t kMaxCpt = 0x110000;
constexpr uint32_t kReplacement = 0xFFFD;

// The range table expanded to one byte per code point (1.1 MB, built once):
// the regex matcher asks for the class of every character it looks at.
struct ClassTable {
  std::vector<uint8_t> cls;
  ClassTable() : cls(kMaxCpt, 0) {
    for (size_t i = 0; i < detail::kClassRangeCount; ++i) {
      const uint32_t begin = detail::kClassRanges[i].start;
      const uint32_t end = i + 1 < detail::kClassRangeCount ? detail::kClassRanges[i + 1].start : kMaxCpt;
      std::fill(cls.begin() + begin, cls.begin() + end, detail::kClassRanges[i].cls);
    }
  }
};

const ClassTable& class_table() {
  static const ClassTable table;
  return table;
}

struct ByteMap {
  std::array<std::string, 256> to_unicode;
  std::vector<int16_t> from_unicode;  // indexed by code point < 512
  ByteMap() : from_unicode(512, -1) {
    // Printable Latin-1 bytes stand for themselves; the others (controls,
    // space, DEL, NBSP, soft hyphen) are moved to U+0100.. in byte order.
    auto printable = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cpt = printable(b) ? static_cast<uint32_t>(b) : next++;
      append_utf8(to_unicode[b], cpt);
      from_unicode[cpt] = static_cast<int16_t>(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

CharClass char_class(uint32_t cpt) {
  if (cpt >= kMaxCpt) return CharClass::kUndefined;
  return static_cast<CharClass>(class_table().cls[cpt]);
}

bool is_whitespace(uint32_t cpt) {
  const uint32_t* end = detail::kWhiteSpace + detail::kWhiteSpaceCount;
  return std::binary_search(detail::kWhiteSpace, end, cpt);
}

std::vector<uint32_t> decode_utf8(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  const size_t n = text.size();
  auto cont = [&](size_t i) { return i < n && (static_cast<uint8_t>(text[i]) & 0xC0) == 0x80; };
  size_t i = 0;
  while (i < n) {
    const uint8_t b0 = static_cast<uint8_t>(text[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      i += 1;
    } else if (b0 < 0xC0) {
      out.push_back(kReplacement);
      i += 1;
    } else if (b0 < 0xE0) {
      if (!cont(i + 1)) {
        out.push_back(kReplacement);
        i += 1;
        continue;
      }
      out.push_back(((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(text[i + 1]) & 0x3Fu));
      i += 2;
    } else if (b0 < 0xF0) {
      if (!cont(i + 1) || !cont(i + 2)) {
        out.push_back(kReplacement);
        i += 1;
        continue;
      }
      out.push_back(((b0 & 0x0Fu) << 12) | ((static_cast<uint8_t>(text[i + 1]) & 0x3Fu) << 6) |
                    (static_cast<uint8_t>(text[i + 2]) & 0x3Fu));
      i += 3;
    } else if (b0 < 0xF8) {
      if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) {
        out.push_back(kReplacement);
        i += 1;
        continue;
      }
      const uint32_t cpt = ((b0 & 0x07u) << 18) | ((static_cast<uint8_t>(text[i + 1]) & 0x3Fu) << 12) |
                           ((static_cast<uint8_t>(text[i + 2]) & 0x3Fu) << 6) |
                           (static_cast<uint8_t>(text[i + 3]) & 0x3Fu);
      // Beyond U+10FFFF there is no UTF-8 form to re-encode it as.
      out.push_back(cpt < kMaxCpt ? cpt : kReplacement);
      i += 4;
    } else {
      out.push_back(kReplacement);
      i += 1;
    }
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt <= 0x7F) {
    out.push_back(static_cast<char>(cpt));
  } else if (cpt <= 0x7FF) {
    out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt <= 0xFFFF) {
    out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | ((cpt >> 18) & 0x07)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  }
}

const std::string& byte_to_unicode(uint8_t byte) { return byte_map().to_unicode[byte]; }

int unicode_to_byte(uint32_t cpt) {
  const auto& m = byte_map().from_unicode;
  return cpt < m.size() ? m[cpt] : -1;
}

}  // namespace apex::tok
