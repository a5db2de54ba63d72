// Per-format quantization speed: apex's fast path vs the oracle's
// ggml_quantize_chunk on the same rows (4096-wide, weight-like values, an
// imatrix-like importance vector), one thread each, same process, checking
// the bytes are identical. Also times each side's first call (lookup-grid
// initialisation for i-quants).
//
//   format_bench [TYPE...]        default: every type apex implements
//
// Prints Markdown rows for docs/BENCHMARKS.md. Not a test.
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "oracle/oracle.h"
#include "quant/type_table.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
  using namespace apex;
  std::vector<quant::TypeId> types;
  for (int i = 1; i < argc; ++i) {
    auto t = quant::parse_type_name(argv[i]);
    if (!t.ok()) {
      fmt::print(stderr, "{}\n", t.message());
      return 2;
    }
    types.push_back(*t);
  }
  if (types.empty()) {
    for (const auto& t : quant::all_types())
      if (t.quantize != nullptr && t.is_quantized) types.push_back(t.id);
  }
  constexpr int64_t kRow = 4096, kRows = 256;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::lognormal_distribution<float> lognormal(0.0f, 1.0f);
  std::vector<float> src(kRow * kRows), imatrix(kRow);
  for (auto& v : src) v = 0.02f * normal(rng);
  for (auto& v : imatrix) v = lognormal(rng);

  fmt::print("| type | oracle first call | apex first call | oracle rows/s | apex rows/s | speed-up | identical |\n");
  fmt::print("|---|---|---|---|---|---|---|\n");
  for (quant::TypeId id : types) {
    const quant::TypeTraits& t = quant::traits(id);
    const size_t bytes = quant::row_bytes(id, kRow) * kRows;
    std::vector<uint8_t> ours(bytes), theirs(bytes);
    // First call on one row: includes any one-time table construction.
    auto t0 = Clock::now();
    oracle::quantize_chunk(static_cast<int>(id), src.data(), theirs.data(), 0, 1, kRow, imatrix.data());
    const double oracle_first = seconds_since(t0);
    t0 = Clock::now();
    t.quantize(src.data(), ours.data(), 1, kRow, imatrix.data());
    const double apex_first = seconds_since(t0);

    t0 = Clock::now();
    oracle::quantize_chunk(static_cast<int>(id), src.data(), theirs.data(), 0, kRows, kRow, imatrix.data());
    const double oracle_s = seconds_since(t0);
    t0 = Clock::now();
    t.quantize(src.data(), ours.data(), kRows, kRow, imatrix.data());
    const double apex_s = seconds_since(t0);
    const bool same = std::memcmp(ours.data(), theirs.data(), bytes) == 0;
    fmt::print("| {} | {:.3f} s | {:.4f} s | {:.0f} | {:.0f} | {:.2f}x | {} |\n", t.name, oracle_first, apex_first,
               kRows / oracle_s, kRows / apex_s, oracle_s / apex_s, same ? "yes" : "NO");
  }
  return 0;
}
