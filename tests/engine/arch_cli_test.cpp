// The command line on every architecture the engine runs beyond the first
// three, end to end: `apex synth --arch A` (with A's own flags) writes a
// model, `apex quantize` a Q8_0 of it, `apex perplexity` gives the figure
// computed here from llama.cpp's logits (llama-perplexity's chunking,
// independently written), and `apex kld` of the model against itself is
// zero while against its Q8_0 it is small and positive (the statistics
// themselves are checked against the oracle in tests/eval). A new
// architecture is one more row in kCases.

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

nlohmann::json last_json(const std::string& out) {
  const size_t start = out.rfind("\n{");
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
}

struct CliCase {
  const char* label;
  const char* synth_flags;
};

class ArchCli : public ::testing::TestWithParam<CliCase> {};

TEST_P(ArchCli, SynthQuantizePerplexityAndKld) {
  TempDir dir;
  const std::string model = dir.file("m.gguf"), q8 = dir.file("m-q8.gguf");
  CliRun r = run_apex(std::string("synth ") + GetParam().synth_flags +
                      " --ctx 256 --type f32 --no-progress " + model);
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
  // with BOS when the vocabulary adds one (what llama_tokenize puts in front
  // of empty text), its second half is scored.
  std::vector<int32_t> bos;
  ASSERT_TRUE(oracle::tokenize(model, "", true, false, bos));
  double nll = 0;
  int count = 0;
  for (int c = 0; c < kChunks; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + c * kCtx, tokens.begin() + (c + 1) * kCtx);
    if (!bos.empty()) chunk[0] = bos[0];
    const oracle::LogitsResult ref = oracle::eval_logits(model, chunk, 2, kCtx);
    ASSERT_TRUE(ref.ok) << ref.error;
    for (int i = kCtx / 2; i < kCtx - 1; ++i) {
      const auto ls = log_softmax(&ref.logits[static_cast<size_t>(i) * ref.n_vocab], ref.n_vocab);
      nll -= ls[static_cast<size_t>(chunk[i + 1])];
      ++count;
    }
  }
  const double want = std::exp(nll / count);
  std::printf("  %s: apex perplexity %.5f, oracle-derived %.5f\n", GetParam().label,
              ppl["ppl"].get<double>(), want);
  EXPECT_NEAR(ppl["ppl"].get<double>(), want, 1e-3 * want);

  r = run_apex("kld " + model + " " + model + " --tokens " + ids + " --ctx " +
               std::to_string(kCtx) + " --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  const nlohmann::json self = last_json(r.out);
  r = run_apex("kld " + model + " " + q8 + " --tokens " + ids + " --ctx " + std::to_string(kCtx) +
               " --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  const nlohmann::json quant = last_json(r.out);
  ASSERT_TRUE(self.contains("kld") && quant.contains("kld")) << r.out;
  const double kld_self = self["kld"]["mean"].get<double>();
  const double kld_q8 = quant["kld"]["mean"].get<double>();
  // The base run is stored as uint16 log-probabilities, so "zero" is the
  // rounding of that file.
  EXPECT_LE(std::fabs(kld_self), 1e-4);
  EXPECT_GT(kld_q8, 0.0);
  EXPECT_LT(kld_q8, 0.05);
}

constexpr CliCase kCases[] = {
    {"qwen35moe", "--arch qwen35moe --layers 4 --embd 128 --heads 4 --kv-heads 2 --head-dim 32 "
                  "--experts 4 --ff 64 --ff-shared 96 --vocab 512 --ssm-state 16"},
    {"nemotron_h_moe", "--arch nemotron_h_moe --layers 4 --layer-pattern 'ME*E' --embd 128 --heads 4 "
                       "--kv-heads 2 --head-dim 32 --experts 4 --ff 64 --ff-shared 96 --vocab 512 "
                       "--ssm-state 16 --ssm-inner 128 --expert-scale 2.5"},
    {"glm4moe", "--arch glm4moe --layers 4 --embd 128 --heads 4 --kv-heads 2 --head-dim 48 "
                "--experts 8 --ff 64 --vocab 512 --dense-lead 1 --ff-dense 160 --shared-experts 1 "
                "--qk-norm 1 --expert-scale 2.5 --expert-norm 1 --mtp 1"},
    {"deepseek2", "--arch deepseek2 --layers 3 --embd 128 --heads 4 --head-dim 48 --rope-dim 16 "
                  "--v-head-dim 32 --q-lora-rank 64 --kv-lora-rank 32 --experts 8 --experts-used 2 "
                  "--expert-groups 4 --expert-groups-used 2 --ff 64 --dense-lead 1 "
                  "--shared-experts 1 --expert-scale 2.5 --vocab 512"},
    {"gpt_oss", "--arch gpt-oss --layers 4 --embd 128 --heads 4 --kv-heads 2 --head-dim 32 "
                "--experts 4 --ff 64 --vocab 512 --sliding-window 24 --yarn-factor 32 "
                "--yarn-orig-ctx 128"},
    {"minimax_m2", "--arch minimax-m2 --layers 2 --embd 128 --heads 6 --kv-heads 2 --head-dim 32 "
                   "--rope-dim 16 --experts 4 --ff 64 --vocab 512"},
    {"olmoe", "--arch olmoe --layers 2 --embd 128 --heads 4 --kv-heads 4 --experts 4 --ff 64 "
              "--vocab 512"},
    {"gemma4", "--arch gemma4 --layers 4 --full-attn-interval 2 --embd 128 --heads 4 --kv-heads 1 "
               "--swa-kv-heads 2 --head-dim 64 --swa-head-dim 32 --experts 4 --ff 48 --ff-dense 96 "
               "--sliding-window 32 --vocab 512"},
};

INSTANTIATE_TEST_SUITE_P(Archs, ArchCli, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace apex::engine
