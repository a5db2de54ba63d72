// The --save-logits file and the KL-divergence figures, checked against
// figures computed here from llama.cpp's own logits (oracle::eval_logits) of
// the tiny model and a Q2_K quantization of it, with llama-perplexity's
// chunking: BOS at each chunk start, rows n_ctx/2 .. n_ctx-2 scored.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/engine_test_support.h"
#include "engine/forward.h"
#include "eval/kl_divergence.h"
#include "eval/logits_file.h"
#include "eval/perplexity.h"
#include "oracle/oracle.h"
#include "pipeline/quantize_model.h"
#include "plan/ftype.h"

namespace apex::eval {
namespace {

using namespace apex::engine::testing;

constexpr int kCtx = 128, kChunks = 3, kFirst = kCtx / 2, kRows = kCtx - 1 - kFirst;
constexpr int32_t kBos = 1;  // tiny-moe: <s>, add_bos true

std::string read_text(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str().substr(0, max_bytes);
}

template <typename T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

// One stored row written from the format's rules (see the header comment
// of eval/logits_file.h and llama-perplexity): the top 16 nats of the
// logits, float scale = range / 65535, float offset = log-probability of the
// range's bottom, codes rounded half to even, 0 below the range.
std::vector<uint16_t> expected_row(const float* x, int64_t n_vocab) {
  const float mx = *std::max_element(x, x + n_vocab);
  const float lo = std::max(*std::min_element(x, x + n_vocab), mx - 16);
  double s = 0;
  for (int64_t i = 0; i < n_vocab; ++i) s += expf(x[i] - mx);
  const float lse = static_cast<float>(std::log(s));
  const float scale = (mx - lo) / 65535.f, offset = lo - mx - lse;
  std::vector<uint16_t> row(static_cast<size_t>(2 * ((n_vocab + 1) / 2) + 4), 0);
  std::memcpy(&row[0], &scale, 4);
  std::memcpy(&row[2], &offset, 4);
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (scale != 0 && x[i] > lo) row[4 + i] = static_cast<uint16_t>(std::nearbyint((1 / scale) * (x[i] - lo)));
  }
  return row;
}

struct Shared {
  bool ok = false;
  std::string skip;
  TempDir dir;
  std::string base_model, quant_model, base_file, expected_bytes;
  std::vector<int32_t> tokens;                 // the tokenizer's stream (kChunks * kCtx used)
  std::vector<std::vector<float>> base_logits, quant_logits;  // oracle, per chunk, kCtx rows
  int64_t n_vocab = 0;
};

void set_up(Shared& s) {
  s.base_model = tiny_model_path();
  const std::string text_path = std::string(APEX_SHARED_DIR) + "/models/tiny-moe-eval.txt";
  if (!fs::exists(s.base_model) || !fs::exists(text_path) || !oracle::available()) {
    s.skip = "no tiny model or oracle";
    return;
  }
  if (!oracle::tokenize(s.base_model, read_text(text_path, 6000), true, false, s.tokens)) return;
  s.quant_model = s.dir.file("q2_k.gguf");
  pipeline::QuantizeJob job;
  job.input = s.base_model;
  job.output = s.quant_model;
  job.threads = 2;
  job.ftype = plan::find_ftype(10);  // LLAMA_FTYPE_MOSTLY_Q2_K
  if (!job.ftype || !pipeline::quantize_model(job)) return;
  for (int c = 0; c < kChunks; ++c) {
    std::vector<int32_t> chunk(s.tokens.begin() + c * kCtx, s.tokens.begin() + (c + 1) * kCtx);
    chunk[0] = kBos;
    const oracle::LogitsResult b = oracle::eval_logits(s.base_model, chunk, 2, kCtx);
    const oracle::LogitsResult q = oracle::eval_logits(s.quant_model, chunk, 2, kCtx);
    if (!b.ok || !q.ok) return;
    s.n_vocab = b.n_vocab;
    s.base_logits.push_back(b.logits);
    s.quant_logits.push_back(q.logits);
  }
  // The file llama-perplexity would write, from the oracle's logits.
  put(s.expected_bytes, kLogitsMagic);
  put(s.expected_bytes, int32_t{kCtx});
  put(s.expected_bytes, static_cast<int32_t>(s.n_vocab));
  put(s.expected_bytes, int32_t{kChunks});
  for (int i = 0; i < kChunks * kCtx; ++i) put(s.expected_bytes, s.tokens[i]);
  for (int c = 0; c < kChunks; ++c) {
    for (int i = kFirst; i < kCtx - 1; ++i) {
      const auto row = expected_row(&s.base_logits[c][static_cast<size_t>(i) * s.n_vocab], s.n_vocab);
      s.expected_bytes.append(reinterpret_cast<const char*>(row.data()), row.size() * 2);
    }
  }
  // apex's own file.
  auto model = engine::load_model(s.base_model);
  if (!model) return;
  PerplexityOptions opts;
  opts.n_ctx = kCtx;
  opts.n_chunks = kChunks;
  opts.save_logits = s.base_file = s.dir.file("base.bin");
  if (!perplexity(**model, s.tokens, opts)) return;
  s.ok = true;
}

// Set up in place: a TempDir must not be copied (its destructor removes the folder).
Shared& shared() {
  static Shared s;
  static const bool done = (set_up(s), true);
  (void)done;
  return s;
}

#define REQUIRE_SHARED()                                  \
  Shared& S = shared();                                   \
  if (!S.skip.empty()) GTEST_SKIP() << S.skip;            \
  ASSERT_TRUE(S.ok) << "setup failed (tokenize/quantize/oracle/perplexity)"

TEST(LogitsFile, SavedFileIsWhatLlamaPerplexityWrites) {
  REQUIRE_SHARED();
  std::ifstream in(S.base_file, std::ios::binary);
  const std::string ours{std::istreambuf_iterator<char>(in), {}};
  ASSERT_EQ(ours.size(), S.expected_bytes.size());
  // Header and token ids byte for byte.
  const size_t header = 20 + 4 * kChunks * kCtx;
  EXPECT_EQ(ours.substr(0, header), S.expected_bytes.substr(0, header));
  // Rows: apex's logits are bit-identical to the oracle's, so the codes are too.
  size_t differing = 0;
  for (size_t i = header; i < ours.size(); ++i) differing += ours[i] != S.expected_bytes[i];
  EXPECT_EQ(differing, 0u);
}

TEST(LogitsFile, ReadBackEqualsWhatWasWritten) {
  REQUIRE_SHARED();
  auto r = LogitsReader::open(S.base_file);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->header().n_ctx, kCtx);
  EXPECT_EQ(r->header().n_vocab, S.n_vocab);
  EXPECT_EQ(r->header().n_chunk, kChunks);
  EXPECT_TRUE(std::equal(r->header().tokens.begin(), r->header().tokens.end(), S.tokens.begin()));
  size_t offset = 20 + 4 * kChunks * kCtx;
  for (int c = 0; c < kChunks; ++c) {
    auto rows = r->read_chunk(c);
    ASSERT_TRUE(rows) << rows.message();
    ASSERT_EQ(rows->size() * 2, kRows * logits_row_words(S.n_vocab) * 2);
    EXPECT_EQ(std::memcmp(rows->data(), S.expected_bytes.data() + offset, rows->size() * 2), 0) << "chunk " << c;
    offset += rows->size() * 2;
  }
}

struct Expected {
  double kld = 0, kld_err = 0, ln_ratio = 0, ppl = 0, ppl_base = 0, rms_dp = 0, same_top = 0;
  std::vector<double> klds;
};

double mean_err(const std::vector<double>& v, double* mean) {
  double s = 0, s2 = 0;
  for (double x : v) s += x, s2 += x * x;
  const double n = static_cast<double>(v.size());
  *mean = s / n;
  return std::sqrt((s2 / n - *mean * *mean) / (n - 1));
}

// The statistics in double from the quant's oracle logits against base
// log-probabilities: either as stored (decoded codes) or exact.
Expected expected_stats(const Shared& S, bool stored) {
  Expected e;
  std::vector<double> nll, nll_base, dp2;
  int64_t same = 0;
  const int64_t nv = S.n_vocab;
  for (int c = 0; c < kChunks; ++c) {
    for (int i = kFirst; i < kCtx - 1; ++i) {
      const int32_t next = S.tokens[static_cast<size_t>(c * kCtx + i + 1)];
      const float* bl = &S.base_logits[c][static_cast<size_t>(i) * nv];
      const auto lq = log_softmax(&S.quant_logits[c][static_cast<size_t>(i) * nv], nv);
      std::vector<double> lp = log_softmax(bl, nv);
      int64_t top_base = std::max_element(bl, bl + nv) - bl;
      if (stored) {
        const auto row = expected_row(bl, nv);
        float scale, offset;
        std::memcpy(&scale, &row[0], 4);
        std::memcpy(&offset, &row[2], 4);
        for (int64_t k = 0; k < nv; ++k) lp[k] = static_cast<double>(scale) * row[4 + k] + offset;
        top_base = std::max_element(row.begin() + 4, row.begin() + 4 + nv) - (row.begin() + 4);
      }
      double kld = 0;
      for (int64_t k = 0; k < nv; ++k) {
        if (!stored || lp[k] > -16) kld += std::exp(lp[k]) * (lp[k] - lq[k]);
      }
      e.klds.push_back(kld);
      nll.push_back(-lq[next]);
      nll_base.push_back(-lp[next]);
      const double dp = std::exp(lq[next]) - std::exp(lp[next]);
      dp2.push_back(dp * dp);
      same += (std::max_element(lq.begin(), lq.end()) - lq.begin()) == top_base;
    }
  }
  e.kld_err = mean_err(e.klds, &e.kld);
  double m = 0, mb = 0, mse = 0;
  mean_err(nll, &m);
  mean_err(nll_base, &mb);
  mean_err(dp2, &mse);
  e.ln_ratio = m - mb;
  e.ppl = std::exp(m);
  e.ppl_base = std::exp(mb);
  e.rms_dp = std::sqrt(mse);
  e.same_top = static_cast<double>(same) / static_cast<double>(e.klds.size());
  std::sort(e.klds.begin(), e.klds.end());
  return e;
}

// Linear interpolation at fraction * (n - 1), as llama-perplexity.
double pct(const std::vector<double>& sorted, double f) {
  const double p = f * static_cast<double>(sorted.size() - 1);
  const auto i = static_cast<size_t>(p);
  return (1 - (p - i)) * sorted[i] + (p - i) * sorted[std::min(i + 1, sorted.size() - 1)];
}

TEST(Kld, StatisticsMatchOracleDerivedFigures) {
  REQUIRE_SHARED();
  auto model = engine::load_model(S.quant_model);
  ASSERT_TRUE(model) << model.message();
  auto base = LogitsReader::open(S.base_file);
  ASSERT_TRUE(base) << base.message();
  KldOptions opts;
  opts.expected_tokens = S.tokens;
  auto r = kl_divergence(**model, *base, opts);
  ASSERT_TRUE(r) << r.message();
  ASSERT_EQ(r->n_scored, kChunks * kRows);
  ASSERT_EQ(r->n_chunks, kChunks);

  // Against the stored base log-probabilities: the same inputs, apex keeping
  // per-token values in float as llama-perplexity does and this test in
  // double. A float KLD term p*(log p - log q) carries ~6e-8 relative error
  // and a float NLL (~5 nats) ~5e-7 absolute, so 1e-4 relative (+1e-6
  // absolute for values near zero, such as the smallest KLDs) is ample.
  const Expected e = expected_stats(S, /*stored=*/true);
  auto near = [](double got, double want, const char* what) {
    EXPECT_NEAR(got, want, 1e-4 * std::fabs(want) + 1e-6) << what;
  };
  near(r->kld.value, e.kld, "mean KLD");
  near(r->kld.error, e.kld_err, "KLD stderr");
  near(r->kld_max, e.klds.back(), "max KLD");
  near(r->kld_min, e.klds.front(), "min KLD");
  const size_t n = e.klds.size();
  near(r->kld_median, n % 2 ? e.klds[n / 2] : 0.5 * (e.klds[n / 2] + e.klds[n / 2 - 1]), "median KLD");
  const double fractions[] = {0.999, 0.99, 0.95, 0.90, 0.10, 0.05, 0.01, 0.001};
  ASSERT_EQ(r->kld_percentiles.size(), std::size(fractions));
  for (size_t i = 0; i < std::size(fractions); ++i) {
    near(r->kld_percentiles[i].value, pct(e.klds, fractions[i]), "KLD percentile");
  }
  near(r->ln_ppl_ratio.value, e.ln_ratio, "ln(PPL(Q)/PPL(base))");
  near(r->ppl_ratio.value, std::exp(e.ln_ratio), "PPL ratio");
  near(r->ppl.value, e.ppl, "PPL(Q)");
  near(r->ppl_base.value, e.ppl_base, "PPL(base)");
  near(r->rms_p_diff.value, e.rms_dp, "RMS dp");
  EXPECT_DOUBLE_EQ(r->same_top.value, e.same_top);  // a count: exact

  // Against the exact base softmax: the stored codes are within half a step
  // (at most 16/65535/2 = 1.2e-4 nats) of log p, which moves a token's KLD
  // by at most about 1.2e-4 * (1 + max |log p - log q|) and log PPL(base)
  // by 1.2e-4; tokens below -16 nats (p < 1.1e-7) are left out of the sum.
  const Expected x = expected_stats(S, /*stored=*/false);
  EXPECT_NEAR(r->kld.value, x.kld, 2e-3 * x.kld + 5e-4);
  EXPECT_NEAR(r->ln_ppl_ratio.value, x.ln_ratio, 2e-4);
  EXPECT_NEAR(r->ppl_base.value, x.ppl_base, 2e-4 * x.ppl_base);
  std::printf("  Q2_K vs F16: mean KLD %.6f +/- %.6f (oracle-derived %.6f, exact base %.6f), median %.6f, "
              "same top %.3f%%, RMS dp %.3f%%, ln(PPL ratio) %.6f (oracle-derived %.6f)\n",
              r->kld.value, r->kld.error, e.kld, x.kld, r->kld_median, 100 * r->same_top.value,
              100 * r->rms_p_diff.value, r->ln_ppl_ratio.value, e.ln_ratio);
}

TEST(Kld, TokenStreamMismatchNamesThePosition) {
  REQUIRE_SHARED();
  auto model = engine::load_model(S.base_model);
  ASSERT_TRUE(model) << model.message();
  auto base = LogitsReader::open(S.base_file);
  ASSERT_TRUE(base) << base.message();
  KldOptions opts;
  opts.expected_tokens = S.tokens;
  (*opts.expected_tokens)[200] = (*opts.expected_tokens)[200] == 5 ? 6 : 5;
  auto r = kl_divergence(**model, *base, opts);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("position 200"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace apex::eval
