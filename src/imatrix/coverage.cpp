#include "imatrix/coverage.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <map>

namespace apex::imatrix {
namespace {

// The N of "blk.N.", or -1.
int layer_of(const std::string& name) {
  if (!name.starts_with("blk.")) return -1;
  int n = -1;
  const char* b = name.data() + 4;
  const char* e = name.data() + name.size();
  auto [p, ec] = std::from_chars(b, e, n);
  if (ec != std::errc() || p == e || *p != '.') return -1;
  return n;
}

bool is_expert_entry(const Imatrix& m, const Entry& e, int64_t n_expert_hint) {
  if (m.format == Format::kGguf) return e.counts.size() > 1;
  return n_expert_hint > 1 && e.name.find("_exps") != std::string::npos &&
         e.sums.size() % static_cast<size_t>(n_expert_hint) == 0;
}

}  // namespace

const char* policy_name(ZeroDataPolicy p) {
  switch (p) {
    case ZeroDataPolicy::kPlain:
      return "plain";
    case ZeroDataPolicy::kOnes:
      return "ones";
    case ZeroDataPolicy::kRefuse:
      return "refuse";
  }
  return "?";
}

Result<ZeroDataPolicy> parse_policy(const std::string& name) {
  for (ZeroDataPolicy p : {ZeroDataPolicy::kPlain, ZeroDataPolicy::kOnes, ZeroDataPolicy::kRefuse}) {
    if (name == policy_name(p)) return p;
  }
  return make_error("unknown zero-expert policy '{}' (plain, ones or refuse)", name);
}

std::vector<bool> matrices_without_data(const Imatrix& m, const Entry& e, int64_t n_mat) {
  std::vector<bool> none(static_cast<size_t>(std::max<int64_t>(n_mat, 1)), false);
  if (n_mat < 1 || e.sums.empty() || e.sums.size() % static_cast<size_t>(n_mat) != 0) return none;
  if (m.format == Format::kGguf) {
    if (e.counts.size() == none.size()) {
      for (size_t j = 0; j < none.size(); ++j) none[j] = e.counts[j] <= 0;
    } else if (e.counts.size() == 1) {
      std::fill(none.begin(), none.end(), e.counts[0] <= 0);
    }
    return none;
  }
  const size_t ne0 = e.sums.size() / none.size();
  for (size_t j = 0; j < none.size(); ++j) {
    const auto first = e.values.begin() + static_cast<std::ptrdiff_t>(j * ne0);
    const auto last = first + static_cast<std::ptrdiff_t>(ne0);
    const bool zeros = std::all_of(first, last, [](float v) { return v == 0.0f; });
    const bool ones = std::all_of(first, last, [](float v) { return v == 1.0f; });
    none[j] = zeros || ones;
  }
  return none;
}

Coverage coverage(const Imatrix& m, int64_t n_expert_hint) {
  Coverage c;
  c.counts_known = m.format == Format::kGguf;
  std::map<int, LayerCoverage> by_layer;
  // Entries are sorted by name in GGUF files; sort here so a .dat gives the
  // same "first expert entry" rule.
  std::vector<const Entry*> sorted;
  for (const Entry& e : m.entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) { return a->name < b->name; });
  for (const Entry* e : sorted) {
    const bool expert = is_expert_entry(m, *e, n_expert_hint);
    const int64_t n_mat = expert ? (m.format == Format::kGguf ? e->n_mat() : n_expert_hint)
                                 : (m.format == Format::kGguf ? e->n_mat() : 1);
    const std::vector<bool> none = matrices_without_data(m, *e, n_mat);
    const auto n_none = std::count(none.begin(), none.end(), true);
    if (n_none == static_cast<int64_t>(none.size())) {
      c.empty_entries.push_back(e->name);
    } else if (n_none > 0) {
      c.partial_entries.push_back(e->name);
    }
    if (!expert) continue;
    const int layer = layer_of(e->name);
    auto [it, fresh] = by_layer.try_emplace(layer);
    if (!fresh) continue;
    LayerCoverage& lc = it->second;
    lc.layer = layer;
    lc.entry = e->name;
    for (int64_t j = 0; j < n_mat; ++j) {
      lc.tokens.push_back(c.counts_known ? e->counts[static_cast<size_t>(j)] : -1);
      if (none[static_cast<size_t>(j)]) lc.zero.push_back(static_cast<int>(j));
    }
  }
  for (auto& [layer, lc] : by_layer) {
    c.n_experts += static_cast<int64_t>(lc.tokens.size());
    c.n_zero += static_cast<int64_t>(lc.zero.size());
    c.layers.push_back(std::move(lc));
  }
  return c;
}

std::string Coverage::summary() const {
  if (layers.empty()) {
    return counts_known ? "no per-expert entries" : "no per-expert entries (a .dat file needs --experts N to tell)";
  }
  std::string s = fmt::format("{} experts in {} layers: ", n_experts, layers.size());
  if (n_zero == 0) {
    s += counts_known ? "all received tokens" : "all have data (a .dat file records no token counts)";
  } else {
    s += fmt::format("{} without tokens (", n_zero);
    bool first = true;
    for (const LayerCoverage& l : layers) {
      if (l.zero.empty()) continue;
      s += fmt::format("{}blk.{}: {}", first ? "" : "; ", l.layer, fmt::join(l.zero, " "));
      first = false;
    }
    s += ")";
  }
  if (counts_known) {
    std::vector<int64_t> all;
    for (const LayerCoverage& l : layers) all.insert(all.end(), l.tokens.begin(), l.tokens.end());
    std::sort(all.begin(), all.end());
    s += fmt::format(", tokens per expert min {} median {} max {}", all.front(), all[all.size() / 2],
                     all.back());
  }
  return s;
}

std::string Coverage::table() const {
  std::string s;
  for (const LayerCoverage& l : layers) {
    if (!counts_known) {
      s += fmt::format("  blk.{:<3} {} experts, without data: {}\n", l.layer, l.tokens.size(),
                       l.zero.empty() ? std::string("none") : fmt::format("{}", fmt::join(l.zero, " ")));
      continue;
    }
    s += fmt::format("  blk.{:<3} tokens per expert:", l.layer);
    for (int64_t t : l.tokens) s += fmt::format(" {}", t);
    s += l.zero.empty() ? "\n" : fmt::format("   no tokens: {}\n", fmt::join(l.zero, " "));
  }
  return s;
}

nlohmann::json Coverage::to_json() const {
  nlohmann::json j;
  j["experts"] = n_experts;
  j["experts_without_tokens"] = n_zero;
  j["counts_known"] = counts_known;
  j["summary"] = summary();
  nlohmann::json ls = nlohmann::json::array();
  for (const LayerCoverage& l : layers) {
    nlohmann::json lj;
    lj["layer"] = l.layer;
    lj["entry"] = l.entry;
    lj["tokens"] = l.tokens;
    lj["zero"] = l.zero;
    ls.push_back(std::move(lj));
  }
  j["layers"] = std::move(ls);
  j["partial_entries"] = partial_entries;
  j["empty_entries"] = empty_entries;
  return j;
}

}  // namespace apex::imatrix
