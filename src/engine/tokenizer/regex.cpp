#include "engine/tokenizer/regex.h"

#include <memory>

#include "engine/tokenizer/unicode.h"

namespace apex::tok {

bool Regex::CharSet::contains(uint32_t cpt) const {
  // llama.cpp matches non-ASCII whitespace as a vertical tab.
  const uint32_t eff = cpt >= 0x80 && is_whitespace(cpt) ? 0x0B : cpt;
  bool in = false;
  if (space && (eff == ' ' || (eff >= 0x09 && eff <= 0x0D))) in = true;
  if (!in && digit && eff >= '0' && eff <= '9') in = true;
  if (!in && classes != 0 && eff == cpt) {
    in = (classes >> static_cast<int>(char_class(cpt))) & 1;
  }
  if (!in) {
    for (const auto& [lo, hi] : ranges) {
      if (eff >= lo && eff <= hi) {
        in = true;
        break;
      }
    }
  }
  return in != negated;
}

namespace {

struct Node {
  enum Kind { kSet, kSeq, kAlt, kRepeat, kLook, kEnd } kind;
  int set = 0;                        // kSet
  std::vector<std::unique_ptr<Node>> kids;  // kSeq, kAlt, kRepeat (1), kLook (1)
  int min = 0, max = -1;              // kRepeat; max -1 = unbounded
  bool negative = false;              // kLook
};

}  // namespace

class RegexCompiler {
 public:
  RegexCompiler(Regex& re, std::string_view pattern) : re_(re), cpts_(decode_utf8(pattern)) {}

  Status compile() {
    auto root = parse_alt();
    if (!error_.empty()) return fail(error_);
    if (pos_ != cpts_.size()) return fail("unbalanced ')'");
    emit(*root);
    re_.prog_.push_back({Regex::Op::kMatch});
    return Status::Ok();
  }

 private:
  Regex& re_;
  std::vector<uint32_t> cpts_;
  size_t pos_ = 0;
  std::string error_;

  Error fail(const std::string& what) const {
    return make_error("regex '{}': {} at character {}", re_.pattern_, what, pos_);
  }
  bool at_end() const { return pos_ >= cpts_.size(); }
  uint32_t peek() const { return at_end() ? 0 : cpts_[pos_]; }
  void set_error(const char* what) {
    if (error_.empty()) error_ = what;
  }

  std::unique_ptr<Node> node(Node::Kind k) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    return n;
  }

  std::unique_ptr<Node> parse_alt() {
    auto alt = node(Node::kAlt);
    alt->kids.push_back(parse_seq());
    while (!at_end() && peek() == '|') {
      ++pos_;
      alt->kids.push_back(parse_seq());
    }
    if (alt->kids.size() == 1) return std::move(alt->kids[0]);
    return alt;
  }

  std::unique_ptr<Node> parse_seq() {
    auto seq = node(Node::kSeq);
    while (!at_end() && peek() != '|' && peek() != ')' && error_.empty()) {
      auto atom = parse_atom();
      if (!atom) break;
      seq->kids.push_back(parse_quantifier(std::move(atom)));
    }
    return seq;
  }

  bool parse_int(int& out) {
    if (at_end() || peek() < '0' || peek() > '9') return false;
    out = 0;
    while (!at_end() && peek() >= '0' && peek() <= '9') out = out * 10 + static_cast<int>(cpts_[pos_++] - '0');
    return true;
  }

  std::unique_ptr<Node> parse_quantifier(std::unique_ptr<Node> atom) {
    if (at_end()) return atom;
    int min = 0, max = -1;
    const uint32_t c = peek();
    if (c == '*') {
      ++pos_;
    } else if (c == '+') {
      min = 1;
      ++pos_;
    } else if (c == '?') {
      max = 1;
      ++pos_;
    } else if (c == '{') {
      ++pos_;
      if (!parse_int(min)) {
        set_error("bad {n,m} quantifier");
        return atom;
      }
      max = min;
      if (peek() == ',') {
        ++pos_;
        max = -1;
        parse_int(max);
      }
      if (peek() != '}') {
        set_error("bad {n,m} quantifier");
        return atom;
      }
      ++pos_;
    } else {
      return atom;
    }
    if (!at_end() && peek() == '?') set_error("lazy quantifiers are not supported");
    auto rep = node(Node::kRepeat);
    rep->min = min;
    rep->max = max;
    rep->kids.push_back(std::move(atom));
    return rep;
  }

  int add_set(Regex::CharSet set) {
    re_.sets_.push_back(std::move(set));
    return static_cast<int>(re_.sets_.size()) - 1;
  }

  std::unique_ptr<Node> set_node(Regex::CharSet set) {
    auto n = node(Node::kSet);
    n->set = add_set(std::move(set));
    return n;
  }

  // \p{...}: the class bit, or 0 when the name is not supported.
  uint8_t parse_property() {
    if (peek() != '{') return 0;
    ++pos_;
    std::string name;
    while (!at_end() && peek() != '}') name.push_back(static_cast<char>(cpts_[pos_++]));
    if (at_end()) return 0;
    ++pos_;
    auto bit = [](CharClass c) { return static_cast<uint8_t>(1u << static_cast<int>(c)); };
    if (name == "L" || name == "Lu" || name == "Ll" || name == "Lt" || name == "Lm" || name == "Lo") {
      return bit(CharClass::kLetter);
    }
    if (name == "N") return bit(CharClass::kNumber);
    if (name == "P") return bit(CharClass::kPunctuation);
    if (name == "S") return bit(CharClass::kSymbol);
    if (name == "M") return bit(CharClass::kMark);
    return 0;
  }

  // An escape after '\': adds to `set`; returns false on unsupported syntax.
  // `single` receives the literal code point for a plain escaped character.
  bool parse_escape(Regex::CharSet& set, bool& is_literal, uint32_t& literal) {
    is_literal = false;
    if (at_end()) return false;
    const uint32_t c = cpts_[pos_++];
    switch (c) {
      case 's': set.space = true; return true;
      case 'd': set.digit = true; return true;
      case 'p': {
        const uint8_t bits = parse_property();
        set.classes |= bits;
        return bits != 0;
      }
      case 'r': literal = '\r'; break;
      case 'n': literal = '\n'; break;
      case 't': literal = '\t'; break;
      case 'f': literal = '\f'; break;
      case 'v': literal = '\v'; break;
      default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return false;
        literal = c;
    }
    is_literal = true;
    return true;
  }

  std::unique_ptr<Node> parse_class() {
    Regex::CharSet set;
    if (peek() == '^') {
      set.negated = true;
      ++pos_;
    }
    bool first = true;
    while (!at_end() && (peek() != ']' || first)) {
      first = false;
      uint32_t lo = cpts_[pos_++];
      if (lo == '\\') {
        bool is_literal = false;
        if (!parse_escape(set, is_literal, lo)) {
          set_error("unsupported escape in class");
          return nullptr;
        }
        if (!is_literal) continue;
      }
      uint32_t hi = lo;
      if (pos_ + 1 < cpts_.size() && peek() == '-' && cpts_[pos_ + 1] != ']') {
        ++pos_;
        hi = cpts_[pos_++];
        if (hi == '\\') {
          bool is_literal = false;
          Regex::CharSet dummy;
          if (!parse_escape(dummy, is_literal, hi) || !is_literal) {
            set_error("bad class range");
            return nullptr;
          }
        }
        if (hi < lo) {
          set_error("reversed class range");
          return nullptr;
        }
      }
      set.ranges.emplace_back(lo, hi);
    }
    if (at_end()) {
      set_error("unterminated '['");
      return nullptr;
    }
    ++pos_;  // ']'
    return set_node(std::move(set));
  }

  std::unique_ptr<Node> parse_atom() {
    const uint32_t c = cpts_[pos_++];
    switch (c) {
      case '(': {
        std::unique_ptr<Node> look;
        if (peek() == '?') {
          ++pos_;
          const uint32_t k = at_end() ? 0 : cpts_[pos_++];
          if (k == '=' || k == '!') {
            look = node(Node::kLook);
            look->negative = k == '!';
          } else if (k != ':') {
            set_error("unsupported group");
            return nullptr;
          }
        }
        auto inner = parse_alt();
        if (at_end() || peek() != ')') {
          set_error("unterminated '('");
          return nullptr;
        }
        ++pos_;
        if (look) {
          look->kids.push_back(std::move(inner));
          return look;
        }
        return inner;
      }
      case '[':
        return parse_class();
      case '$':
        return node(Node::kEnd);
      case '\\': {
        Regex::CharSet set;
        bool is_literal = false;
        uint32_t lit = 0;
        if (!at_end() && (peek() == 'S' || peek() == 'D')) {
          (peek() == 'S' ? set.space : set.digit) = true;
          set.negated = true;
          ++pos_;
          return set_node(std::move(set));
        }
        if (!parse_escape(set, is_literal, lit)) {
          set_error("unsupported escape");
          return nullptr;
        }
        if (is_literal) set.ranges.emplace_back(lit, lit);
        return set_node(std::move(set));
      }
      case '.': case '^': case '*': case '+': case '?': case '{': case ')': case '|':
        set_error("unsupported or misplaced operator");
        return nullptr;
      default: {
        Regex::CharSet set;
        set.ranges.emplace_back(c, c);
        return set_node(std::move(set));
      }
    }
  }

  int32_t here() const { return static_cast<int32_t>(re_.prog_.size()); }
  int32_t push(Regex::Inst inst) {
    re_.prog_.push_back(inst);
    return here() - 1;
  }

  void emit(const Node& n) {
    using Op = Regex::Op;
    switch (n.kind) {
      case Node::kSet:
        push({Op::kSet, false, n.set, 0});
        break;
      case Node::kEnd:
        push({Op::kEnd});
        break;
      case Node::kSeq:
        for (const auto& k : n.kids) emit(*k);
        break;
      case Node::kAlt: {
        // split L1, next; L1: a; jmp end; next: split L2, next2; ...
        std::vector<int32_t> jumps;
        for (size_t i = 0; i < n.kids.size(); ++i) {
          if (i + 1 < n.kids.size()) {
            const int32_t split = push({Op::kSplit});
            re_.prog_[split].x = here();
            emit(*n.kids[i]);
            jumps.push_back(push({Op::kJmp}));
            re_.prog_[split].y = here();
          } else {
            emit(*n.kids[i]);
          }
        }
        for (int32_t j : jumps) re_.prog_[j].x = here();
        break;
      }
      case Node::kRepeat: {
        const Node& body = *n.kids[0];
        for (int i = 0; i < n.min; ++i) emit(body);
        if (n.max < 0) {
          // loop: split body, out; body; jmp loop
          const int32_t loop = push({Op::kSplit});
          re_.prog_[loop].x = here();
          emit(body);
          push({Op::kJmp, false, loop, 0});
          re_.prog_[loop].y = here();
        } else {
          // Nested optionals: (body (body ...)?)?
          std::vector<int32_t> splits;
          for (int i = n.min; i < n.max; ++i) {
            const int32_t split = push({Op::kSplit});
            re_.prog_[split].x = here();
            splits.push_back(split);
            emit(body);
          }
          for (int32_t s : splits) re_.prog_[s].y = here();
        }
        break;
      }
      case Node::kLook: {
        const int32_t look = push({Op::kLook, n.negative, 0, 0});
        re_.prog_[look].x = here();
        emit(*n.kids[0]);
        push({Op::kMatch});
        re_.prog_[look].y = here();
        break;
      }
    }
  }
};

Result<Regex> Regex::compile(std::string_view pattern) {
  Regex re;
  re.pattern_ = std::string(pattern);
  RegexCompiler c(re, pattern);
  APEX_RETURN_IF_ERROR(c.compile());
  return re;
}

int64_t Regex::run(int32_t pc0, std::span<const uint32_t> cpts, size_t pos0, size_t end) const {
  struct Thread {
    int32_t pc;
    size_t pos;
  };
  // Backtrack points of this call live above `base`; a lookahead's own
  // search stacks its points on top and removes them before returning.
  thread_local std::vector<Thread> stack;
  const size_t base = stack.size();
  stack.push_back({pc0, pos0});
  while (stack.size() > base) {
    auto [pc, pos] = stack.back();
    stack.pop_back();
    for (;;) {
      const Inst& in = prog_[static_cast<size_t>(pc)];
      bool ok = true;
      switch (in.op) {
        case Op::kSet:
          if (pos < end && sets_[static_cast<size_t>(in.x)].contains(cpts[pos])) {
            ++pc;
            ++pos;
          } else {
            ok = false;
          }
          break;
        case Op::kSplit:
          stack.push_back({in.y, pos});
          pc = in.x;
          break;
        case Op::kJmp:
          pc = in.x;
          break;
        case Op::kMatch:
          stack.resize(base);
          return static_cast<int64_t>(pos);
        case Op::kEnd:
          if (pos == end) {
            ++pc;
          } else {
            ok = false;
          }
          break;
        case Op::kLook: {
          // Lookahead is atomic: its own search, then on (or not) from here.
          const bool matched = run(in.x, cpts, pos, end) >= 0;
          if (matched != in.negative) {
            pc = in.y;
          } else {
            ok = false;
          }
          break;
        }
      }
      if (!ok) break;
    }
  }
  return -1;
}

int64_t Regex::match_at(std::span<const uint32_t> cpts, size_t pos, size_t end) const {
  return run(0, cpts, pos, end);
}

std::vector<size_t> Regex::split(std::span<const uint32_t> cpts, std::span<const size_t> pieces) const {
  std::vector<size_t> out;
  out.reserve(pieces.size());
  size_t begin = 0;
  for (const size_t len : pieces) {
    const size_t end = begin + len;
    size_t last = begin;  // end of the previous match
    size_t pos = begin;
    while (pos < end) {
      int64_t m = -1;
      size_t start = pos;
      for (; start < end; ++start) {
        m = run(0, cpts, start, end);
        if (m > static_cast<int64_t>(start)) break;  // empty matches do not split
        m = -1;
      }
      if (m < 0) break;
      if (start > last) out.push_back(start - last);
      out.push_back(static_cast<size_t>(m) - start);
      last = pos = static_cast<size_t>(m);
    }
    if (end > last) out.push_back(end - last);
    begin = end;
  }
  return out;
}

}  // namespace apex::tok
