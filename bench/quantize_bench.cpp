// apex quantize vs llama_model_quantize (the oracle) on the same model, same
// plan, same threads: wall time and peak RSS of each, as ratios from one run.
// Each side runs in its own child process so peak RSS is its own.
//
//   quantize_bench MODEL.gguf FTYPE THREADS [TENSOR_TYPE_FILE] [--imatrix FILE]
//
// The oracle side is this binary re-executed with "--oracle-child". Prints a
// Markdown table row for docs/BENCHMARKS.md. Not a test: nothing here asserts.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "imatrix/imatrix.h"
#include "oracle/oracle.h"
#include "plan/ftype.h"
#include "plan/tensor_type_overrides.h"

namespace {

struct Measured {
  double seconds = 0;
  long max_rss_kb = 0;
  int status = -1;
};

Measured run_child(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    // Only the table goes to stdout; the children's own reports are dropped.
    FILE* devnull = std::fopen("/dev/null", "w");
    if (devnull != nullptr) dup2(fileno(devnull), STDOUT_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  Measured m;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.max_rss_kb = ru.ru_maxrss;
  m.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return m;
}

// The oracle child: llama_model_quantize with the parameters llama-quantize
// would pass for the same command line.
int oracle_child(int argc, char** argv) {
  const std::string in = argv[2], out = argv[3], ftype_name = argv[4];
  const int threads = std::stoi(argv[5]);
  const std::string tt_file = argc > 6 ? argv[6] : "";
  const std::string imatrix_file = argc > 7 ? argv[7] : "";
  auto ftype = apex::plan::parse_ftype(ftype_name);
  if (!ftype.ok()) return 2;
  apex::oracle::QuantizeParams p = apex::oracle::default_quantize_params();
  p.nthread = threads;
  p.ftype = static_cast<int32_t>((*ftype)->ftype);
  apex::plan::TensorTypeOverrides overrides;
  std::vector<apex::oracle::TensorTypeOverride> tt;
  if (!tt_file.empty() && tt_file != "-") {
    if (!overrides.add_file(tt_file).ok()) return 2;
    for (const auto& o : overrides.items()) tt.push_back({o.pattern.c_str(), static_cast<int32_t>(o.type)});
    tt.push_back({nullptr, 0});
    p.tt_overrides = tt.data();
  }
  // As llama-quantize: importance vectors plus the quantize.imatrix.* keys.
  apex::oracle::ImatrixParams imatrix_params;
  if (!imatrix_file.empty()) {
    if (!imatrix_params.load(imatrix_file)) return 2;
    imatrix_params.apply(p);
  }
  return static_cast<int>(apex::oracle::model_quantize(in, out, p));
}

std::string self_path() { return std::filesystem::canonical("/proc/self/exe").string(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--oracle-child") == 0) return oracle_child(argc, argv);
  if (argc < 4) {
    fmt::print(stderr, "usage: {} MODEL.gguf FTYPE THREADS [TENSOR_TYPE_FILE|-] [IMATRIX]\n", argv[0]);
    return 2;
  }
  const std::string model = argv[1], ftype = argv[2], threads = argv[3];
  const std::string tt_file = argc > 4 ? argv[4] : "-";
  const std::string imatrix_file = argc > 5 ? argv[5] : "";
  const std::string apex_bin = std::filesystem::path(self_path()).parent_path().parent_path() / "apex";
  const std::string out_apex = model + ".bench-apex.gguf";
  const std::string out_oracle = model + ".bench-oracle.gguf";

  std::vector<std::string> oracle_argv = {self_path(), "--oracle-child", model, out_oracle, ftype, threads, tt_file};
  if (!imatrix_file.empty()) oracle_argv.push_back(imatrix_file);
  std::vector<std::string> apex_argv = {apex_bin, "quantize", "--no-progress", "--threads", threads};
  if (tt_file != "-") {
    apex_argv.push_back("--tensor-type-file");
    apex_argv.push_back(tt_file);
  }
  if (!imatrix_file.empty()) {
    apex_argv.push_back("--imatrix");
    apex_argv.push_back(imatrix_file);
  }
  apex_argv.insert(apex_argv.end(), {model, out_apex, ftype});

  // Read the model once so both runs start with it in the page cache.
  {
    std::ifstream warm(model, std::ios::binary);
    std::vector<char> buf(1 << 20);
    while (warm.read(buf.data(), buf.size())) {}
  }
  const Measured o = run_child(oracle_argv);
  const Measured a = run_child(apex_argv);
  bool same = false;
  if (o.status == 0 && a.status == 0) {
    std::ifstream fa(out_apex, std::ios::binary), fo(out_oracle, std::ios::binary);
    std::istreambuf_iterator<char> ia(fa), io(fo), end;
    same = std::equal(ia, end, io, end);
  }
  fmt::print("| {} | {} | {} | {:.2f} s | {:.2f} s | {:.2f}x | {:.0f} MiB | {:.0f} MiB | {:.2f}x | {} |\n",
             std::filesystem::path(model).filename().string(), ftype + (tt_file != "-" ? " + tensor-type file" : ""),
             threads, o.seconds, a.seconds, a.seconds / o.seconds, o.max_rss_kb / 1024.0,
             a.max_rss_kb / 1024.0, double(a.max_rss_kb) / double(o.max_rss_kb),
             o.status != 0 || a.status != 0 ? fmt::format("exit {} / {}", o.status, a.status)
                                            : (same ? "yes" : "NO"));
  std::filesystem::remove(out_apex);
  std::filesystem::remove(out_oracle);
  return 0;
}
