#include "eval/kl_divergence.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "engine/forward.h"
#include "eval/perplexity.h"

namespace apex::eval {

std::pair<double, float> add_kld_row(const float* logits, const uint16_t* base_row, int64_t n_vocab,
                                     int32_t next, KldSums& s) {
  // The float/double split follows llama-perplexity so that figures agree
  // to the last printed digit: per-token values in float, sums in double.
  float max = logits[0];
  int64_t top = 0;
  for (int64_t i = 1; i < n_vocab; ++i) {
    if (logits[i] > max) {
      max = logits[i];
      top = i;
    }
  }
  double sum_exp = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max);
  const float log_sum_exp = static_cast<float>(std::log(sum_exp));
  const LogProbRow base = decode_row(base_row);

  const float nll = max + log_sum_exp - logits[next];
  const float nll_base = -base.log_prob(next);
  s.nll += nll;
  s.nll2 += nll * nll;
  s.nll_base += nll_base;
  s.nll_base2 += nll_base * nll_base;
  s.nll_nll_base += nll * nll_base;

  const float log_norm = max + log_sum_exp;  // log q_i = logits[i] - log_norm
  double kld = 0;
  int64_t top_base = 0;
  float top_base_log_prob = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    const float lp = base.log_prob(i);
    if (i == 0 || lp > top_base_log_prob) {
      top_base_log_prob = lp;
      top_base = i;
    }
    // Tokens below the stored 16-nat range carry code 0 and are left out.
    if (lp > -16.f) {
      const float p = std::exp(lp);
      kld += p * (lp - logits[i] + log_norm);
    }
  }
  s.kld += kld;
  s.kld2 += kld * kld;
  ++s.count;
  if (top == top_base) ++s.same_top;

  const float p_diff = std::exp(-nll) - std::exp(-nll_base);
  s.p_diff += p_diff;
  const double p_diff2 = p_diff * p_diff;  // float product, as upstream
  s.p_diff2 += p_diff2;
  s.p_diff4 += p_diff2 * p_diff2;
  s.max_abs_p_diff = std::max(s.max_abs_p_diff, std::fabs(p_diff));
  return {kld, p_diff};
}

namespace {

// Mean and standard error of the mean; no error up to 10 values.
ValueWithError mean_and_error(double sum, double sum2, int64_t count) {
  if (count < 1) return {};
  const double mean = sum / count;
  const double var = sum2 / count - mean * mean;
  return {mean, var > 0 && count > 10 ? std::sqrt(var / (count - 1)) : 0.0};
}

double covariance(double sum_a, double sum_b, double sum_ab, int64_t count) {
  if (count < 10) return 0.0;
  return (sum_ab / count - (sum_a / count) * (sum_b / count)) / (count - 1);
}

// Linear interpolation between sorted values at fraction * (n - 1),
// computed in float as llama-perplexity does.
float percentile(const std::vector<float>& sorted, float fraction) {
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  float p = fraction * static_cast<float>(sorted.size() - 1);
  const auto ip = static_cast<size_t>(p);
  p -= static_cast<float>(ip);
  return (1 - p) * sorted[ip] + p * sorted[std::min(ip + 1, sorted.size() - 1)];
}

float median(const std::vector<float>& sorted) {
  const size_t n = sorted.size();
  return n % 2 == 0 ? 0.5f * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2];
}

ValueWithError ln_ppl_ratio(const KldSums& s) {
  const ValueWithError q = mean_and_error(s.nll, s.nll2, s.count);
  const ValueWithError b = mean_and_error(s.nll_base, s.nll_base2, s.count);
  const double cov = covariance(s.nll, s.nll_base, s.nll_nll_base, s.count);
  return {q.value - b.value, std::sqrt(q.error * q.error + b.error * b.error - 2.0 * cov)};
}

ValueWithError rms_p_diff(const KldSums& s) {
  const ValueWithError mse = mean_and_error(s.p_diff2, s.p_diff4, s.count);
  const double rms = std::sqrt(mse.value);
  return {rms, rms > 0 ? 0.5 / rms * mse.error : 0.0};
}

ValueWithError same_top(const KldSums& s) {
  const double p = s.count > 0 ? 1.0 * s.same_top / s.count : 0.0;
  return {p, s.count > 1 ? std::sqrt(p * (1 - p) / (s.count - 1)) : 0.0};
}

}  // namespace

KldChunkLine kld_chunk_line(const KldSums& s, int chunk) {
  KldChunkLine line;
  line.chunk = chunk;
  const ValueWithError log_ppl = mean_and_error(s.nll, s.nll2, s.count);
  line.ppl = {std::exp(log_ppl.value), std::exp(log_ppl.value) * log_ppl.error};
  line.ln_ppl_ratio = ln_ppl_ratio(s);
  line.kld = mean_and_error(s.kld, s.kld2, s.count);
  line.rms_p_diff = rms_p_diff(s);
  line.same_top = same_top(s);
  return line;
}

KldResult summarize_kld(const KldSums& s, std::vector<float> kld_values, std::vector<float> p_diff_values) {
  KldResult r;
  r.n_scored = s.count;
  const ValueWithError log_ppl = mean_and_error(s.nll, s.nll2, s.count);
  const ValueWithError log_ppl_base = mean_and_error(s.nll_base, s.nll_base2, s.count);
  r.ppl = {std::exp(log_ppl.value), std::exp(log_ppl.value) * log_ppl.error};
  r.ppl_base = {std::exp(log_ppl_base.value), std::exp(log_ppl_base.value) * log_ppl_base.error};
  const double cov = covariance(s.nll, s.nll_base, s.nll_nll_base, s.count);
  const double err_product = log_ppl.error * log_ppl_base.error;
  r.ln_ppl_correlation = err_product > 0 ? cov / err_product : 0.0;
  r.ln_ppl_ratio = ln_ppl_ratio(s);
  const double ratio = std::exp(r.ln_ppl_ratio.value);
  r.ppl_ratio = {ratio, ratio * r.ln_ppl_ratio.error};
  const double ppl_cov = r.ppl.value * r.ppl_base.value * cov;
  r.ppl_diff = {r.ppl.value - r.ppl_base.value,
                std::sqrt(r.ppl.error * r.ppl.error + r.ppl_base.error * r.ppl_base.error - 2.0 * ppl_cov)};

  r.kld = mean_and_error(s.kld, s.kld2, s.count);
  r.p_diff = mean_and_error(s.p_diff, s.p_diff2, s.count);
  r.rms_p_diff = rms_p_diff(s);
  r.same_top = same_top(s);
  if (kld_values.empty()) return r;
  std::sort(kld_values.begin(), kld_values.end());
  std::sort(p_diff_values.begin(), p_diff_values.end());
  r.kld_max = kld_values.back();
  r.kld_min = kld_values.front();
  r.kld_median = median(kld_values);
  for (float f : {0.999f, 0.990f, 0.950f, 0.900f, 0.100f, 0.050f, 0.010f, 0.001f}) {
    r.kld_percentiles.push_back({f, percentile(kld_values, f)});
  }
  r.p_diff_max = p_diff_values.back();
  r.p_diff_min = p_diff_values.front();
  r.p_diff_median = median(p_diff_values);
  for (float f : {0.999f, 0.990f, 0.950f, 0.900f, 0.750f, 0.250f, 0.100f, 0.050f, 0.010f, 0.001f}) {
    r.p_diff_percentiles.push_back({f, percentile(p_diff_values, f)});
  }
  return r;
}

namespace {

Status check_tokens(const LogitsReader& base, const std::vector<int32_t>& text) {
  const std::vector<int32_t>& stored = base.header().tokens;
  if (text.size() < stored.size()) {
    return make_error("{}: the text tokenizes to only {} tokens, the base file holds {} ({} chunks of {})",
                      base.path(), text.size(), stored.size(), base.header().n_chunk, base.header().n_ctx);
  }
  const auto n = stored.size();
  const auto diff = std::mismatch(stored.begin(), stored.begin() + static_cast<ptrdiff_t>(n), text.begin());
  if (diff.first != stored.begin() + static_cast<ptrdiff_t>(n)) {
    const auto pos = diff.first - stored.begin();
    return make_error("{}: token stream differs from the text's at position {} (base file: id {}, text: id {}); "
                      "the base logits come from another text or tokenizer",
                      base.path(), pos, *diff.first, *diff.second);
  }
  return Status::Ok();
}

}  // namespace

Result<KldResult> kl_divergence(const engine::Model& model, LogitsReader& base, const KldOptions& opts,
                                const KldChunkCallback& on_chunk) {
  const LogitsFileHeader& h = base.header();
  const int64_t n_vocab = model.config.n_vocab;
  if (h.n_vocab != n_vocab) {
    return make_error("{}: base logits are over a vocabulary of {} tokens, the model's has {}", base.path(),
                      h.n_vocab, n_vocab);
  }
  if (opts.expected_tokens) APEX_RETURN_IF_ERROR(check_tokens(base, *opts.expected_tokens));
  const int32_t bos = chunk_bos(model);
  const int64_t n_ctx = h.n_ctx, first = n_ctx / 2, words = logits_row_words(n_vocab);

  KldSums sums;
  std::vector<float> kld_values, p_diff_values;
  engine::Context ctx(model, n_ctx);
  std::vector<float> logits;
  std::vector<KldChunkLine> lines;
  for (int c = 0; c < h.n_chunk; ++c) {
    std::vector<int32_t> chunk(h.tokens.begin() + c * n_ctx, h.tokens.begin() + (c + 1) * n_ctx);
    if (bos >= 0) chunk[0] = bos;
    ctx.reset();
    APEX_RETURN_IF_ERROR(ctx.eval(chunk, &logits, opts.n_batch));
    APEX_ASSIGN_OR_RETURN(std::span<const uint16_t> rows, base.read_chunk(c));
    for (int64_t i = first; i < n_ctx - 1; ++i) {
      const auto [kld, p_diff] = add_kld_row(logits.data() + i * n_vocab, rows.data() + (i - first) * words,
                                             n_vocab, chunk[static_cast<size_t>(i + 1)], sums);
      kld_values.push_back(static_cast<float>(kld));
      p_diff_values.push_back(p_diff);
    }
    lines.push_back(kld_chunk_line(sums, c + 1));
    if (on_chunk) on_chunk(lines.back());
  }
  KldResult r = summarize_kld(sums, std::move(kld_values), std::move(p_diff_values));
  r.n_chunks = h.n_chunk;
  r.n_ctx = n_ctx;
  r.n_vocab = n_vocab;
  r.chunks = std::move(lines);
  return r;
}

namespace {

nlohmann::json vwe(const ValueWithError& v) { return {{"value", v.value}, {"stderr", v.error}}; }

nlohmann::json percentiles_json(const std::vector<Percentile>& ps) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& p : ps) j[fmt::format("{:.1f}", 100.0 * p.fraction)] = p.value;
  return j;
}

}  // namespace

nlohmann::json to_json(const KldResult& r) {
  nlohmann::json chunks = nlohmann::json::array();
  for (const auto& l : r.chunks) {
    chunks.push_back({{"chunk", l.chunk}, {"ppl", vwe(l.ppl)}, {"ln_ppl_ratio", vwe(l.ln_ppl_ratio)},
                      {"kld", vwe(l.kld)}, {"rms_dp", vwe(l.rms_p_diff)}, {"same_top", vwe(l.same_top)}});
  }
  return {{"n_ctx", r.n_ctx},
          {"n_vocab", r.n_vocab},
          {"chunks", r.n_chunks},
          {"scored_tokens", r.n_scored},
          {"ppl", vwe(r.ppl)},
          {"ppl_base", vwe(r.ppl_base)},
          {"ln_ppl_correlation", r.ln_ppl_correlation},
          {"ln_ppl_ratio", vwe(r.ln_ppl_ratio)},
          {"ppl_ratio", vwe(r.ppl_ratio)},
          {"ppl_diff", vwe(r.ppl_diff)},
          {"kld", {{"mean", r.kld.value}, {"stderr", r.kld.error}, {"max", r.kld_max}, {"median", r.kld_median},
                   {"min", r.kld_min}, {"percentiles", percentiles_json(r.kld_percentiles)}}},
          {"dp", {{"mean", r.p_diff.value}, {"stderr", r.p_diff.error}, {"max", r.p_diff_max},
                  {"median", r.p_diff_median}, {"min", r.p_diff_min},
                  {"percentiles", percentiles_json(r.p_diff_percentiles)}}},
          {"rms_dp", vwe(r.rms_p_diff)},
          {"same_top", vwe(r.same_top)},
          {"per_chunk", chunks}};
}

std::string format_chunk_line(const KldChunkLine& l) {
  return fmt::format("{:4d}    {:9.4f} ± {:9.4f}    {:10.5f} ± {:10.5f}    {:10.5f} ± {:10.5f}    {:6.3f} ± {:6.3f} %    "
                     "{:6.3f} ± {:6.3f} %",
                     l.chunk, l.ppl.value, l.ppl.error, l.ln_ppl_ratio.value, l.ln_ppl_ratio.error, l.kld.value,
                     l.kld.error, 100.0 * l.rms_p_diff.value, 100.0 * l.rms_p_diff.error, 100.0 * l.same_top.value,
                     100.0 * l.same_top.error);
}

std::string format_text(const KldResult& r) {
  std::string s;
  auto line = [&s](const std::string& t) { s += t + "\n"; };
  line("====== Perplexity statistics ======");
  line(fmt::format("Mean PPL(Q)                   : {:10.6f} ± {:10.6f}", r.ppl.value, r.ppl.error));
  line(fmt::format("Mean PPL(base)                : {:10.6f} ± {:10.6f}", r.ppl_base.value, r.ppl_base.error));
  line(fmt::format("Cor(ln(PPL(Q)), ln(PPL(base))): {:6.2f}%", 100.0 * r.ln_ppl_correlation));
  line(fmt::format("Mean ln(PPL(Q)/PPL(base))     : {:10.6f} ± {:10.6f}", r.ln_ppl_ratio.value, r.ln_ppl_ratio.error));
  line(fmt::format("Mean PPL(Q)/PPL(base)         : {:10.6f} ± {:10.6f}", r.ppl_ratio.value, r.ppl_ratio.error));
  line(fmt::format("Mean PPL(Q)-PPL(base)         : {:10.6f} ± {:10.6f}", r.ppl_diff.value, r.ppl_diff.error));
  line("");
  line("====== KL divergence statistics ======");
  line(fmt::format("Mean    KLD: {:10.6f} ± {:10.6f}", r.kld.value, r.kld.error));
  line(fmt::format("Maximum KLD: {:10.6f}", r.kld_max));
  auto pct_label = [](double f) { return fmt::format("{:4.1f}%", 100.0 * f); };
  bool kld_median_done = false;
  for (const auto& p : r.kld_percentiles) {
    if (p.fraction < 0.5 && !kld_median_done) {
      line(fmt::format("Median  KLD: {:10.6f}", r.kld_median));
      kld_median_done = true;
    }
    line(fmt::format("{}   KLD: {:10.6f}", pct_label(p.fraction), p.value));
  }
  line(fmt::format("Minimum KLD: {:10.6f}", r.kld_min));
  line("");
  line("====== Token probability statistics ======");
  line(fmt::format("Mean    Δp: {:6.3f} ± {:5.3f} %", 100.0 * r.p_diff.value, 100.0 * r.p_diff.error));
  line(fmt::format("Maximum Δp: {:6.3f}%", 100.0 * r.p_diff_max));
  bool median_done = false;
  for (const auto& p : r.p_diff_percentiles) {
    if (p.fraction < 0.5 && !median_done) {
      line(fmt::format("Median  Δp: {:6.3f}%", 100.0 * r.p_diff_median));
      median_done = true;
    }
    line(fmt::format("{}   Δp: {:6.3f}%", pct_label(p.fraction), 100.0 * p.value));
  }
  line(fmt::format("Minimum Δp: {:6.3f}%", 100.0 * r.p_diff_min));
  line(fmt::format("RMS Δp    : {:6.3f} ± {:5.3f} %", 100.0 * r.rms_p_diff.value, 100.0 * r.rms_p_diff.error));
  line(fmt::format("Same top p: {:6.3f} ± {:5.3f} %", 100.0 * r.same_top.value, 100.0 * r.same_top.error));
  return s;
}

}  // namespace apex::eval
