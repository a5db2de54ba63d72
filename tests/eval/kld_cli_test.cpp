// apex perplexity --save-logits / --kl-divergence-base and apex kld as a
// user meets them: one line and a non-zero exit on each kind of bad input,
// --json that parses and agrees between the one-shot and two-step forms.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/engine_test_support.h"
#include "oracle/oracle.h"

namespace {

namespace fs = std::filesystem;
using apex::engine::testing::TempDir;

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

struct Fixture {
  TempDir dir;
  std::string model = apex::engine::testing::tiny_model_path();
  std::string text, base;
  bool ok = false;

  RunResult run(const std::string& args) const {
    const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
    const std::string cmd = std::string(APEX_BINARY) + " " + args + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }
};

void set_up(Fixture& f) {
  const std::string src = std::string(APEX_SHARED_DIR) + "/models/tiny-moe-eval.txt";
  if (!fs::exists(f.model) || !fs::exists(src)) return;
  f.text = f.dir.file("text.txt");
  std::ofstream(f.text, std::ios::binary) << slurp(src).substr(0, 4000);
  f.base = f.dir.file("base.bin");
  const RunResult r = f.run("perplexity " + f.model + " --ctx 128 --chunks 2 -f " + f.text + " --save-logits " + f.base);
  f.ok = r.exit_code == 0 && fs::exists(f.base);
}

// Set up in place: a TempDir must not be copied (its destructor removes the folder).
Fixture& fixture() {
  static Fixture f;
  static const bool done = (set_up(f), true);
  (void)done;
  return f;
}

#define REQUIRE_FIXTURE()                                             \
  const Fixture& F = fixture();                                       \
  if (F.text.empty()) GTEST_SKIP() << "no tiny model";                \
  ASSERT_TRUE(F.ok) << "apex perplexity --save-logits failed"

void expect_one_line_error(const RunResult& r, const std::vector<std::string>& mentions) {
  EXPECT_NE(r.exit_code, 0);
  int lines = 0;
  for (char c : r.err) lines += c == '\n';
  EXPECT_EQ(lines, 1) << r.err;
  EXPECT_EQ(r.err.rfind("apex: ", 0), 0u) << r.err;
  for (const auto& m : mentions) EXPECT_NE(r.err.find(m), std::string::npos) << "missing '" << m << "' in: " << r.err;
}

TEST(KldCli, TextShorterThanOneChunk) {
  REQUIRE_FIXTURE();
  const std::string short_text = F.dir.file("short.txt");
  std::ofstream(short_text) << "Only a few words here.";
  expect_one_line_error(F.run("perplexity " + F.model + " --ctx 128 -f " + short_text + " --save-logits " +
                              F.dir.file("x.bin")),
                        {"need at least 256"});
  expect_one_line_error(F.run("kld " + F.model + " " + F.model + " --ctx 128 -f " + short_text), {"need at least 256"});
  // A text shorter than the base file's stream.
  expect_one_line_error(F.run("perplexity " + F.model + " --kl-divergence-base " + F.base + " -f " + short_text),
                        {"tokenizes to only"});
}

TEST(KldCli, BaseFromAnotherVocabulary) {
  REQUIRE_FIXTURE();
  const std::string other = F.dir.file("other.gguf");
  apex::synth::Options o = apex::engine::testing::synth_options("llama", 0, apex::quant::TypeId::F32);
  ASSERT_TRUE(apex::synth::write_model(o, other));
  expect_one_line_error(F.run("perplexity " + other + " --kl-divergence-base " + F.base),
                        {F.base, "vocabulary of 4096", "1024"});
}

TEST(KldCli, BaseFromADifferentText) {
  REQUIRE_FIXTURE();
  // The same text with one word changed: the streams part where it is.
  std::string changed = slurp(F.text);
  const size_t at = changed.find(' ', 400);
  ASSERT_NE(at, std::string::npos);
  changed.insert(at, " zebra");
  const std::string other = F.dir.file("other.txt");
  std::ofstream(other, std::ios::binary) << changed;
  std::vector<int32_t> a, b;
  ASSERT_TRUE(apex::oracle::tokenize(F.model, slurp(F.text), true, false, a));
  ASSERT_TRUE(apex::oracle::tokenize(F.model, changed, true, false, b));
  const size_t pos = std::mismatch(a.begin(), a.end(), b.begin()).first - a.begin();
  ASSERT_LT(pos, 256u);
  expect_one_line_error(F.run("perplexity " + F.model + " --kl-divergence-base " + F.base + " -f " + other),
                        {"differs", "position " + std::to_string(pos) + " "});
}

TEST(KldCli, TruncatedBaseFile) {
  REQUIRE_FIXTURE();
  const std::string full = slurp(F.base);
  const std::string cut = F.dir.file("cut.bin");
  std::ofstream(cut, std::ios::binary) << full.substr(0, full.size() - 1000);
  expect_one_line_error(F.run("perplexity " + F.model + " --kl-divergence-base " + cut), {cut, "truncated"});
  const std::string header_only = F.dir.file("header.bin");
  std::ofstream(header_only, std::ios::binary) << full.substr(0, 14);
  expect_one_line_error(F.run("perplexity " + F.model + " --kl-divergence-base " + header_only), {header_only});
  const std::string text_as_base = F.text;
  expect_one_line_error(F.run("perplexity " + F.model + " --kl-divergence-base " + text_as_base), {"_logits_"});
}

TEST(KldCli, JsonOneShotEqualsTwoStep) {
  REQUIRE_FIXTURE();
  const RunResult two = F.run("perplexity " + F.model + " --kl-divergence-base " + F.base + " -f " + F.text + " --json");
  ASSERT_EQ(two.exit_code, 0) << two.err;
  const auto j = nlohmann::json::parse(two.out);
  for (const char* k : {"kld", "dp", "rms_dp", "same_top", "ln_ppl_ratio", "ppl_ratio", "ppl", "ppl_base",
                        "scored_tokens", "per_chunk"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  for (const char* k : {"mean", "stderr", "median", "max", "min", "percentiles"}) EXPECT_TRUE(j["kld"].contains(k)) << k;
  for (const char* p : {"99.9", "99.0", "95.0", "90.0", "10.0", "5.0", "1.0"}) {
    EXPECT_TRUE(j["kld"]["percentiles"].contains(p)) << p;
  }
  // A model against its own logits: nothing lost but the uint16 storage
  // (half a step, <= 1.2e-4 nats, per log-probability).
  EXPECT_LT(std::fabs(j["kld"]["mean"].get<double>()), 1e-4);
  EXPECT_GE(j["same_top"]["value"].get<double>(), 0.99);
  EXPECT_EQ(j["scored_tokens"].get<int>(), 2 * 63);

  const RunResult one = F.run("kld " + F.model + " " + F.model + " --ctx 128 --chunks 2 -f " + F.text + " --json");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(nlohmann::json::parse(one.out), j);

  const RunResult text = F.run("perplexity " + F.model + " --kl-divergence-base " + F.base);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Mean    KLD:"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Same top p:"), std::string::npos) << text.out;
}

}  // namespace
