// `apex plan` and `apex quantize --profile` as a user meets them: the plan's
// size is the size of the file quantize writes, the tier travels in the
// file's metadata, and bad input gets one line naming what is wrong.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/cli_test_support.h"
#include "gguf/gguf.h"

namespace {

namespace fs = std::filesystem;

using apex::testing::count_lines;
using apex::testing::expect_one_line_error;
using apex::testing::RunResult;
using apex::testing::slurp;

fs::path scratch() {
  static fs::path d = apex::testing::cli_scratch("apex_plan_cli_test");
  return d;
}

RunResult run(const std::string& args) { return apex::testing::run_apex(scratch(), args); }

// qwen2moe with 22 layers: edge, near-edge and two middle layers.
const fs::path& moe_model() {
  static fs::path p = [] {
    fs::path m = scratch() / "moe22.gguf";
    RunResult r = run("synth --arch qwen2moe --layers 22 --embd 256 --experts 3 --ff 256 --vocab 300 "
                      "--name 'My MoE 22L' --no-progress " + m.string());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return m;
  }();
  return p;
}

TEST(PlanCli, PlanSizeIsTheSizeQuantizeWrites) {
  const fs::path in = moe_model();
  RunResult plan = run("plan " + in.string() + " --profile balanced --json");
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const auto j = nlohmann::json::parse(plan.out);
  EXPECT_EQ(j["profile"], "balanced");
  EXPECT_EQ(j["base_ftype"], "Q6_K");
  EXPECT_EQ(j["n_layer"], 22);
  EXPECT_EQ(j["tensors"][0]["name"], "output.weight");  // llama.cpp's order
  const uint64_t planned_file = j["output_file_bytes"].get<uint64_t>();

  const fs::path out = scratch() / "balanced.gguf";
  RunResult q = run("quantize --profile balanced --no-progress " + in.string() + " " + out.string());
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_EQ(fs::file_size(out), planned_file);

  // The tier travels in the file; the model name stays.
  RunResult info = run("inspect " + out.string());
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("APEX tier: balanced"), std::string::npos) << info.out.substr(0, 400);
  RunResult info_json = run("inspect --json " + out.string());
  const auto ij = nlohmann::json::parse(info_json.out);
  EXPECT_EQ(ij["apex"]["profile"], "balanced");
  EXPECT_EQ(ij["metadata"]["general.name"], "\"My MoE 22L\"");  // inspect quotes strings
  EXPECT_NE(ij["metadata"]["apex.plan"].get<std::string>().find("routed_experts=Q6_K:30,Q5_K:36"),
            std::string::npos)
      << ij["metadata"]["apex.plan"];

  // The human table names roles and classes.
  RunResult text = run("plan " + in.string() + " --profile quality");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("blk.10.ffn_up_exps.weight"), std::string::npos);
  EXPECT_NE(text.out.find("routed_experts"), std::string::npos);
  EXPECT_NE(text.out.find("IQ4_XS"), std::string::npos);
  EXPECT_NE(text.out.find("output file: "), std::string::npos);
}

TEST(PlanCli, EmittedTensorTypeFileReproducesTheProfileThroughPlainQuantize) {
  const fs::path in = moe_model();
  const fs::path tt = scratch() / "compact.txt";
  RunResult plan = run("plan " + in.string() + " --profile compact --summary --emit-tensor-type-file " + tt.string());
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const fs::path a = scratch() / "compact-profile.gguf", b = scratch() / "compact-ttfile.gguf";
  ASSERT_EQ(run("quantize --profile compact --no-progress " + in.string() + " " + a.string()).exit_code, 0);
  RunResult plain = run("quantize --tensor-type-file " + tt.string() + " --no-progress " + in.string() + " " +
                        b.string() + " Q4_K_M");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  auto fa = apex::gguf::File::open(a.string());
  auto fb = apex::gguf::File::open(b.string());
  ASSERT_TRUE(fa.ok() && fb.ok());
  ASSERT_EQ((*fa)->tensors().size(), (*fb)->tensors().size());
  for (size_t i = 0; i < (*fa)->tensors().size(); ++i) {
    const auto& ta = (*fa)->tensors()[i];
    const auto& tb = (*fb)->tensors()[i];
    EXPECT_EQ(ta.name, tb.name);
    EXPECT_EQ(ta.type, tb.type) << ta.name;
    auto da = (*fa)->tensor_data(ta);
    auto db = (*fb)->tensor_data(tb);
    EXPECT_TRUE(da.size() == db.size() && std::memcmp(da.data(), db.data(), da.size()) == 0) << ta.name;
  }
  EXPECT_EQ((*fb)->find("apex.profile"), nullptr);  // plain quantize adds no apex keys
  ASSERT_NE((*fa)->find("apex.profile"), nullptr);
}

TEST(PlanCli, LayersModeEqualsGenerateConfig) {
  RunResult r = run("plan --layers 40 --profile mini --emit-tensor-type-file -");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, slurp(fs::path(APEX_TEST_DATA_DIR) / "apex_config" / "mini-40.txt"));
  RunResult c = run("plan --layers 12 --profile custom --edge-exp Q8_0 --mid-exp q4_k --mid-shared Q6_K "
                    "--edge-attn Q5_K --emit-tensor-type-file -");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out, slurp(fs::path(APEX_TEST_DATA_DIR) / "apex_config" /
                         "custom-edgeQ8_0-midq4_k-midsharedQ6_K-edgeattnQ5_K-12.txt"));
}

TEST(PlanCli, ProfilesNeedingAnImatrixRefuseWithoutOne) {
  const fs::path in = moe_model();
  const fs::path out = scratch() / "mini.gguf";
  RunResult r = run("quantize --profile mini --no-progress " + in.string() + " " + out.string());
  expect_one_line_error(r, {"profile mini", "importance matrix", "blk.10.", "IQ2_S", "--imatrix FILE"});
  EXPECT_FALSE(fs::exists(out));
  // The plan still shows it, and says so.
  RunResult plan = run("plan " + in.string() + " --profile mini --summary");
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("need an importance matrix"), std::string::npos) << plan.out;
}

TEST(PlanCli, BadInputGetsOneLine) {
  const fs::path in = moe_model();
  expect_one_line_error(run("plan " + in.string() + " --profile qualty"),
                        {"unknown profile 'qualty'", "quality", "i-balanced", "mini", "i-micro", "custom"});
  const fs::path prof = scratch() / "typo.profile";
  std::ofstream(prof) << "base Q4_K_M\nrouted_experts edge Q4_K\nrouted_experts midle Q3_K\n";
  expect_one_line_error(run("plan " + in.string() + " --profile " + prof.string()),
                        {prof.string() + ":3:", "unknown layer class 'midle'"});
  expect_one_line_error(run("quantize --profile balanced " + in.string() + " out.gguf Q4_K_M"), {"no FTYPE"});
  expect_one_line_error(run("quantize --edge-exp Q4_K " + in.string() + " out.gguf Q4_K_M"), {"need --profile"});
  expect_one_line_error(run("plan " + in.string() + " --profile custom"), {"--edge-exp"});
  expect_one_line_error(run("plan " + in.string()), {"--profile"});
  expect_one_line_error(run("plan --shapes /nonexistent.json --profile mini"), {"/nonexistent.json"});
}

TEST(PlanCli, UserProfileFileAndDenseModelWarning) {
  const fs::path dense = scratch() / "dense.gguf";
  ASSERT_EQ(run("synth --arch llama --experts 0 --layers 2 --embd 256 --ff 512 --vocab 300 --no-progress " +
                dense.string()).exit_code, 0);
  const fs::path prof = scratch() / "mine.profile";
  std::ofstream(prof) << "# dense FFN at Q8_0, attention Q4_0\nbase Q4_K_M\ndense_ffn all Q8_0\nattention all Q4_0\n";
  RunResult r = run("plan " + dense.string() + " --profile " + prof.string() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["profile"], "mine");
  ASSERT_EQ(j["warnings"].size(), 1u);
  for (const auto& t : j["tensors"]) {
    if (t["role"] == "dense_ffn") EXPECT_EQ(t["type"], "Q8_0") << t["name"];
    if (t["role"] == "attention") EXPECT_EQ(t["type"], "Q4_0") << t["name"];
  }
  const fs::path out = scratch() / "dense-mine.gguf";
  RunResult q = run("quantize --profile " + prof.string() + " --no-progress " + dense.string() + " " + out.string());
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_NE(q.err.find("warning: no routed expert tensors"), std::string::npos) << q.err;
}

}  // namespace
