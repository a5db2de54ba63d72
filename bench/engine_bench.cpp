// Inference speed, apex vs llama.cpp (the oracle's libllama, best CPU variant
// for this machine), on the same GGUF file with the same thread count:
// prompt processing (n_prompt tokens in batches of 512) and generation
// (n_gen tokens one at a time), one run each, printed as tokens/s and ratios.
//
//   engine_bench MODEL.gguf [threads=2] [n_prompt=512] [n_gen=128]
// APEX_BENCH_APEX_ONLY=1 skips the oracle (profiling apex alone).
#include <sys/resource.h>
#include <tbb/global_control.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/forward.h"
#include "oracle/oracle.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [threads] [n_prompt] [n_gen]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int n_prompt = argc > 3 ? std::atoi(argv[3]) : 512;
  const int n_gen = argc > 4 ? std::atoi(argv[4]) : 128;
  setenv("APEX_ORACLE_CPU", "best", 0);  // the oracle at its fastest

  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
  auto model = apex::engine::load_model(path);
  if (!model) {
    std::fprintf(stderr, "%s\n", model.message().c_str());
    return 1;
  }
  using Clock = std::chrono::steady_clock;
  apex::engine::Context ctx(**model, n_prompt + n_gen + 16);
  std::vector<int32_t> prompt;
  for (int i = 0; i < n_prompt; ++i) prompt.push_back(1 + i * 7 % 200);
  std::vector<float> last;
  auto faults = [] {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt + ru.ru_majflt;
  };
  const long f0 = faults();
  auto t0 = Clock::now();
  if (!ctx.eval(prompt, nullptr, 512, &last)) return 1;
  auto t1 = Clock::now();
  const long f1 = faults();
  for (int i = 0; i < n_gen; ++i) {
    const int32_t tok = 1 + (n_prompt + i) * 7 % 200;
    if (!ctx.eval(std::vector<int32_t>{tok}, nullptr, 1, &last)) return 1;
  }
  auto t2 = Clock::now();
  std::fprintf(stderr, "apex page faults: prompt %ld, generation %ld\n", f1 - f0, faults() - f1);
  if (std::getenv("APEX_BENCH_APEX_ONLY")) {
    std::printf("apex pp %.1f tg %.2f\n", n_prompt / std::chrono::duration<double>(t1 - t0).count(),
                n_gen / std::chrono::duration<double>(t2 - t1).count());
    return 0;
  }
  const double apex_pp = n_prompt / std::chrono::duration<double>(t1 - t0).count();
  const double apex_tg = n_gen / std::chrono::duration<double>(t2 - t1).count();

  const apex::oracle::SpeedResult ref = apex::oracle::measure_speed(path, n_prompt, n_gen, threads);
  if (!ref.ok) {
    std::fprintf(stderr, "oracle: %s\n", ref.error.c_str());
    return 1;
  }
  const double ref_pp = n_prompt / ref.prompt_seconds, ref_tg = n_gen / ref.gen_seconds;
  std::printf("| model | threads | pp%d apex t/s | pp llama.cpp t/s | ratio | tg%d apex t/s | tg llama.cpp t/s | ratio |\n",
              n_prompt, n_gen);
  std::printf("|---|---|---|---|---|---|---|---|\n");
  std::printf("| %s | %d | %.1f | %.1f | %.2fx | %.2f | %.2f | %.2fx |\n",
              path.substr(path.rfind('/') + 1).c_str(), threads, apex_pp, ref_pp, apex_pp / ref_pp, apex_tg,
              ref_tg, apex_tg / ref_tg);
  return 0;
}
