// Synthetic BPE vocabularies (make_bpe_vocab in vocab.h): byte-level "gpt2"
// ones as most MoE families ship, and gemma4's SentencePiece-flavoured BPE.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>

#include "synth/random.h"
#include "util/check.h"
#include "synth/vocab.h"
#include "synth/vocab_words.h"

namespace apex::synth {
namespace {

// U+2581: how gemma4's normalizer spells a space inside tokens.
constexpr const char* kSpaceMark = "\xe2\x96\x81";

// Appends code point `cpt` (< U+0800) as UTF-8.
void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt < 0x80) {
    out.push_back(static_cast<char>(cpt));
  } else {
    out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  }
}

// GPT-2's byte-to-unicode spelling: a byte that is a printable Latin-1
// character stands for itself; the others (controls, space, DEL, NBSP, SHY)
// are moved, in byte order, to U+0100 upwards, so every byte is one visible
// character (space is U+0120 "Ġ", newline U+010A "Ċ").
std::string byte_symbol(uint8_t byte) {
  auto printable = [](int c) { return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE; };
  uint32_t cpt = byte;
  if (!printable(byte)) {
    uint32_t moved = 0;
    for (int c = 0; c < byte; ++c) moved += printable(c) ? 0 : 1;
    cpt = 256 + moved;
  }
  std::string s;
  append_utf8(s, cpt);
  return s;
}

class Builder {
 public:
  Builder(const TokenizerSpec& spec, size_t limit) : spec_(spec), limit_(limit) {}

  Vocab& vocab() { return v_; }
  bool full() const { return v_.tokens.size() >= limit_; }

  void add(std::string text, TokenType type) {
    present_.insert(text);
    v_.tokens.push_back(std::move(text));
    v_.types.push_back(static_cast<int32_t>(type));
  }
  bool has(const std::string& t) const { return present_.count(t) != 0; }

  // The base symbols `text` is spelled with, in the vocabulary's encoding.
  std::vector<std::string> symbols(std::string_view text) const {
    std::vector<std::string> out;
    for (const char c : text) {
      if (spec_.kind == VocabKind::kByteBpe) out.push_back(byte_symbol(static_cast<uint8_t>(c)));
      else out.push_back(c == ' ' ? std::string(kSpaceMark) : std::string(1, c));
    }
    return out;
  }

  // One merge: the token a + b, made from two tokens already present.
  bool merge(const std::string& a, const std::string& b) {
    if (full() || !has(a) || !has(b) || has(a + b)) return false;
    rank_.emplace(a + " " + b, v_.merges.size());
    v_.merges.push_back(a + " " + b);
    add(a + b, TokenType::kNormal);
    return true;
  }

  // `text` as BPE cuts it with the merges so far: the adjacent pair of
  // lowest rank is merged until none is a merge.
  std::vector<std::string> segment(std::string_view text) const { return merge_all(symbols(text)); }

  // An encoded token cut back into its base symbols (one code point each).
  static std::vector<std::string> split_symbols(const std::string& token) {
    std::vector<std::string> out;
    for (size_t i = 0; i < token.size();) {
      const auto lead = static_cast<unsigned char>(token[i]);
      const size_t n = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
      out.push_back(token.substr(i, n));
      i += n;
    }
    return out;
  }

  // Whether BPE on the text of a + b (with the merges so far) ends in a, b:
  // then a merge of a and b is one BPE really makes on that text.
  bool cuts_into(const std::string& a, const std::string& b) const {
    const std::vector<std::string> parts = merge_all(split_symbols(a + b));
    return parts.size() == 2 && parts[0] == a;
  }

  std::vector<std::string> merge_all(std::vector<std::string> parts) const {
    for (;;) {
      size_t best = parts.size(), best_rank = SIZE_MAX;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        const auto it = rank_.find(parts[i] + " " + parts[i + 1]);
        if (it != rank_.end() && it->second < best_rank) {
          best = i;
          best_rank = it->second;
        }
      }
      if (best == parts.size()) return parts;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
  }

  // Makes `text` one token, as BPE training would: it is cut with the merges
  // so far, then new merges join those parts left to right. The new merges
  // rank after every earlier one, so BPE on `text` reaches the whole word.
  void chain(std::string_view text) {
    const std::vector<std::string> parts = segment(text);
    if (parts.empty()) return;
    std::string cur = parts[0];
    for (size_t k = 1; k < parts.size(); ++k) {
      merge(cur, parts[k]);
      if (!has(cur + parts[k])) return;  // out of room
      cur += parts[k];
    }
  }

 private:
  const TokenizerSpec& spec_;
  size_t limit_;
  Vocab v_;
  std::unordered_set<std::string> present_;
  std::unordered_map<std::string, size_t> rank_;  // "a b" -> merge rank
};

// Code and digits the merges cover besides words (each built left to right).
constexpr const char* kCodePieces[] = {
    "    ", "        ", "\n\n", "\n\n\n", "\t\t", " =", "==", " ==", "->", "()", " (", "):", " {",
    " }", ");", "//", " #", "...", "--", "__", " return", " def", " int", " if", "self", "\"\"",
    "00", "10", "12", "19", "20", "201", "202", "000", "100", "99", " 1", " 2",
};

}  // namespace

Result<Vocab> make_bpe_vocab(int64_t n_vocab, const TokenizerSpec& spec) {
  APEX_CHECK(spec.kind != VocabKind::kSpm);
  const bool byte_level = spec.kind == VocabKind::kByteBpe;
  // Base symbols: byte-level, the 256 byte characters; otherwise the 256
  // <0xXX> fallback tokens plus U+2581, newline, tab and printable ASCII.
  const size_t n_base = byte_level ? 256 : 256 + 3 + 94;
  const size_t n_min = spec.lead.size() + n_base + spec.tail.size();
  if (n_vocab < static_cast<int64_t>(n_min) || n_vocab > (int64_t{1} << 24)) {
    return make_error("synth: n_vocab {} out of range {}..{} for a '{}' vocabulary ({} control tokens and {} "
                      "base symbols)",
                      n_vocab, n_min, int64_t{1} << 24, spec.model, spec.lead.size() + spec.tail.size(),
                      n_base);
  }
  const size_t n = static_cast<size_t>(n_vocab);
  Builder b(spec, n - spec.tail.size());
  for (const char* t : spec.lead) b.add(t, TokenType::kControl);
  if (byte_level) {
    for (int c = 0; c < 256; ++c) b.add(byte_symbol(static_cast<uint8_t>(c)), TokenType::kNormal);
  } else {
    for (int c = 0; c < 256; ++c) b.add(fmt::format("<0x{:02X}>", c), TokenType::kByte);
    b.add(kSpaceMark, TokenType::kNormal);
    b.add("\n", TokenType::kNormal);
    b.add("\t", TokenType::kNormal);
    for (char c = '!'; c <= '~'; ++c) b.add(std::string(1, c), TokenType::kNormal);
  }
  const size_t first_merged = b.vocab().tokens.size();

  // Whitespace runs and word pieces first (the commonest pairs, which real
  // BPE training learns first), then words with and without a leading
  // space, the first ones capitalised too, then digits and code.
  b.chain("  ");
  b.chain("    ");
  for (const char* p : vocab_pieces()) b.chain(p);
  const std::span<const char* const> words = vocab_words();
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string w(words[i]);
    b.chain(" " + w);
    b.chain(w);
    if (i < 48) {
      std::string cap = w;
      cap[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(cap[0])));
      b.chain(" " + cap);
      b.chain(cap);
    }
  }
  for (const char* p : kCodePieces) b.chain(p);

  // Word-like fill, as make_spm_vocab does it: a left part (a letter run,
  // optionally with its leading space) merged with a right part (a letter
  // run) when BPE would cut their text into just those two; early, short
  // tokens are picked more often. A fixed stream keeps the vocabulary
  // seed-independent.
  const std::string space = b.symbols(" ")[0];
  std::vector<std::string> left, right;
  auto letters = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  };
  for (size_t i = first_merged; i < b.vocab().tokens.size(); ++i) {
    const std::string& t = b.vocab().tokens[i];
    const bool initial = t.rfind(space, 0) == 0;
    if (!letters(initial ? std::string_view(t).substr(space.size()) : std::string_view(t))) continue;
    left.push_back(t);
    if (!initial) right.push_back(t);
  }
  // Single letters can always be a right part.
  for (char c = 'a'; c <= 'z'; ++c) right.push_back(std::string(1, c));
  size_t max_bytes = 10;
  uint64_t draw = 0;
  size_t misses = 0;
  constexpr uint64_t kStream = 0xb9e5b9e5b9e5b9e5ull;
  auto pick = [&](const std::vector<std::string>& pool) -> const std::string& {
    const double u = static_cast<double>(random_word(kStream, draw++) >> 11) * 0x1p-53;
    return pool[static_cast<size_t>(u * u * static_cast<double>(pool.size()))];
  };
  APEX_CHECK(!left.empty() || b.full());
  while (!b.full()) {
    const std::string l = pick(left);
    const std::string r = pick(right);
    if (l.size() + r.size() > max_bytes || !b.cuts_into(l, r) || !b.merge(l, r)) {
      if (++misses > 64 + b.vocab().tokens.size()) {  // short pieces ran out
        max_bytes += 2;
        misses = 0;
      }
      continue;
    }
    misses = 0;
    left.push_back(l + r);
    if (l.rfind(space, 0) != 0) right.push_back(l + r);
  }
  for (const char* t : spec.tail) b.add(t, TokenType::kControl);

  Vocab v = std::move(b.vocab());
  v.model = spec.model;
  v.pre = spec.pre ? spec.pre : "";
  if (!byte_level) v.scores.assign(v.tokens.size(), 0.0f);  // gemma4's converter writes scores
  v.special_ids.clear();
  for (const SpecialId& s : spec.ids) {
    const auto it = std::find(v.tokens.begin(), v.tokens.end(), s.text);
    APEX_CHECK(it != v.tokens.end());
    const auto id = static_cast<int32_t>(it - v.tokens.begin());
    v.special_ids.emplace_back(s.key, id);
    if (std::string_view(s.key) == "unknown") v.types[static_cast<size_t>(id)] = static_cast<int32_t>(TokenType::kUnknown);
  }
  v.add_bos = spec.add_bos;
  v.write_add_space_prefix = !byte_level;
  return v;
}

}  // namespace apex::synth
