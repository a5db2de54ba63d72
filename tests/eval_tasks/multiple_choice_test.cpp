// apex multiple-choice picks the tasks llama-perplexity --multiple-choice
// picks and chooses the answer its rule chooses on llama.cpp's own logits, for
// ARC (llm-foundry JSONL), MMLU (CSV) and TruthfulQA (mc_task.json).
#include <gtest/gtest.h>

#include "engine/weights.h"
#include "eval/tasks_common.h"
#include "eval/tasks_multiple_choice.h"
#include "task_oracle_support.h"

namespace apex::eval {
namespace {

using namespace apex::eval::testing;

// The oracle's choice for one task: mean log-probability (float sum) of each
// answer's tokens after the shared prefix of question + " " + answer.
int oracle_choice(const MultipleChoiceTask& task, std::vector<float>& scores) {
  std::vector<std::vector<int32_t>> seqs;
  for (const auto& a : task.answers) seqs.push_back(oracle_tokens(task.question + " " + a));
  const size_t cp = shared_prefix(seqs);
  scores.clear();
  for (const auto& seq : seqs) {
    const OracleRows rows = oracle_rows(seq);
    float lp = logprob_softmax(rows.row(cp - 1), rows.n_vocab, seq[cp]);
    size_t count = 1;
    for (size_t j = cp; j + 1 < seq.size(); ++j) {
      lp += logprob_f(rows.row(j), rows.n_vocab, seq[j + 1]);
      ++count;
    }
    scores.push_back(lp / count);
  }
  return first_max(scores);
}

void check_against_oracle(const std::string& rel, size_t n, const char* what) {
  const std::string file = data_file(rel);
  if (!have(tiny_model()) || !have(file)) GTEST_SKIP() << "no tiny model or " << rel;
  auto tasks = read_multiple_choice(file);
  ASSERT_TRUE(tasks) << tasks.message();
  auto model = engine::load_model(tiny_model());
  ASSERT_TRUE(model) << model.message();
  TaskOptions opts;
  opts.n_tasks = n;
  opts.n_ctx = 512;
  auto ours = multiple_choice_score(**model, *tasks, opts);
  ASSERT_TRUE(ours) << ours.message();
  ASSERT_EQ(ours->outcomes.size(), n);

  // llama.cpp's pick, written as it reads.
  std::mt19937 rng(1);
  std::vector<int> aux;
  for (size_t i = 0; i < tasks->size(); ++i) aux.push_back(int(i));
  const float scale = 1.f / (1.f + (float)std::mt19937::max());
  int correct = 0;
  size_t n_answers = 0;
  for (size_t t = 0; t < n; ++t) {
    const int j = (int)(scale * rng() * aux.size());
    const size_t idx = aux[j];
    aux[j] = aux.back();
    aux.pop_back();
    EXPECT_EQ(ours->outcomes[t].index, idx);
    const MultipleChoiceTask& task = (*tasks)[idx];
    std::vector<float> scores;
    const int chosen = oracle_choice(task, scores);
    for (size_t k = 0; k < scores.size(); ++k) {
      EXPECT_NEAR(ours->outcomes[t].scores[k], scores[k], 1e-4) << what << " task " << idx << " answer " << k;
    }
    EXPECT_EQ(ours->outcomes[t].chosen, chosen) << what << " task " << idx;
    correct += task.labels[chosen] == 1;
    n_answers += task.answers.size();
  }
  EXPECT_EQ(ours->n_correct, correct);
  const float p = float(correct) / n;
  EXPECT_NEAR(ours->accuracy, 100.0 * p, 1e-4);
  EXPECT_NEAR(ours->stderr_, 100.0 * std::sqrt(p * (1 - p) / (n - 1)), 1e-3);
  EXPECT_NEAR(ours->random_chance, 100.0 * n / n_answers, 1e-4);
  std::printf("  %s on tiny-moe: %d of %zu tasks, %.2f +/- %.2f\n", what, correct, n, ours->accuracy,
              ours->stderr_);
}

TEST(MultipleChoice, ArcChallengeMatchesOracle) {
  check_against_oracle("arc/arc_challenge_test_llmfoundry.jsonl", 5, "arc-challenge");
}

TEST(MultipleChoice, MmluMatchesOracle) {
  check_against_oracle("mmlu/test/high_school_geography_test.csv", 4, "mmlu high_school_geography");
}

TEST(MultipleChoice, TruthfulQaMc1MatchesOracle) {
  check_against_oracle("truthfulqa/mc_task.json", 3, "truthfulqa mc1");
}

TEST(MultipleChoice, ReadersParseTheDatasets) {
  if (!have(data_file("mmlu/test/abstract_algebra_test.csv"))) GTEST_SKIP() << "no data";
  auto mmlu = read_multiple_choice(data_file("mmlu/test/abstract_algebra_test.csv"));
  ASSERT_TRUE(mmlu) << mmlu.message();
  EXPECT_EQ(mmlu->size(), 100u);
  EXPECT_EQ((*mmlu)[0].question, "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.");
  EXPECT_EQ((*mmlu)[0].answers, (std::vector<std::string>{"0", "4", "2", "6"}));
  EXPECT_EQ((*mmlu)[0].labels, (std::vector<int>{0, 1, 0, 0}));
  auto arc = read_multiple_choice(data_file("arc/arc_easy_test_llmfoundry.jsonl"));
  ASSERT_TRUE(arc) << arc.message();
  EXPECT_EQ(arc->size(), 2376u);
  auto tqa = read_multiple_choice(data_file("truthfulqa/mc_task.json"));
  ASSERT_TRUE(tqa) << tqa.message();
  ASSERT_EQ(tqa->size(), 817u);
  EXPECT_EQ((*tqa)[0].answers[0], "Nothing in particular happens when you eat a pomegranate.");
  EXPECT_EQ((*tqa)[0].labels[0], 1);
}

TEST(MultipleChoice, BinaryFormatRoundTripsAndNamesTruncatedTask) {
  std::vector<MultipleChoiceTask> tasks(2);
  tasks[0] = {"Q one?", {"a", "bb"}, {0, 1}};
  tasks[1] = {"Q two?", {"x", "y", "z"}, {1, 0, 0}};
  const std::string bin = write_multiple_choice_bin(tasks);
  auto back = parse_multiple_choice_bin(bin, "t.bin");
  ASSERT_TRUE(back) << back.message();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].question, "Q two?");
  EXPECT_EQ((*back)[1].answers, tasks[1].answers);
  EXPECT_EQ((*back)[1].labels, tasks[1].labels);
  auto cut = parse_multiple_choice_bin(bin.substr(0, bin.size() - 6), "t.bin");
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.message().find("t.bin: task 2 (offset "), std::string::npos) << cut.message();
}

TEST(MultipleChoice, MalformedCsvRecordNamesRecordAndLine) {
  auto bad = parse_mmlu_csv("question,choice0,choice1,answer\n\"a, b\",x,y,1\n\"multi\nline\",x,y,5\n", "m.csv");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.message(), "m.csv: record 2 (line 3): answer '5' is not an index 0..1");
  auto short_rec = parse_mmlu_csv("question,choice0,choice1,answer\nq,x,1\n", "m.csv");
  ASSERT_FALSE(short_rec);
  EXPECT_EQ(short_rec.message(), "m.csv: record 1 (line 2): 3 fields, the header has 4");
}

}  // namespace
}  // namespace apex::eval
