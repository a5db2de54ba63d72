// Speed of the generation kernels on their own: one thread, one activation
// row against every row of a weight matrix (what a token's matrix-vector
// product does), for the types a Q4_K_M / Q8_0 model spends its generation
// in. Two sizes: a matrix that stays in L2 (the kernel's arithmetic) and one
// of 256 MiB (streaming from memory, as in a real model). Best of several
// passes, as ns per 256 values and GB/s of weights read; the portable kernel
// (quant_dot.h, the scalar reference) is printed beside the SIMD one.
// Then the batched products (prompt processing): a 2048 x 2048 matrix times
// 64 tokens through matmul (panel decoding + panel GEMM), one thread.
//
//   row_kernel_bench [passes=7]
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "engine/kernels_simd.h"
#include "engine/matmul.h"
#include "engine/quant_dot.h"
#include "engine/weights.h"
#include "quant/type_table.h"

namespace {

using apex::quant::TypeId;

struct Case {
  TypeId type;
  float (*portable)(const uint8_t*, const uint8_t*, int64_t);
};

double best_pass_seconds(apex::engine::RowDotFn fn, const std::vector<uint8_t>& w, size_t row_bytes,
                         int64_t n_rows, const uint8_t* act, int64_t n_in, int passes, float& sink) {
  double best = 1e30;
  for (int p = 0; p < passes; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    float s = 0.0f;
    for (int64_t r = 0; r < n_rows; ++r) s += fn(w.data() + static_cast<size_t>(r) * row_bytes, act, n_in);
    const auto t1 = std::chrono::steady_clock::now();
    sink += s;
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int passes = argc > 1 ? std::atoi(argv[1]) : 7;
  const int64_t n_in = 2048;
  const Case cases[] = {{TypeId::Q4_K, apex::engine::dot_q4_k_q8_k},
                        {TypeId::Q6_K, apex::engine::dot_q6_k_q8_k},
                        {TypeId::Q8_0, apex::engine::dot_q8_0_q8_0}};
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_in));
  for (float& v : x) v = dist(rng);
  float sink = 0.0f;
  std::printf("| type | matrix | SIMD ns/256 values | SIMD GB/s | portable ns/256 values | speed-up |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const Case& c : cases) {
    const auto& tt = apex::quant::traits(c.type);
    const size_t row_bytes = static_cast<size_t>(n_in / tt.block_size) * tt.block_bytes;
    apex::engine::Activations act;
    apex::engine::prepare_activations(c.type, x.data(), 1, n_in, n_in, act);
    // One quantized row, repeated: quantizing 256 MiB would dominate the run.
    std::vector<float> wf(static_cast<size_t>(n_in) * 16);
    for (float& v : wf) v = 0.05f * dist(rng);
    std::vector<uint8_t> tile(row_bytes * 16);
    tt.quantize(wf.data(), tile.data(), 16, n_in, nullptr);
    for (const size_t bytes : {size_t{512} << 10, size_t{256} << 20}) {
      const int64_t n_rows = static_cast<int64_t>(bytes / row_bytes) / 16 * 16;
      std::vector<uint8_t> w(row_bytes * static_cast<size_t>(n_rows));
      for (int64_t r = 0; r < n_rows; r += 16) std::copy(tile.begin(), tile.end(), w.begin() + static_cast<ptrdiff_t>(r * row_bytes));
      const double fast = best_pass_seconds(apex::engine::simd::row_dot_kernel(c.type), w, row_bytes, n_rows,
                                            act.raw_row(0), n_in, passes, sink);
      const double slow = best_pass_seconds(c.portable, w, row_bytes, n_rows, act.raw_row(0), n_in,
                                            bytes > (size_t{1} << 20) ? 1 : passes, sink);
      const double per = 1e9 / static_cast<double>(n_rows * n_in / 256);
      std::printf("| %s | %s | %.1f | %.1f | %.1f | %.2fx |\n", tt.name, bytes > (size_t{1} << 20) ? "256 MiB" : "512 KiB",
                  fast * per, static_cast<double>(w.size()) / fast * 1e-9, slow * per, slow / fast);
    }
  }
  // Batched: one thread, so the figure is the kernels' own.
  tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  const int64_t n_out = 2048, n_tok = 64;
  std::printf("\n| type | batched %ldx%ld x %ld tokens, best ms | GMAC/s |\n|---|---|---|\n",
              static_cast<long>(n_out), static_cast<long>(n_in), static_cast<long>(n_tok));
  for (const Case& c : cases) {
    const auto& tt = apex::quant::traits(c.type);
    const size_t row_bytes = static_cast<size_t>(n_in / tt.block_size) * tt.block_bytes;
    std::vector<float> wf(static_cast<size_t>(n_in * n_out));
    for (float& v : wf) v = 0.05f * dist(rng);
    std::vector<uint8_t> wq(row_bytes * static_cast<size_t>(n_out));
    tt.quantize(wf.data(), wq.data(), n_out, n_in, nullptr);
    apex::engine::Weight w;
    w.data = wq.data();
    w.type = c.type;
    w.n_in = n_in;
    w.n_out = n_out;
    w.row_bytes = row_bytes;
    w.name = "bench";
    std::vector<float> xs(static_cast<size_t>(n_in * n_tok));
    for (float& v : xs) v = dist(rng);
    apex::engine::Activations act;
    apex::engine::prepare_activations(c.type, xs.data(), n_tok, n_in, n_in, act);
    std::vector<float> y(static_cast<size_t>(n_out * n_tok));
    double best = 1e30;
    for (int p = 0; p < passes; ++p) {
      const auto t0 = std::chrono::steady_clock::now();
      apex::engine::matmul(w, 0, act, y.data(), n_out);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      sink += y[0];
    }
    std::printf("| %s | %.2f | %.1f |\n", tt.name, best * 1e3, static_cast<double>(n_out * n_in * n_tok) / best * 1e-9);
  }
  return sink == 12345.0f ? 1 : 0;
}
