// A small backtracking regex engine over code points, for the pre-tokenizer
// patterns of byte-level BPE vocabularies (llama.cpp's src/llama-vocab.cpp
// lists them per tokenizer.ggml.pre).
//
// Semantics are those of the ECMAScript std::regex llama.cpp runs them with:
// leftmost match, alternatives tried in order, greedy quantifiers that give
// back one character at a time, atomic lookahead. Supported syntax: literals,
// `.`-free classes `[...]` / `[^...]` with ranges, `\s \S \d \D`,
// `\p{L} \p{N} \p{P} \p{S} \p{M}` (`\p{Lu}` etc. count as `\p{L}`, as in
// llama.cpp), groups `(...)` `(?:...)`, lookahead `(?=...)` `(?!...)`,
// quantifiers `* + ? {n} {n,} {n,m}`, alternation and `$`.
//
// Character facts follow llama.cpp's matcher: a non-ASCII White_Space
// character takes part in matching as U+000B (so it is `\s` and nothing
// else, and no literal range contains it).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace apex::tok {

class Regex {
 public:
  static Result<Regex> compile(std::string_view pattern);

  // Splits every piece of `cpts` (pieces given as lengths, in order) at the
  // matches of this pattern: each match and each stretch between matches
  // becomes a piece of its own. Returns the new piece lengths.
  std::vector<size_t> split(std::span<const uint32_t> cpts, std::span<const size_t> pieces) const;

  // The end of the match that starts exactly at `pos` (searching no further
  // than `end`), or -1.
  int64_t match_at(std::span<const uint32_t> cpts, size_t pos, size_t end) const;

  const std::string& pattern() const { return pattern_; }

  struct CharSet {
    bool negated = false;
    bool space = false;   // \s
    bool digit = false;   // \d
    uint8_t classes = 0;  // bit per CharClass (\p{..})
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive
    bool contains(uint32_t cpt) const;
  };
  enum class Op : uint8_t { kSet, kSplit, kJmp, kMatch, kLook, kEnd };
  struct Inst {
    Op op;
    bool negative = false;  // kLook: (?!...)
    int32_t x = 0;          // kSet: set index; kSplit/kJmp/kLook: preferred target
    int32_t y = 0;          // kSplit: other target; kLook: continuation
  };

 private:
  std::string pattern_;
  std::vector<CharSet> sets_;
  std::vector<Inst> prog_;
  int64_t run(int32_t pc, std::span<const uint32_t> cpts, size_t pos, size_t end) const;
  friend class RegexCompiler;
};

}  // namespace apex::tok
