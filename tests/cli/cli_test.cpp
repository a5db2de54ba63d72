// The apex binary as a user meets it: one clear line and a non-zero exit on
// bad input, nothing half-written after a failure or an interrupt, and
// --dry-run / --json telling the truth about what a real run writes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "cli/cli_test_support.h"
#include "gguf/gguf.h"

namespace {

namespace fs = std::filesystem;

using apex::testing::count_lines;
using apex::testing::expect_one_line_error;
using apex::testing::RunResult;
using apex::testing::slurp;

fs::path scratch() {
  static fs::path d = apex::testing::cli_scratch("apex_cli_test");
  return d;
}

RunResult run(const std::string& args) { return apex::testing::run_apex(scratch(), args); }

const fs::path& small_model() {
  static fs::path p = [] {
    fs::path m = scratch() / "small.gguf";
    RunResult r = run("synth --arch qwen3moe --layers 2 --embd 256 --experts 4 --ff 256 --vocab 300 --no-progress " +
                      m.string());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return m;
  }();
  return p;
}

std::vector<fs::path> leftovers(const fs::path& target) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(target.parent_path())) {
    if (e.path().filename().string().rfind(target.filename().string(), 0) == 0) out.push_back(e.path());
  }
  return out;
}

TEST(Cli, UnknownFtypeNamesItAndListsChoices) {
  RunResult r = run("quantize " + small_model().string() + " " + (scratch() / "x.gguf").string() + " Q4_K_Z");
  expect_one_line_error(r, {"Q4_K_Z", "Q4_K_M", "Q8_0"});
  EXPECT_FALSE(fs::exists(scratch() / "x.gguf"));
}

TEST(Cli, MalformedTensorTypeNamesTheTextAndListsTypes) {
  RunResult r = run("quantize --tensor-type attn_v=q9_z " + small_model().string() + " " +
                    (scratch() / "x.gguf").string() + " Q4_K_M");
  expect_one_line_error(r, {"q9_z", "Q4_K", "IQ2_XXS"});
  r = run("quantize --tensor-type attn_v " + small_model().string() + " " + (scratch() / "x.gguf").string() +
          " Q4_K_M");
  expect_one_line_error(r, {"attn_v"});
}

TEST(Cli, MalformedTensorTypeFileNamesTheFileAndItem) {
  const fs::path tt = scratch() / "bad-types.txt";
  std::ofstream(tt) << "attn_v=q8_0\nffn_down_exps=q4_kk\n";
  RunResult r = run("quantize --tensor-type-file " + tt.string() + " " + small_model().string() + " " +
                    (scratch() / "x.gguf").string() + " Q4_K_M");
  expect_one_line_error(r, {"bad-types.txt", "q4_kk"});
}

TEST(Cli, MissingAndTruncatedInputsAreOneLineErrors) {
  RunResult r = run("quantize " + (scratch() / "nope.gguf").string() + " " + (scratch() / "x.gguf").string() + " Q8_0");
  expect_one_line_error(r, {"nope.gguf"});
  const std::string bytes = slurp(small_model());
  const fs::path cut = scratch() / "truncated.gguf";
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  r = run("quantize " + cut.string() + " " + (scratch() / "x.gguf").string() + " Q8_0");
  expect_one_line_error(r, {"truncated.gguf"});
  r = run("inspect " + cut.string());
  expect_one_line_error(r, {"truncated.gguf"});
  EXPECT_FALSE(fs::exists(scratch() / "x.gguf"));
}

TEST(Cli, NonFiniteWeightIsAnErrorNamingTensorAndLeavesNoFile) {
  // Put a NaN (F16 0x7E00) into the last tensor's data of a copy of the model.
  const fs::path bad = scratch() / "nan.gguf";
  fs::copy_file(small_model(), bad, fs::copy_options::overwrite_existing);
  std::string last_name;
  uint64_t offset = 0;
  {
    auto f = apex::gguf::File::open(bad.string());
    ASSERT_TRUE(f.ok()) << f.message();
    const auto& t = (*f)->tensors().back();
    ASSERT_EQ(t.type, 1) << "expected F16 " << t.name;
    last_name = t.name;
    offset = (*f)->data_offset() + t.offset + 2 * 17;
  }
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    const char nan16[2] = {0x00, 0x7E};
    f.write(nan16, 2);
  }
  const fs::path out = scratch() / "nan-q.gguf";
  RunResult r = run("quantize --no-progress " + bad.string() + " " + out.string() + " Q4_K_M");
  expect_one_line_error(r, {last_name, "non-finite", "17"});
  EXPECT_TRUE(leftovers(out).empty());
}

TEST(Cli, InterruptLeavesNoOutputAndInputUntouched) {
  const fs::path big = scratch() / "big.gguf";
  RunResult s = run("synth --arch qwen2moe --layers 6 --embd 1024 --heads 8 --kv-heads 4 --experts 16 --ff 1024 "
                    "--vocab 4096 --no-progress " + big.string());
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const std::string before = slurp(big);
  const fs::path out = scratch() / "big-q.gguf";
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(APEX_BINARY, APEX_BINARY, "quantize", "--threads", "1", big.c_str(), out.c_str(), "Q4_K_M", nullptr);
    _exit(127);
  }
  // Wait until the temp file exists (the run is under way), then interrupt.
  bool started = false;
  for (int i = 0; i < 400 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    started = !leftovers(out).empty();
  }
  ASSERT_TRUE(started) << "quantize did not start writing";
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << "exited before the interrupt; model too small?";
  EXPECT_TRUE(leftovers(out).empty()) << leftovers(out).front();
  EXPECT_TRUE(slurp(big) == before) << "input changed";
}

TEST(Cli, DryRunPredictsTheExactFileAndJsonParses) {
  const fs::path out = scratch() / "dry.gguf";
  RunResult dry = run("quantize --dry-run --json " + small_model().string() + " " + out.string() + " Q4_K_M");
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_FALSE(fs::exists(out));
  const auto plan = nlohmann::json::parse(dry.out);
  RunResult real = run("quantize --json --no-progress " + small_model().string() + " " + out.string() + " Q4_K_M");
  ASSERT_EQ(real.exit_code, 0) << real.err;
  const auto done = nlohmann::json::parse(real.out);
  EXPECT_EQ(plan["output_file_bytes"].get<uint64_t>(), fs::file_size(out));
  EXPECT_EQ(plan["tensors"].size(), done["tensors"].size());
  for (size_t i = 0; i < plan["tensors"].size(); ++i) {
    EXPECT_EQ(plan["tensors"][i]["type"], done["tensors"][i]["type"]);
    EXPECT_EQ(plan["tensors"][i]["bytes"], done["tensors"][i]["bytes"]);
  }
  RunResult inspect = run("inspect --json " + out.string());
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  const auto j = nlohmann::json::parse(inspect.out);
  EXPECT_EQ(j["metadata"]["general.file_type"], "15");
  EXPECT_EQ(j["tensors"].size(), done["tensors"].size());
  RunResult text = run("inspect " + out.string());
  EXPECT_NE(text.out.find("Q4_K"), std::string::npos);
  EXPECT_NE(text.out.find("bits per weight"), std::string::npos);
}

TEST(Cli, RepeatableOptionsDoNotSwallowPositionals) {
  const fs::path tt = scratch() / "types.txt";
  std::ofstream(tt) << "ffn_down_exps=q8_0 attn_v=q6_k\n";
  const fs::path out = scratch() / "tt.gguf";
  RunResult r = run("quantize --no-progress --json --tensor-type-file " + tt.string() + " --tensor-type ffn_up_exps=q5_k " +
                    small_model().string() + " " + out.string() + " Q4_K_M");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  int seen = 0;
  for (const auto& t : j["tensors"]) {
    const std::string name = t["name"];
    if (name.find("ffn_down_exps") != std::string::npos) { EXPECT_EQ(t["type"], "Q8_0"); ++seen; }
    if (name.find("ffn_up_exps") != std::string::npos) { EXPECT_EQ(t["type"], "Q5_K"); ++seen; }
    if (name.find("attn_v") != std::string::npos) { EXPECT_EQ(t["type"], "Q6_K"); ++seen; }
  }
  EXPECT_EQ(seen, 6);
}

// A legacy .dat imatrix (llama-imatrix's old format) for every matrix of
// `model`: one entry per tensor with ne0 values per matrix (experts back to
// back), ncall 1. `edit` may change entries before they are written.
struct DatEntry {
  std::string name;
  std::vector<float> values;
};
void write_dat_imatrix(const fs::path& path, const std::vector<DatEntry>& entries) {
  std::ofstream f(path, std::ios::binary);
  auto put_i32 = [&](int32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  put_i32(static_cast<int32_t>(entries.size()));
  for (const auto& e : entries) {
    put_i32(static_cast<int32_t>(e.name.size()));
    f.write(e.name.data(), static_cast<std::streamsize>(e.name.size()));
    put_i32(1);  // ncall
    put_i32(static_cast<int32_t>(e.values.size()));
    f.write(reinterpret_cast<const char*>(e.values.data()), static_cast<std::streamsize>(4 * e.values.size()));
  }
}
std::vector<DatEntry> full_imatrix(const fs::path& model) {
  std::vector<DatEntry> out;
  auto f = apex::gguf::File::open(model.string());
  EXPECT_TRUE(f.ok()) << f.message();
  for (const auto& t : (*f)->tensors()) {
    if (t.ne.size() < 2) continue;
    const int64_t n = t.ne[0] * (t.ne.size() > 2 ? t.ne[2] : 1);
    DatEntry e{t.name, std::vector<float>(static_cast<size_t>(n))};
    for (int64_t i = 0; i < n; ++i) e.values[i] = 0.5f + static_cast<float>(i % 7);
    out.push_back(std::move(e));
  }
  return out;
}
DatEntry& entry_named(std::vector<DatEntry>& entries, const std::string& name) {
  for (auto& e : entries)
    if (e.name == name) return e;
  ADD_FAILURE() << "no imatrix entry " << name;
  return entries.front();
}

// A complete imatrix works: the error cases below are not spurious.
TEST(Cli, IQuantWithCompleteImatrixSucceeds) {
  const fs::path im = scratch() / "good.dat", out = scratch() / "iq-good.gguf";
  write_dat_imatrix(im, full_imatrix(small_model()));
  RunResult r = run("quantize --no-progress --imatrix " + im.string() + " " + small_model().string() + " " +
                    out.string() + " IQ2_XXS");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out));
}

TEST(Cli, TypeNeedingImatrixWithoutOneNamesTensorAndFlag) {
  const fs::path out = scratch() / "iq-none.gguf";
  RunResult r = run("quantize --no-progress " + small_model().string() + " " + out.string() + " IQ2_XXS");
  expect_one_line_error(r, {"blk.0.", "IQ2_XXS", "--imatrix"});
  EXPECT_TRUE(leftovers(out).empty());
  // A single tensor forced to a type that needs an imatrix, too.
  r = run("quantize --no-progress --tensor-type blk.1.attn_q=iq1_s " + small_model().string() + " " + out.string() +
          " Q4_K_M");
  expect_one_line_error(r, {"blk.1.attn_q.weight", "IQ1_S", "--imatrix"});
  EXPECT_TRUE(leftovers(out).empty());
}

TEST(Cli, ImatrixMissingOneTensorNeededByItsTypeNamesIt) {
  auto entries = full_imatrix(small_model());
  std::erase_if(entries, [](const DatEntry& e) { return e.name == "blk.1.ffn_gate_exps.weight"; });
  const fs::path im = scratch() / "partial.dat", out = scratch() / "iq-partial.gguf";
  write_dat_imatrix(im, entries);
  RunResult r = run("quantize --no-progress --imatrix " + im.string() + " " + small_model().string() + " " +
                    out.string() + " IQ2_XXS");
  expect_one_line_error(r, {"blk.1.ffn_gate_exps.weight", "IQ2_XXS", im.string()});
  EXPECT_TRUE(leftovers(out).empty());
}

TEST(Cli, ImatrixOfWrongLengthNamesTensorAndSizes) {
  auto entries = full_imatrix(small_model());
  DatEntry& e = entry_named(entries, "blk.0.ffn_down_exps.weight");
  const size_t right = e.values.size();
  e.values.resize(right - 5);
  const fs::path im = scratch() / "short.dat", out = scratch() / "iq-short.gguf";
  write_dat_imatrix(im, entries);
  RunResult r = run("quantize --no-progress --imatrix " + im.string() + " " + small_model().string() + " " +
                    out.string() + " IQ4_XS");
  expect_one_line_error(r, {"blk.0.ffn_down_exps.weight", std::to_string(right - 5), std::to_string(right)});
  EXPECT_TRUE(leftovers(out).empty());
}

TEST(Cli, NonFiniteImatrixValueNamesEntry) {
  auto entries = full_imatrix(small_model());
  entry_named(entries, "blk.1.attn_k.weight").values[3] = std::numeric_limits<float>::infinity();
  const fs::path im = scratch() / "inf.dat", out = scratch() / "iq-inf.gguf";
  write_dat_imatrix(im, entries);
  RunResult r = run("quantize --no-progress --imatrix " + im.string() + " " + small_model().string() + " " +
                    out.string() + " IQ3_S");
  expect_one_line_error(r, {"blk.1.attn_k.weight", "non-finite", im.string()});
  EXPECT_TRUE(leftovers(out).empty());
}

TEST(Cli, HelpTeaches) {
  RunResult r = run("quantize --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Q4_K_M"), std::string::npos);
  EXPECT_NE(r.out.find("--tensor-type"), std::string::npos);
  EXPECT_NE(r.out.find("--imatrix"), std::string::npos);
}

}  // namespace
