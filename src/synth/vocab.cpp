#include "synth/vocab.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "synth/random.h"
#include "synth/vocab_words.h"

namespace apex::synth {
namespace {

// SentencePiece marks the start of a word with U+2581 ("▁") in place of the
// space; llama.cpp's SPM tokenizer does the same before merging.
constexpr const char* kWordStart = "\xe2\x96\x81";

}  // namespace

// Common English words and word pieces, so that English text tokenizes into
// plausible multi-character tokens (tests of tokenization, perplexity and
// imatrix collection then see realistic token streams). Each entry is added
// with all its prefixes so the merge order can actually reach it.
const char* const kWords[] = {
    "the", "of", "and", "to", "in", "is", "it", "you", "that", "he", "was", "for", "on", "are",
    "with", "as", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by",
    "word", "but", "what", "some", "we", "can", "out", "other", "were", "all", "there", "when",
    "up", "use", "your", "how", "said", "an", "each", "she", "which", "do", "their", "time",
    "if", "will", "way", "about", "many", "then", "them", "write", "would", "like", "so",
    "these", "her", "long", "make", "thing", "see", "him", "two", "has", "look", "more", "day",
    "could", "go", "come", "did", "number", "no", "most", "people", "my", "over", "know",
    "water", "than", "call", "first", "who", "may", "down", "side", "been", "now", "find",
    "any", "new", "work", "part", "take", "get", "place", "made", "live", "where", "after",
    "back", "little", "only", "man", "year", "came", "show", "every", "good", "me", "give",
    "our", "under", "name", "very", "through", "just", "great", "think", "say", "help", "line",
    "turn", "much", "mean", "before", "move", "right", "old", "too", "same", "tell", "does",
    "set", "three", "want", "well", "also", "small", "end", "put", "home", "read", "hand",
    "large", "even", "here", "must", "big", "high", "such", "follow", "why", "ask", "change",
    "light", "kind", "off", "need", "house", "try", "again", "point", "world", "build", "self",
    "should", "country", "found", "answer", "school", "study", "still", "learn", "food",
    "between", "state", "keep", "never", "last", "let", "thought", "city", "start", "might",
    "story", "far", "left", "run", "while", "close", "night", "real", "life", "data", "file",
    "function", "value", "return", "model", "list", "type", "string", "code", "python",
};
// Word-internal pieces (no word-start mark), each with its prefixes.
const char* const kPieces[] = {
    "ing", "tion", "ed", "er", "es", "ly", "ent", "re", "on", "at", "en", "an", "or", "al",
    "ar", "st", "nt", "th", "he", "ou", "it", "is", "le", "se", "ve", "ic", "ri", "ro", "ra",
    "de", "co", "ce", "ne", "me", "li", "la", "ch", "ll", "ss", "ee", "oo", "ers", "ies", "ment",
};

std::span<const char* const> vocab_words() { return kWords; }
std::span<const char* const> vocab_pieces() { return kPieces; }

namespace {

// Length in characters, counting the 3-byte word-start marker as one.
size_t char_len(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

Result<Vocab> make_spm_vocab(int64_t n_vocab) {
  if (n_vocab < kMinVocab) {
    return make_error("synth: n_vocab {} is too small: the vocabulary needs at least {} tokens "
                      "(<unk>, <s>, </s> and 256 byte tokens)",
                      n_vocab, kMinVocab);
  }
  if (n_vocab > (int64_t{1} << 24)) {
    return make_error("synth: n_vocab {} is too large (at most {})", n_vocab, int64_t{1} << 24);
  }
  Vocab v;
  const size_t n = static_cast<size_t>(n_vocab);
  v.tokens.reserve(n);
  v.scores.reserve(n);
  v.types.reserve(n);
  std::unordered_set<std::string> present;
  auto add = [&](std::string piece, float score, TokenType type) {
    present.insert(piece);
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0.0f, TokenType::kUnknown);
  add("<s>", 0.0f, TokenType::kControl);
  add("</s>", 0.0f, TokenType::kControl);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0.0f, TokenType::kByte);

  // Normal pieces score -rank, as sentencepiece exports them: earlier pieces
  // win merges.
  float rank = 0.0f;
  auto add_piece = [&](std::string piece) {
    if (v.tokens.size() >= n || present.count(piece) != 0) return false;
    add(std::move(piece), -rank, TokenType::kNormal);
    rank += 1.0f;
    return true;
  };
  add_piece(kWordStart);
  for (char c = 'a'; c <= 'z'; ++c) add_piece(std::string(1, c));
  for (char c = 'A'; c <= 'Z'; ++c) add_piece(std::string(1, c));
  for (char c = '0'; c <= '9'; ++c) add_piece(std::string(1, c));
  for (char c = '!'; c <= '~'; ++c) {
    if (!std::isalnum(static_cast<unsigned char>(c))) add_piece(std::string(1, c));
  }

  for (const char* w : kWords) {
    const std::string word(w);
    for (size_t k = 1; k <= word.size(); ++k) add_piece(kWordStart + word.substr(0, k));
  }
  for (const char* w : kPieces) {
    const std::string piece(w);
    for (size_t k = 2; k <= piece.size(); ++k) add_piece(piece.substr(0, k));
  }

  // Word-like pieces: a left part (a letter run, optionally word-initial)
  // glued to a right part (a letter run). Picks lean towards early, short
  // pieces (index ~ size * u^2), which gives frequent bigrams first, like a
  // trained vocabulary. A fixed stream keeps the vocabulary seed-independent.
  std::vector<std::string> left, right;
  const std::string mark(kWordStart);
  for (size_t i = static_cast<size_t>(kMinVocab); i < v.tokens.size(); ++i) {
    const std::string& t = v.tokens[i];
    const bool initial = t.rfind(mark, 0) == 0;
    const std::string rest = initial ? t.substr(mark.size()) : t;
    if (!std::all_of(rest.begin(), rest.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
      continue;
    }
    left.push_back(t);
    if (!initial) right.push_back(t);
  }
  size_t max_chars = 8;
  uint64_t draw = 0;
  size_t misses = 0;
  constexpr uint64_t kStream = 0x5eed5eed5eed5eedull;
  auto pick = [&](const std::vector<std::string>& pool) -> const std::string& {
    const double u = static_cast<double>(random_word(kStream, draw++) >> 11) * 0x1p-53;
    return pool[static_cast<size_t>(u * u * static_cast<double>(pool.size()))];
  };
  while (v.tokens.size() < n) {
    const std::string& a = pick(left);
    const std::string& b = pick(right);
    std::string piece = a + b;
    if (char_len(piece) > max_chars || !add_piece(piece)) {
      // When short pieces run out, allow longer ones instead of spinning.
      if (++misses > 64 + v.tokens.size()) {
        max_chars += 2;
        misses = 0;
      }
      continue;
    }
    misses = 0;
    left.push_back(piece);
    if (piece.rfind(kWordStart, 0) != 0) right.push_back(std::move(piece));
  }
  return v;
}

}  // namespace apex::synth
