// What the engine says about models it cannot run: one error naming the file
// and what is missing (the architecture, a tensor), never a crash; and the
// apex commands built on it pass that on as one line.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "engine/engine_test_support.h"
#include "engine/weights.h"
#include "gguf/gguf.h"

namespace apex::engine {
namespace {

using testing::TempDir;

// A copy of `src` with its metadata edited by `edit` and tensors dropped by
// `keep` (data copied as is).
void rewrite(const std::string& src, const std::string& dst, const std::function<void(gguf::Layout&)>& edit,
             const std::function<bool(const std::string&)>& keep = [](const std::string&) { return true; }) {
  auto f = gguf::File::open(src);
  ASSERT_TRUE(f.ok()) << f.message();
  gguf::Layout layout;
  layout.kvs = (*f)->kvs();
  std::vector<std::span<const uint8_t>> data;
  for (const auto& t : (*f)->tensors()) {
    if (!keep(t.name)) continue;
    gguf::TensorInfo info;
    info.name = t.name;
    info.ne = t.ne;
    info.type = t.type;
    info.nbytes = t.nbytes;
    layout.tensors.push_back(info);
    data.push_back((*f)->tensor_data(t));
  }
  edit(layout);
  const Status s = gguf::write_file(dst, std::move(layout), data);
  ASSERT_TRUE(s.ok()) << s.message();
}

std::string run_apex_stderr(const std::string& args, int& exit_code) {
  TempDir dir;
  const std::string err = dir.file("err.txt");
  const int status = std::system((std::string(APEX_BINARY) + " " + args + " >/dev/null 2>" + err).c_str());
  exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(EngineBadInput, UnsupportedArchitectureIsNamedWithTheSupportedOnes) {
  TempDir dir;
  const std::string good = dir.file("good.gguf"), bad = dir.file("bloom.gguf");
  ASSERT_TRUE(synth::write_model(testing::synth_options("qwen3moe", 4, quant::TypeId::F16), good).ok());
  rewrite(good, bad, [](gguf::Layout& l) { l.set("general.architecture", gguf::Value(std::string("bloom"))); });
  auto m = load_model(bad);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("bloom"), std::string::npos) << m.message();
  EXPECT_NE(m.message().find("qwen3moe"), std::string::npos) << "should list what is supported: " << m.message();

  // The same through a command: one line, non-zero exit.
  const std::string text = dir.file("text.txt");
  std::ofstream(text) << "hello world";
  int rc = 0;
  const std::string err = run_apex_stderr("perplexity " + bad + " -f " + text, rc);
  EXPECT_NE(rc, 0);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("bloom"), std::string::npos) << err;
}

TEST(EngineBadInput, MissingTensorIsNamed) {
  TempDir dir;
  const std::string good = dir.file("good.gguf"), bad = dir.file("no-attn-k.gguf");
  ASSERT_TRUE(synth::write_model(testing::synth_options("qwen2moe", 4, quant::TypeId::F16), good).ok());
  rewrite(
      good, bad, [](gguf::Layout&) {}, [](const std::string& name) { return name != "blk.1.attn_k.weight"; });
  auto m = load_model(bad);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("blk.1.attn_k.weight"), std::string::npos) << m.message();
}

}  // namespace
}  // namespace apex::engine
