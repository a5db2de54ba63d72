// The command line on a gpt-oss model, end to end: `apex synth --arch
// gpt-oss` writes it (sliding window 24 on even blocks, YaRN), `apex quantize` makes a Q8_0 of it, `apex
// perplexity` gives the figure computed here from llama.cpp's logits
// (llama-perplexity's chunking, independently written), and `apex kld` of
// the model against itself is zero while against its Q8_0 it is small and
// positive (apex kld does what llama-perplexity --kl-divergence does; the
// statistics themselves are checked against the oracle in tests/eval).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine_test_support.h"
#include "oracle/oracle.h"

namespace apex::engine {
namespace {

using namespace apex::engine::testing;

struct CliRun {
  int rc;
  std::string out;
};

CliRun run_apex(const std::string& args) {
  const std::string cmd = std::string(APEX_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

// The last JSON object the command printed.
nlohmann::json last_json(const std::string& out) {
  const size_t start = out.rfind("\n{");
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
}

TEST(GptOssCli, SynthQuantizePerplexityAndKld) {
  TempDir dir;
  const std::string model = dir.file("oss.gguf"), q8 = dir.file("oss-q8.gguf");
  CliRun r = run_apex("synth --arch gpt-oss --layers 4 --embd 128 --heads 4 --kv-heads 2 "
                      "--head-dim 32 --experts 4 --ff 64 --vocab 512 --sliding-window 24 "
                      "--yarn-factor 32 --yarn-orig-ctx 128 --ctx 256 --type f32 --no-progress " +
                      model);
  ASSERT_EQ(r.rc, 0) << r.out;
  r = run_apex("quantize " + model + " " + q8 + " Q8_0");
  ASSERT_EQ(r.rc, 0) << r.out;

  constexpr int kCtx = 64, kChunks = 3;
  const std::vector<int32_t> tokens = test_tokens(kCtx * kChunks, 512, 3);
  const std::string ids = dir.file("ids.txt");
  {
    std::ofstream out(ids);
    for (int32_t t : tokens) out << t << ' ';
  }
  r = run_apex("perplexity " + model + " --tokens " + ids + " --ctx " + std::to_string(kCtx) +
               " --batch 24 --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  const nlohmann::json ppl = last_json(r.out);
  ASSERT_TRUE(ppl.contains("ppl")) << r.out;

  // llama-perplexity's figure from the oracle's logits: each chunk starts
  // with BOS (id 1, add_bos), its second half is scored.
  double nll = 0;
  int count = 0;
  for (int c = 0; c < kChunks; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + c * kCtx, tokens.begin() + (c + 1) * kCtx);
    chunk[0] = 1;
    const oracle::LogitsResult ref = oracle::eval_logits(model, chunk, 2, kCtx);
    ASSERT_TRUE(ref.ok) << ref.error;
    for (int i = kCtx / 2; i < kCtx - 1; ++i) {
      const auto ls = log_softmax(&ref.logits[static_cast<size_t>(i) * ref.n_vocab], ref.n_vocab);
      nll -= ls[static_cast<size_t>(chunk[i + 1])];
      ++count;
    }
  }
  const double want = std::exp(nll / count);
  std::printf("  apex perplexity %.5f, oracle-derived %.5f\n", ppl["ppl"].get<double>(), want);
  EXPECT_NEAR(ppl["ppl"].get<double>(), want, 1e-3 * want);

  r = run_apex("kld " + model + " " + model + " --tokens " + ids + " --ctx " +
               std::to_string(kCtx) + " --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  const nlohmann::json self = last_json(r.out);
  r = run_apex("kld " + model + " " + q8 + " --tokens " + ids + " --ctx " + std::to_string(kCtx) +
               " --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  const nlohmann::json quant = last_json(r.out);
  std::printf("  kld self: %s\n  kld q8_0: %s\n", self.dump().substr(0, 200).c_str(),
              quant.dump().substr(0, 200).c_str());
  ASSERT_TRUE(self.contains("kld") && quant.contains("kld")) << r.out;
  const double kld_self = self["kld"]["mean"].get<double>();
  const double kld_q8 = quant["kld"]["mean"].get<double>();
  // The base run is stored as uint16 log-probabilities, so "zero" is the
  // rounding of that file.
  EXPECT_LE(std::fabs(kld_self), 1e-4);
  EXPECT_GT(kld_q8, 0.0);
  EXPECT_LT(kld_q8, 0.05);
}

}  // namespace
}  // namespace apex::engine
