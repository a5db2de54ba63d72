// The task commands as a user meets them: a malformed record gives one line
// naming it and a non-zero exit; a good file prints the final line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "task_oracle_support.h"
#include "support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace apex::eval::testing;

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

fs::path scratch() {
  static fs::path d = [] {
    return apex::test_support::process_scratch("apex_tasks_cli");  // removed at exit
  }();
  return d;
}

RunResult run(const std::string& args) {
  const fs::path out = scratch() / "stdout.txt", err = scratch() / "stderr.txt";
  const std::string cmd = std::string(APEX_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp_file(out.string()), slurp_file(err.string())};
}

std::string write(const std::string& name, const std::string& text) {
  const fs::path p = scratch() / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(TasksCli, MalformedRecordsGiveOneLineNamingTheRecord) {
  if (!have(tiny_model())) GTEST_SKIP() << "no tiny model";
  const std::string m = tiny_model();
  struct Case {
    std::string cmd, file, text, expect;
  };
  const std::vector<Case> cases = {
      {"hellaswag", "h.txt", "ctx\n0\na\nb\nc\nd\nctx2\nx\na\nb\nc\nd\n", "task 2 (line 8): gold label 'x' is not 0..3"},
      {"winogrande", "w.csv", "0,a _ b.,x,y,1\n1,a _ b.,x,y,9\n", "line 2: answer '9' is not 1 or 2"},
      {"winogrande", "w.jsonl", "{\"context_options\": [\"a x\", \"a y\"], \"continuation\": \"b\", \"gold\": 0}\nnot json\n",
       "line 2: not a JSON object"},
      {"multiple-choice", "a.jsonl", "{\"query\": \"Q\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n{\"query\": \"Q\", \"choices\": [\"a\", \"b\"], \"gold\": 4}\n",
       "line 2: \"gold\" is not an index into \"choices\""},
      {"multiple-choice", "m.csv", "question,choice0,choice1,answer\nq,a,b,0\nq,a,b,0,extra\n",
       "record 2 (line 3): 5 fields, the header has 4"},
  };
  for (const auto& c : cases) {
    const std::string path = write(c.file, c.text);
    const RunResult r = run(c.cmd + " " + m + " -f " + path);
    EXPECT_NE(r.exit_code, 0) << c.cmd << " " << c.file;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err, "apex: " + path + ": " + c.expect + "\n");
  }
}

TEST(TasksCli, JsonReportsAccuracyAndStderr) {
  const std::string data = data_file("hellaswag/hellaswag_val_full.txt");
  if (!have(tiny_model()) || !have(data)) GTEST_SKIP() << "no tiny model or data";
  const RunResult r = run("hellaswag " + tiny_model() + " -f " + data + " --tasks 3 --threads 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["task"], "hellaswag");
  EXPECT_EQ(j["tasks_evaluated"], 3);
  EXPECT_EQ(j["tasks_available"], 10042);
  EXPECT_TRUE(j.contains("accuracy") && j.contains("stderr"));
  const RunResult text = run("hellaswag " + tiny_model() + " -f " + data + " --tasks 3");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Final hellaswag accuracy (3 of 10042 tasks): "), std::string::npos) << text.out;
}

}  // namespace
