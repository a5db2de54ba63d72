#include "engine/tokenizer/tokenizer.h"

#include <queue>

#include "engine/tokenizer/unicode.h"

namespace apex::tok {
namespace {

constexpr std::string_view kWordStart = "\xe2\x96\x81";  // U+2581, SentencePiece's space

// A run of the input that is either still text or already one token.
struct Fragment {
  int32_t token = kNoToken;  // kNoToken: text [offset, offset + length)
  size_t offset = 0;
  size_t length = 0;
};

// Cuts special-token text out of the input, longest token first; a
// token's every occurrence in every remaining text fragment, left to right.
std::vector<Fragment> partition(const Vocab& v, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({kNoToken, 0, text.size()});
  std::vector<Fragment> next;
  for (const int32_t id : v.special_tokens) {
    // Control and unknown tokens are text unless asked; user-defined tokens
    // are always cut out (as Hugging Face tokenizers do).
    if (!parse_special && (v.attrs[id] & (kAttrControl | kAttrUnknown))) continue;
    const std::string& tok = v.tokens[id];
    if (text.find(tok) == std::string_view::npos) continue;
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      size_t pos = f.offset;
      const size_t end = f.offset + f.length;
      while (pos < end) {
        const size_t match = text.substr(0, end).find(tok, pos);
        if (match == std::string_view::npos) break;
        if (match > pos) next.push_back({kNoToken, pos, match - pos});
        next.push_back({id, 0, 0});
        pos = match + tok.size();
      }
      if (pos < end) next.push_back({kNoToken, pos, end - pos});
    }
    frags.swap(next);
  }
  return frags;
}

struct Symbol {
  int32_t prev;
  int32_t next;
  size_t offset;  // into the text being merged
  size_t n;       // bytes; 0 once merged into its left neighbour
};

// Cuts `text` into characters (by lead byte) linked as a list.
void make_symbols(std::string_view text, std::vector<Symbol>& symbols) {
  symbols.clear();
  size_t offset = 0;
  int32_t index = 0;
  while (offset < text.size()) {
    const size_t n = std::min(utf8_len(static_cast<unsigned char>(text[offset])), text.size() - offset);
    symbols.push_back({index - 1, offset + n == text.size() ? -1 : index + 1, offset, n});
    offset += n;
    ++index;
  }
}

void merge_into_left(std::vector<Symbol>& symbols, int32_t left, int32_t right) {
  Symbol& l = symbols[static_cast<size_t>(left)];
  Symbol& r = symbols[static_cast<size_t>(right)];
  l.n += r.n;
  r.n = 0;
  l.next = r.next;
  if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = left;
}

}  // namespace

Result<Tokenizer> Tokenizer::from_file(const gguf::File& file) {
  APEX_ASSIGN_OR_RETURN(Vocab v, load_vocab(file));
  return Tokenizer(std::move(v));
}

Result<Tokenizer> Tokenizer::open(const std::string& gguf_path) {
  APEX_ASSIGN_OR_RETURN(auto file, gguf::File::open(gguf_path));
  return from_file(*file);
}

// SentencePiece-style: repeatedly merge the adjacent pair whose merged text
// is the best-scoring token (ties: leftmost), then look every final symbol
// up, falling back to byte tokens. (A final symbol that is not a token was
// never merged, so it is split into its bytes directly.)
void Tokenizer::tokenize_spm(std::string_view text, std::vector<int32_t>& out) const {
  struct Bigram {
    int32_t left, right;
    float score;
    size_t size;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  std::vector<Symbol> symbols;
  make_symbols(text, symbols);

  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const std::string_view merged = text.substr(l.offset, l.n + r.n);
    const int32_t id = vocab_.find(merged);
    if (id == kNoToken) return;
    queue.push({left, right, vocab_.scores[static_cast<size_t>(id)], merged.size()});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    const Symbol& l = symbols[static_cast<size_t>(b.left)];
    const Symbol& r = symbols[static_cast<size_t>(b.right)];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    merge_into_left(symbols, b.left, b.right);
    try_add(symbols[static_cast<size_t>(b.left)].prev, b.left);
    try_add(b.left, symbols[static_cast<size_t>(b.left)].next);
  }

  for (int32_t i = symbols.empty() ? -1 : 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(s.offset, s.n);
    const int32_t id = vocab_.find(piece);
    if (id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (const char c : piece) {
      const int32_t b = vocab_.byte_token(static_cast<uint8_t>(c));
      if (b != kNoToken) out.push_back(b);
    }
  }
}

// Byte-level BPE: pre-tokenizer words, each byte-encoded and merged by rank.
void Tokenizer::tokenize_bpe(std::string_view text, std::vector<int32_t>& out) const {
  const std::vector<uint32_t> cpts = decode_utf8(text);
  std::vector<size_t> pieces = {cpts.size()};
  for (const Regex& re : vocab_.pre_regexes) pieces = re.split(cpts, pieces);

  struct Bigram {
    int32_t left, right;
    int32_t rank;
    size_t size;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::vector<Symbol> symbols;
  std::string word, raw;
  size_t start = 0;
  for (const size_t len : pieces) {
    raw.clear();
    for (size_t i = start; i < start + len; ++i) append_utf8(raw, cpts[i]);
    start += len;
    if (vocab_.byte_encode) {
      word.clear();
      for (const char c : raw) word += byte_to_unicode(static_cast<uint8_t>(c));
    } else {
      word = raw;
    }

    // A word taken whole: any word that is a token (ignore_merges), or for
    // gemma4 a run of newlines that is a token (llama.cpp's fix for them).
    if (vocab_.ignore_merges ||
        (vocab_.whole_newline_runs && word.find_first_not_of('\n') == std::string::npos)) {
      const int32_t id = vocab_.find(word);
      if (id != kNoToken) {
        out.push_back(id);
        continue;
      }
    }
    make_symbols(word, symbols);
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
    auto try_add = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const Symbol& l = symbols[static_cast<size_t>(left)];
      const Symbol& r = symbols[static_cast<size_t>(right)];
      const int32_t rank = vocab_.merge_rank(word.substr(l.offset, l.n), word.substr(r.offset, r.n));
      if (rank < 0) return;
      queue.push({left, right, rank, l.n + r.n});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      const Symbol& l = symbols[static_cast<size_t>(b.left)];
      const Symbol& r = symbols[static_cast<size_t>(b.right)];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
      merge_into_left(symbols, b.left, b.right);
      try_add(symbols[static_cast<size_t>(b.left)].prev, b.left);
      try_add(b.left, symbols[static_cast<size_t>(b.left)].next);
    }
    for (int32_t i = symbols.empty() ? -1 : 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
      const Symbol& s = symbols[static_cast<size_t>(i)];
      const std::string_view piece = std::string_view(word).substr(s.offset, s.n);
      const int32_t id = vocab_.find(piece);
      if (id != kNoToken) {
        out.push_back(id);
        continue;
      }
      // Not a token (a vocabulary without every byte): llama.cpp looks each
      // byte of the encoded text up as a one-character token, or for raw
      // UTF-8 vocabularies as its <0xXX> token.
      for (const char c : piece) {
        const int32_t b = vocab_.byte_encode ? vocab_.find(std::string_view(&c, 1))
                                             : vocab_.byte_token_hex(static_cast<uint8_t>(c));
        if (b != kNoToken) out.push_back(b);
      }
    }
  }
}

std::vector<int32_t> Tokenizer::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  const std::vector<Fragment> frags = partition(vocab_, text, parse_special);
  std::vector<int32_t> out;
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
  bool prev_special = true;  // the text start counts as "after a special token"
  std::string piece;
  for (const Fragment& f : frags) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    const std::string_view raw = text.substr(f.offset, f.length);
    if (vocab_.type == VocabType::kSpm) {
      piece.clear();
      if (vocab_.add_space_prefix && prev_special) piece.push_back(' ');
      piece.append(raw);
      std::string escaped;
      escaped.reserve(piece.size() + piece.size() / 2);
      for (const char c : piece) {
        if (c == ' ') escaped.append(kWordStart);
        else escaped.push_back(c);
      }
      tokenize_spm(escaped, out);
    } else if (vocab_.escape_whitespaces) {
      std::string escaped;
      escaped.reserve(raw.size() + raw.size() / 2);
      for (const char c : raw) {
        if (c == ' ') escaped.append(kWordStart);
        else escaped.push_back(c);
      }
      tokenize_bpe(escaped, out);
    } else {
      tokenize_bpe(raw, out);
    }
    prev_special = false;
  }
  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
  return out;
}

std::string Tokenizer::token_to_piece(int32_t token, bool special) const {
  if (token < 0 || token >= vocab_.n_tokens()) return {};
  const uint32_t attr = vocab_.attrs[static_cast<size_t>(token)];
  if (!special && (attr & (kAttrUnknown | kAttrControl))) return {};
  const std::string& text = vocab_.tokens[static_cast<size_t>(token)];
  if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return text;
  if (attr & kAttrNormal) {
    std::string out;
    if (vocab_.type == VocabType::kSpm || vocab_.escape_whitespaces) {
      for (size_t i = 0; i < text.size();) {
        if (text.compare(i, kWordStart.size(), kWordStart) == 0) {
          out.push_back(' ');
          i += kWordStart.size();
        } else {
          out.push_back(text[i++]);
        }
      }
      return out;
    }
    // Byte-level: every character stands for one byte.
    for (const uint32_t cpt : decode_utf8(text)) {
      const int b = unicode_to_byte(cpt);
      if (b >= 0) {
        out.push_back(static_cast<char>(b));
      } else {
        std::string utf8;
        append_utf8(utf8, cpt);
        out += "[UNK_BYTE_0x";
        for (const char c : utf8) out += fmt::format("{:02x}", static_cast<uint8_t>(c));
        out += text + "]";
      }
    }
    return out;
  }
  if ((attr & kAttrByte) && text.size() >= 5) {
    return std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
  }
  return {};
}

std::string Tokenizer::detokenize(std::span<const int32_t> tokens, bool remove_special,
                                  bool unparse_special) const {
  bool remove_space = vocab_.add_space_prefix;
  if (remove_special && vocab_.add_bos && !tokens.empty() && tokens.front() == vocab_.bos) {
    remove_space = false;
    tokens = tokens.subspan(1);
  }
  if (remove_special && vocab_.add_eos && !tokens.empty() && tokens.back() == vocab_.eos) {
    tokens = tokens.first(tokens.size() - 1);
  }
  std::string text;
  for (const int32_t t : tokens) {
    std::string piece = token_to_piece(t, unparse_special);
    if (remove_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    remove_space = false;
    text += piece;
  }
  if (!vocab_.clean_spaces || text.empty()) return text;

  // llama.cpp's clean-up passes, done in place as it does them (a pass
  // reads characters it may already have overwritten): " ?", " !", " .",
  // " ," lose the space; a lone "'" between spaces loses both; " 's", " 'm",
  // " 're", " 've" lose it.
  size_t total = text.size();
  size_t out = 1;
  for (size_t i = 1; i < total; ++i) {
    const char x = text[i];
    if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --out;
    text[out++] = x;
  }
  total = out;
  out = 1;
  for (size_t i = 1; i < total; ++i) {
    const char x = text[i];
    if (x == '\'' && i + 1 < total && text[i - 1] == ' ' && text[i + 1] == ' ') {
      --out;
      text[++i] = '\0';
    }
    text[out++] = x;
  }
  total = out;
  out = 1;
  for (size_t i = 1; i < total; ++i) {
    const char x = text[i];
    if (text[i - 1] == ' ' && x == '\'' && i + 1 < total) {
      const char x1 = text[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --out;
      } else if (i + 2 < total && ((x1 == 'r' && text[i + 2] == 'e') || (x1 == 'v' && text[i + 2] == 'e'))) {
        --out;
      }
    }
    text[out++] = x;
  }
  text.resize(out);
  return text;
}

}  // namespace apex::tok
