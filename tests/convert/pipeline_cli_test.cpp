// `apex pipeline` on a tiny synthetic Hugging Face checkpoint (qwen3moe,
// 2 blocks of width 256, a 300-token byte-level BPE vocabulary with Qwen2's
// pre-tokenizer, written by `apex export-hf`): every step's output appears,
// each tier equals what `apex quantize --profile P --imatrix` makes from the
// converted file, the evaluation equals `apex eval`'s on the same files, the
// converted tensors equal the original, a rerun reuses every output, and a
// bad profile fails in one line before anything is written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "convert/convert_test_support.h"
#include "gguf/gguf.h"

namespace apex {
namespace {

namespace fs = std::filesystem;
using testing::run_apex;

TEST(PipelineCli, ConvertImatrixTiersEvaluate) {
  const fs::path dir = testing::cli_scratch("apex_pipeline_cli");
  const fs::path tok = dir / "tok", original = dir / "original.gguf", hf = dir / "tiny-moe", out = dir / "out";
  fs::remove_all(hf);
  fs::remove_all(out);
  ASSERT_TRUE(fs::exists(testing::tokenizer_dir() + "/tokenizer.json")) << "run scripts/deps.sh --oracle";
  testing::write_tiny_tokenizer(tok);
  auto r = run_apex(dir, "synth --arch qwen3moe --layers 2 --embd 256 --heads 4 --kv-heads 2 --experts 4 "
                         "--experts-used 2 --ff 256 --type f16 --threads 2 --no-progress --tokenizer " +
                             (tok / "tokenizer.json").string() + " " + original.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_apex(dir, "export-hf " + original.string() + " " + hf.string() + " --tokenizer-dir " + tok.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // Calibration and evaluation text: a prefix of wiki.test.raw.
  std::string text = testing::slurp(std::string(APEX_SHARED_DIR) + "/data/wikitext-2-raw/wiki.test.raw");
  ASSERT_GT(text.size(), 40000u);
  text.resize(40000);
  std::ofstream(dir / "text.txt") << text;
  const std::string text_path = (dir / "text.txt").string();

  // A bad profile fails before any work.
  r = run_apex(dir, "pipeline " + hf.string() + " --profiles quality,no-such-tier --imatrix-text " + text_path +
                        " --out " + out.string());
  testing::expect_one_line_error(r, {"no-such-tier"});
  EXPECT_FALSE(fs::exists(out));

  const std::string cmd = "pipeline " + hf.string() + " --profiles quality,i-compact --imatrix-text " + text_path +
                          " --imatrix-ctx 128 --imatrix-chunks 4 --eval-text " + text_path +
                          " --eval-ctx 128 --eval-chunks 4 --threads 2 --out " + out.string() + " --json";
  r = run_apex(dir, cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["steps"].size(), 5u);  // convert, imatrix, 2 tiers, evaluate
  for (const auto& s : j["steps"]) EXPECT_FALSE(s["skipped"].get<bool>()) << s.dump();
  const fs::path base = out / "tiny-moe-f16.gguf", imatrix = out / "imatrix.gguf";
  for (const fs::path& p : {base, imatrix, out / "tiny-moe-quality.gguf", out / "tiny-moe-i-compact.gguf",
                            out / "report.json"}) {
    EXPECT_TRUE(fs::exists(p)) << p;
  }

  // The converted file holds the original's tensors.
  auto a = gguf::File::open(original.string());
  auto b = gguf::File::open(base.string());
  ASSERT_TRUE(a.ok() && b.ok());
  for (const auto& t : (*a)->tensors()) {
    const gguf::TensorInfo* u = (*b)->find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    const auto x = (*a)->tensor_data(t), y = (*b)->tensor_data(*u);
    EXPECT_TRUE(x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin())) << t.name;
  }

  // Each tier is what the single commands make.
  ASSERT_EQ(j["models"].size(), 3u);
  for (const char* profile : {"quality", "i-compact"}) {
    const fs::path tier = out / ("tiny-moe-" + std::string(profile) + ".gguf");
    const fs::path again = dir / ("again-" + std::string(profile) + ".gguf");
    r = run_apex(dir, "quantize " + base.string() + " " + again.string() + " --profile " + profile +
                          " --imatrix " + imatrix.string() + " --threads 2 --no-progress");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(testing::slurp(tier), testing::slurp(again)) << profile;
    fs::remove(again);
  }
  // The evaluation is `apex eval`'s with the converted file as the base
  // (whose PPL/KLD tests/eval_report checks against apex perplexity / kld).
  r = run_apex(dir, "eval --base " + base.string() + " " + (out / "tiny-moe-quality.gguf").string() + " " +
                        (out / "tiny-moe-i-compact.gguf").string() + " -f " + text_path +
                        " --ctx 128 --chunks 4 --threads 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto e = nlohmann::json::parse(r.out);
  ASSERT_EQ(e["models"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(e["models"][i]["ppl"], j["eval"]["models"][i]["ppl"]) << i;
    EXPECT_EQ(e["models"][i]["kld"], j["eval"]["models"][i]["kld"]) << i;
    EXPECT_EQ(j["models"][i]["ppl"].get<double>(), e["models"][i]["ppl"]["value"].get<double>()) << i;
  }
  EXPECT_TRUE(fs::exists(out / "report.md"));
  EXPECT_TRUE(fs::exists(out / "report.html"));
  EXPECT_LT(j["models"][2]["file_bytes"].get<uint64_t>(), j["models"][0]["file_bytes"].get<uint64_t>());

  // A rerun reuses every output.
  const auto stamp = fs::last_write_time(out / "tiny-moe-quality.gguf");
  r = run_apex(dir, cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j2 = nlohmann::json::parse(r.out);
  for (size_t i = 0; i < j2["steps"].size(); ++i) EXPECT_TRUE(j2["steps"][i]["skipped"].get<bool>()) << i;
  EXPECT_EQ(fs::last_write_time(out / "tiny-moe-quality.gguf"), stamp);
  EXPECT_EQ(j2["models"], j["models"]);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace apex
