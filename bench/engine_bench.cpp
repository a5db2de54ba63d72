// Inference speed, apex vs llama.cpp (the oracle's libllama, best CPU variant
// for this machine), on the same GGUF file with the same thread count:
// prompt processing (n_prompt tokens in batches of 512) and generation
// (n_gen tokens one at a time), printed as tokens/s and ratios.
//
// Single runs on a small shared machine spread widely (+-20% from run to
// run, for both engines), so the two engines alternate `runs` times, each
// run in a fresh context, and the table gives each engine's median with
// the ratio of the medians; the range of the per-run ratios follows it.
//
//   engine_bench MODEL.gguf [threads=2] [n_prompt=512] [n_gen=128] [runs=1]
// APEX_BENCH_APEX_ONLY=1 skips the oracle (profiling apex alone).
#include <sys/resource.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/forward.h"
#include "oracle/oracle.h"

namespace {

struct Speed {
  double pp = 0, tg = 0;  // tokens/s
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

long page_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt + ru.ru_majflt;
}

// The benchmark's token stream (the oracle's measure_speed uses the same).
int32_t token_at(int i) { return 1 + i * 7 % 200; }

bool run_apex(const apex::engine::Model& model, int n_prompt, int n_gen, Speed& out) {
  using Clock = std::chrono::steady_clock;
  apex::engine::Context ctx(model, n_prompt + n_gen + 16);
  std::vector<int32_t> prompt;
  for (int i = 0; i < n_prompt; ++i) prompt.push_back(token_at(i));
  std::vector<float> last;
  const long f0 = page_faults();
  const auto t0 = Clock::now();
  if (!ctx.eval(prompt, nullptr, 512, &last)) return false;
  const auto t1 = Clock::now();
  const long f1 = page_faults();
  for (int i = 0; i < n_gen; ++i) {
    if (!ctx.eval(std::vector<int32_t>{token_at(n_prompt + i)}, nullptr, 1, &last)) return false;
  }
  const auto t2 = Clock::now();
  std::fprintf(stderr, "apex page faults: prompt %ld, generation %ld\n", f1 - f0, page_faults() - f1);
  out.pp = n_prompt / std::chrono::duration<double>(t1 - t0).count();
  out.tg = n_gen / std::chrono::duration<double>(t2 - t1).count();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [threads] [n_prompt] [n_gen] [runs]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int n_prompt = argc > 3 ? std::atoi(argv[3]) : 512;
  const int n_gen = argc > 4 ? std::atoi(argv[4]) : 128;
  const int runs = std::max(1, argc > 5 ? std::atoi(argv[5]) : 1);
  const bool apex_only = std::getenv("APEX_BENCH_APEX_ONLY") != nullptr;
  setenv("APEX_ORACLE_CPU", "best", 0);  // the oracle at its fastest

  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
  auto model = apex::engine::load_model(path);
  if (!model) {
    std::fprintf(stderr, "%s\n", model.message().c_str());
    return 1;
  }
  std::vector<double> apex_pp, apex_tg, ref_pp, ref_tg, pp_ratio, tg_ratio;
  for (int r = 0; r < runs; ++r) {
    Speed a;
    if (!run_apex(**model, n_prompt, n_gen, a)) return 1;
    apex_pp.push_back(a.pp);
    apex_tg.push_back(a.tg);
    if (apex_only) {
      std::printf("apex pp %.1f tg %.2f\n", a.pp, a.tg);
      continue;
    }
    const apex::oracle::SpeedResult ref = apex::oracle::measure_speed(path, n_prompt, n_gen, threads);
    if (!ref.ok) {
      std::fprintf(stderr, "oracle: %s\n", ref.error.c_str());
      return 1;
    }
    ref_pp.push_back(n_prompt / ref.prompt_seconds);
    ref_tg.push_back(n_gen / ref.gen_seconds);
    pp_ratio.push_back(apex_pp.back() / ref_pp.back());
    tg_ratio.push_back(apex_tg.back() / ref_tg.back());
  }
  if (apex_only) return 0;
  const auto range = [](const std::vector<double>& v) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    char s[64];
    std::snprintf(s, sizeof s, "%.2f-%.2fx", *lo, *hi);
    return std::string(s);
  };
  std::printf("| model | threads | runs | pp%d apex t/s | pp llama.cpp t/s | ratio (range) | tg%d apex t/s | "
              "tg llama.cpp t/s | ratio (range) |\n",
              n_prompt, n_gen);
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  const double ap = median(apex_pp), rp = median(ref_pp), at = median(apex_tg), rt = median(ref_tg);
  std::printf("| %s | %d | %d | %.1f | %.1f | %.2fx (%s) | %.2f | %.2f | %.2fx (%s) |\n",
              path.substr(path.rfind('/') + 1).c_str(), threads, runs, ap, rp, ap / rp, range(pp_ratio).c_str(),
              at, rt, at / rt, range(tg_ratio).c_str());
  return 0;
}
