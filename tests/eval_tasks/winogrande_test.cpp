// apex winogrande picks the tasks llama-perplexity --winogrande picks and makes
// its choice (partial scoring, and its row quirk for the second candidate) on
// llama.cpp's own logits.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/weights.h"
#include "eval/tasks_common.h"
#include "eval/tasks_winogrande.h"
#include "task_oracle_support.h"

namespace apex::eval {
namespace {

using namespace apex::eval::testing;

// llama.cpp's float-scaled pick, written as it reads.
std::vector<size_t> llama_float_pick(size_t total, size_t n) {
  std::mt19937 rng(1);
  std::vector<int> aux;
  for (size_t i = 0; i < total; ++i) aux.push_back(int(i));
  float scale = 1 / (1.f + (float)rng.max());
  std::vector<size_t> out;
  for (size_t i = 0; i < n; ++i) {
    int j = int(scale * rng() * aux.size());
    out.push_back(aux[j]);
    aux[j] = aux.back();
    aux.pop_back();
  }
  return out;
}

TEST(Winogrande, PickOrderIsLlamaCpps) {
  EXPECT_EQ(float_scale_pick(1267, 40), llama_float_pick(1267, 40));
  EXPECT_EQ(float_scale_pick(14042, 100), llama_float_pick(14042, 100));
  EXPECT_EQ(float_scale_pick(5, 0), (std::vector<size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(float_scale_pick(5, 9), (std::vector<size_t>{0, 1, 2, 3, 4}));
}

TEST(Winogrande, CsvAndJsonlGiveTheSameTexts) {
  auto csv = parse_winogrande_csv(
      "index,sentence,option1,option2,answer\n"
      "0,Sarah was a much better surgeon than Maria so _ always got the easier cases.,Sarah,Maria,2\n",
      "w.csv");
  ASSERT_TRUE(csv) << csv.message();
  auto jl = parse_winogrande_jsonl(
      R"({"context_options": ["Sarah was a much better surgeon than Maria so Sarah", "Sarah was a much better surgeon than Maria so Maria"], "continuation": "always got the easier cases.", "gold": 1})",
      "w.jsonl");
  ASSERT_TRUE(jl) << jl.message();
  ASSERT_EQ(csv->size(), 1u);
  ASSERT_EQ(jl->size(), 1u);
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ((*csv)[0].first + (*csv)[0].choices[k] + (*csv)[0].second,
              (*jl)[0].first + (*jl)[0].choices[k] + (*jl)[0].second);
    EXPECT_EQ((*csv)[0].choices[k], (*jl)[0].choices[k]);
  }
  EXPECT_EQ((*csv)[0].answer, 2);
  EXPECT_EQ((*jl)[0].answer, 2);
}

TEST(Winogrande, TinyMoeMatchesOracleScoring) {
  const std::string file = data_file("winogrande/winogrande_dev_llmfoundry.jsonl");
  if (!have(tiny_model()) || !have(file)) GTEST_SKIP() << "no tiny model or Winogrande file";
  auto tasks = read_winogrande(file);
  ASSERT_TRUE(tasks) << tasks.message();
  ASSERT_EQ(tasks->size(), 1267u);
  const size_t n = 10;
  auto model = engine::load_model(tiny_model());
  ASSERT_TRUE(model) << model.message();
  TaskOptions opts;
  opts.n_tasks = n;
  opts.n_ctx = 512;
  auto ours = winogrande_score(**model, *tasks, opts);
  ASSERT_TRUE(ours) << ours.message();
  ASSERT_EQ(ours->outcomes.size(), n);

  // The JSONL read plainly; candidate k = context_options[k] + " " + continuation.
  std::vector<nlohmann::json> rows;
  {
    std::istringstream in(slurp_file(file));
    std::string line;
    while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  }
  const std::vector<size_t> order = llama_float_pick(rows.size(), n);
  int correct = 0, n_partial = 0;
  for (size_t t = 0; t < n; ++t) {
    const nlohmann::json& row = rows[order[t]];
    EXPECT_EQ(ours->outcomes[t].index, order[t]);
    std::vector<int32_t> seq[2];
    size_t n_base[2];
    OracleRows lg[2];
    for (int k = 0; k < 2; ++k) {
      const std::string opt = row["context_options"][k];
      seq[k] = oracle_tokens(opt + " " + row["continuation"].get<std::string>());
      n_base[k] = oracle_tokens(opt).size();
      lg[k] = oracle_rows(seq[k]);
    }
    size_t cp = 0;
    while (cp < seq[0].size() && cp < seq[1].size() && seq[0][cp] == seq[1][cp]) ++cp;
    const bool partial = seq[0].size() - cp > 3 && seq[1].size() - cp > 3;
    n_partial += partial;
    float score[2];
    for (int k = 0; k < 2; ++k) {
      const size_t nb = partial ? n_base[k] : cp;
      const size_t last = seq[k].size() - nb > 1 ? 1 : 0;
      float sum = 0;
      for (size_t j = nb - 1; j < seq[k].size() - 1 - last; ++j) {
        // llama.cpp's batch gives the second candidate, at the last prefix
        // position, the row of the first candidate's last token.
        const float* r = (k == 1 && j == cp - 1) ? lg[0].row(seq[0].size() - 1) : lg[k].row(j);
        sum += logprob_f(r, lg[k].n_vocab, seq[k][j + 1]);
      }
      score[k] = sum / (seq[k].size() - nb - last);
      EXPECT_NEAR(ours->outcomes[t].scores[k], score[k], 1e-4) << "task " << order[t] << " option " << k;
    }
    const int chosen = score[0] > score[1] ? 0 : 1;
    const int gold = row["gold"];
    EXPECT_EQ(ours->outcomes[t].chosen, chosen) << "task " << order[t];
    EXPECT_EQ(ours->outcomes[t].gold, gold);
    correct += chosen == gold;
  }
  EXPECT_EQ(ours->n_correct, correct);
  const float p = float(correct) / n;
  EXPECT_NEAR(ours->accuracy, 100.0 * p, 1e-4);
  EXPECT_NEAR(ours->stderr_, 100.0 * std::sqrt(p * (1 - p) / (n - 1)), 1e-3);
  std::printf("  winogrande on tiny-moe: %d of %zu tasks (%d partial), %.2f +/- %.2f\n", correct, n,
              n_partial, ours->accuracy, ours->stderr_);
}

TEST(Winogrande, MalformedRecordsNameTheLine) {
  auto no_blank = parse_winogrande_csv("0,a _ b.,x,y,1\n1,no blank here,x,y,2\n", "w.csv");
  ASSERT_FALSE(no_blank);
  EXPECT_EQ(no_blank.message(), "w.csv: line 2: the sentence has no '_' blank");
  auto bad_answer = parse_winogrande_csv("0,a _ b.,x,y,3\n", "w.csv");
  ASSERT_FALSE(bad_answer);
  EXPECT_EQ(bad_answer.message(), "w.csv: line 1: answer '3' is not 1 or 2");
  auto bad_json = parse_winogrande_jsonl(
      "{\"context_options\": [\"a x\", \"a y\"], \"continuation\": \"b\", \"gold\": 0}\n{\"gold\": 0}\n", "w.jsonl");
  ASSERT_FALSE(bad_json);
  EXPECT_EQ(bad_json.message(), "w.jsonl: line 2: \"context_options\" is not an array of 2 strings");
}

}  // namespace
}  // namespace apex::eval
