// apex hellaswag picks the tasks llama-perplexity --hellaswag picks and chooses
// the ending its rule chooses on llama.cpp's own logits.
#include <gtest/gtest.h>

#include "engine/weights.h"
#include "eval/tasks_hellaswag.h"
#include "task_oracle_support.h"

namespace apex::eval {
namespace {

using namespace apex::eval::testing;

// llama.cpp's selection, written as it reads: draw from the tasks left, erase.
std::vector<size_t> llama_hellaswag_order(size_t n_total, size_t n) {
  std::vector<size_t> left;
  for (size_t i = 0; i < n_total; ++i) left.push_back(i);
  std::mt19937 rng(1);
  std::vector<size_t> out;
  for (size_t i = 0; i < std::min(n, n_total); ++i) {
    std::uniform_int_distribution<size_t> dist(0, left.size() - 1);
    size_t k = dist(rng);
    out.push_back(left[k]);
    left.erase(left.begin() + k);
  }
  return out;
}

TEST(Hellaswag, PickOrderIsLlamaCpps) {
  EXPECT_EQ(hellaswag_pick(10042, 50), llama_hellaswag_order(10042, 50));
  EXPECT_EQ(hellaswag_pick(7, 7), llama_hellaswag_order(7, 7));
  EXPECT_EQ(hellaswag_pick(7, 100).size(), 7u);
}

TEST(Hellaswag, TinyMoeMatchesOracleScoring) {
  const std::string file = data_file("hellaswag/hellaswag_val_full.txt");
  if (!have(tiny_model()) || !have(file)) GTEST_SKIP() << "no tiny model or HellaSwag file";
  auto tasks = read_hellaswag(file);
  ASSERT_TRUE(tasks) << tasks.message();
  ASSERT_EQ(tasks->size(), 10042u);

  const size_t n = 6;
  auto model = engine::load_model(tiny_model());
  ASSERT_TRUE(model) << model.message();
  TaskOptions opts;
  opts.n_tasks = n;
  opts.n_ctx = 512;
  auto ours = hellaswag_score(**model, *tasks, opts);
  ASSERT_TRUE(ours) << ours.message();
  ASSERT_EQ(ours->outcomes.size(), n);

  // The file read plainly: 6 lines per task.
  std::vector<std::string> lines;
  {
    std::istringstream in(slurp_file(file));
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  const std::vector<size_t> order = llama_hellaswag_order(lines.size() / 6, n);
  int correct = 0;
  for (size_t t = 0; t < n; ++t) {
    const size_t idx = order[t];
    EXPECT_EQ(ours->outcomes[t].index, idx);
    const std::string ctx = lines[idx * 6];
    const int gold = std::stoi(lines[idx * 6 + 1]);
    std::vector<std::vector<int32_t>> seqs;
    for (int e = 0; e < 4; ++e) seqs.push_back(oracle_tokens(ctx + " " + lines[idx * 6 + 2 + e]));
    const size_t cp = shared_prefix(seqs);
    std::vector<double> score(4);
    for (int e = 0; e < 4; ++e) {
      const OracleRows rows = oracle_rows(seqs[e]);
      double sum = logprob_softmax(rows.row(cp - 1), rows.n_vocab, seqs[e][cp]);
      int count = 1;
      for (size_t j = cp; j + 1 < seqs[e].size(); ++j) {
        sum += logprob_f(rows.row(j), rows.n_vocab, seqs[e][j + 1]);
        ++count;
      }
      score[e] = sum / count;
      EXPECT_NEAR(ours->outcomes[t].scores[e], score[e], 1e-4) << "task " << idx << " ending " << e;
    }
    const int chosen = first_max(score);
    EXPECT_EQ(ours->outcomes[t].chosen, chosen) << "task " << idx;
    EXPECT_EQ(ours->outcomes[t].gold, gold);
    correct += chosen == gold;
  }
  EXPECT_EQ(ours->n_correct, correct);
  EXPECT_NEAR(ours->accuracy, 100.0 * correct / n, 1e-4);
  const double p = double(correct) / n;
  EXPECT_NEAR(ours->stderr_, 100.0 * std::sqrt(p * (1 - p) / (n - 1)), 1e-3);
  std::printf("  hellaswag on tiny-moe: %d of %zu tasks, acc_norm %.2f +/- %.2f\n", correct, n,
              ours->accuracy, ours->stderr_);
}

TEST(Hellaswag, MalformedRecordsNameTheTask) {
  auto bad_label = parse_hellaswag("ctx a\n0\na\nb\nc\nd\nctx b\n7\na\nb\nc\nd\n", "f.txt");
  ASSERT_FALSE(bad_label);
  EXPECT_EQ(bad_label.message(), "f.txt: task 2 (line 8): gold label '7' is not 0..3");
  auto short_file = parse_hellaswag("ctx a\n0\na\nb\nc\nd\nctx b\n1\na\n", "f.txt");
  ASSERT_FALSE(short_file);
  EXPECT_EQ(short_file.message(), "f.txt: task 2 (line 7): incomplete, 3 of its 6 lines present");
}

}  // namespace
}  // namespace apex::eval
