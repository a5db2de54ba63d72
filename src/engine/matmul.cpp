#include "engine/matmul.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels_simd.h"
#include "engine/packed_rows.h"
#include "quant/fp16.h"
#include "quant/rounding.h"
#include "quant/type_table.h"
#include "util/check.h"

namespace apex::engine {
namespace {

using quant::TypeId;

// Activation blocks, laid out as ggml stores them.
constexpr int kQ8Block = 32;
constexpr int kQ8KBlock = 256;
struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[kQ8Block];
};
struct BlockQ8_1 {
  uint16_t d;  // fp16 scale
  uint16_t s;  // fp16 d * sum(qs)
  int8_t qs[kQ8Block];
};
struct BlockQ8_K {
  float d;
  int8_t qs[kQ8KBlock];
  int16_t bsums[kQ8KBlock / 16];  // sums of each 16 quants (K-quant minimum terms)
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36 && sizeof(BlockQ8_K) == 292);

float abs_max(const float* x, int n) {
  float amax = 0.0f;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}

// Symmetric 8-bit blocks of 32 with an fp16 scale amax/127 (ggml rounds the
// scaled values with roundf, halves away from zero).
void quantize_q8_0(const float* x, int64_t n, BlockQ8_0* y, float* values) {
  for (int64_t b = 0; b < n / kQ8Block; ++b, x += kQ8Block) {
    const float d = abs_max(x, kQ8Block) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = quant::fp32_to_fp16(d);
    const float dd = quant::fp16_to_fp32(y[b].d);
    for (int j = 0; j < kQ8Block; ++j) {
      y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      *values++ = dd * y[b].qs[j];
    }
  }
}

// As Q8_0 plus s = d * sum(qs), used by the Q4_1/Q5_1 minimum terms.
void quantize_q8_1(const float* x, int64_t n, BlockQ8_1* y, float* values) {
  for (int64_t b = 0; b < n / kQ8Block; ++b, x += kQ8Block) {
    const float d = abs_max(x, kQ8Block) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = quant::fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < kQ8Block; ++j) {
      y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      sum += y[b].qs[j];
    }
    y[b].s = quant::fp32_to_fp16(static_cast<float>(sum) * d);
    const float dd = quant::fp16_to_fp32(y[b].d);
    for (int j = 0; j < kQ8Block; ++j) *values++ = dd * y[b].qs[j];
  }
}

// Blocks of 256 with a float scale taken from the signed value of largest
// magnitude (-127 / max, so that value maps to -127), rounded to nearest even,
// clipped at 127; bsums hold the sum of every 16 quants.
void quantize_q8_k(const float* x, int64_t n, BlockQ8_K* y, float* values) {
  for (int64_t b = 0; b < n / kQ8KBlock; ++b, x += kQ8KBlock) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQ8KBlock; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      for (int j = 0; j < kQ8KBlock; ++j) *values++ = 0.0f;
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQ8KBlock; ++j) {
      y[b].qs[j] = static_cast<int8_t>(std::min(127, quant::nearest_int(iscale * x[j])));
    }
    for (int g = 0; g < kQ8KBlock / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[b].qs[g * 16 + j];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1.0f / iscale;
    for (int j = 0; j < kQ8KBlock; ++j) *values++ = y[b].d * y[b].qs[j];
  }
}

void convert_row(TypeId type, const float* x, int64_t n, uint8_t* raw, float* values) {
  switch (type) {
    case TypeId::F32:
      std::memcpy(raw, x, static_cast<size_t>(n) * sizeof(float));
      std::memcpy(values, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case TypeId::F16: {
      auto* h = reinterpret_cast<uint16_t*>(raw);
      for (int64_t i = 0; i < n; ++i) {
        h[i] = quant::fp32_to_fp16(x[i]);
        values[i] = quant::fp16_to_fp32(h[i]);
      }
      return;
    }
    case TypeId::BF16: {
      auto* h = reinterpret_cast<uint16_t*>(raw);
      for (int64_t i = 0; i < n; ++i) {
        h[i] = quant::fp32_to_bf16(x[i]);
        values[i] = quant::bf16_to_fp32(h[i]);
      }
      return;
    }
    case TypeId::Q8_0:
      quantize_q8_0(x, n, reinterpret_cast<BlockQ8_0*>(raw), values);
      return;
    case TypeId::Q8_1:
      quantize_q8_1(x, n, reinterpret_cast<BlockQ8_1*>(raw), values);
      return;
    case TypeId::Q8_K:
      quantize_q8_k(x, n, reinterpret_cast<BlockQ8_K*>(raw), values);
      return;
    default:
      APEX_CHECK(false, "no activation conversion for type %d", static_cast<int>(type));
  }
}

size_t activation_row_bytes(TypeId type, int64_t n) {
  switch (type) {
    case TypeId::F32: return static_cast<size_t>(n) * 4;
    case TypeId::F16:
    case TypeId::BF16: return static_cast<size_t>(n) * 2;
    case TypeId::Q8_0: return static_cast<size_t>(n / kQ8Block) * sizeof(BlockQ8_0);
    case TypeId::Q8_1: return static_cast<size_t>(n / kQ8Block) * sizeof(BlockQ8_1);
    case TypeId::Q8_K: return static_cast<size_t>(n / kQ8KBlock) * sizeof(BlockQ8_K);
    default: APEX_CHECK(false, "no activation type %d", static_cast<int>(type));
  }
  return 0;
}

// Panels of P = simd::panel_rows() weight rows: each panel is decoded once
// (packed_rows.h) and multiplied with every activation row, so the decoding
// is paid once per batch and each activation load serves P rows.
// Below this many activation rows decoding a panel costs more than it saves:
// the row kernels read the blocks directly.
constexpr int64_t kMinPackedRows = 2;

// Runs packed products (every job's weight has a PackedKind) in one parallel
// loop over all their panels: the experts of a layer share one round trip
// through the thread pool, and a thread that finishes one expert's panels
// goes on with the next expert's instead of waiting at a barrier.
void matmul_packed(const MatmulJob* const* jobs, size_t n_jobs) {
  const int P = simd::panel_rows();
  APEX_CHECK(P >= 1 && P <= 64, "panel of %d rows", P);
  // Panel offsets of the jobs in one flat range.
  std::vector<int64_t> start(n_jobs + 1, 0);
  int64_t work = 0;
  for (size_t k = 0; k < n_jobs; ++k) {
    const MatmulJob& j = *jobs[k];
    start[k + 1] = start[k] + (j.w->n_out + P - 1) / P;
    work += ((j.w->n_out + P - 1) / P) * P * j.w->n_in * std::max<int64_t>(j.n, 1);
  }
  const int64_t total = start[n_jobs];
  if (total == 0) return;
  const int64_t work_per_panel = work / total;
  const int64_t grain = std::clamp<int64_t>((1 << 18) / std::max<int64_t>(work_per_panel, 1), 1, 64);
  auto run = [&](const tbb::blocked_range<int64_t>& range) {
    // No TBB waits inside, so a thread never re-enters while these are in use.
    thread_local Panel panel;
    thread_local std::vector<const int16_t*> aq;
    thread_local std::vector<const float*> ad;
    thread_local std::vector<const int16_t*> absums;
    thread_local std::vector<float*> out;
    const uint8_t* rows[64];
    size_t k = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), range.begin()) -
                                   start.begin()) - 1;
    size_t ready = n_jobs;  // the job whose activation pointers are set up
    for (int64_t flat = range.begin(); flat < range.end(); ++flat) {
      while (flat >= start[k + 1]) ++k;
      const MatmulJob& j = *jobs[k];
      const Weight& w = *j.w;
      const Activations& x = *j.x;
      const int64_t n_in = w.n_in, n_tok = j.n;
      if (ready != k) {
        aq.resize(static_cast<size_t>(n_tok));
        ad.resize(aq.size());
        absums.resize(aq.size());
        out.resize(aq.size());
        for (int64_t t = 0; t < n_tok; ++t) {
          const int64_t xr = j.x_rows != nullptr ? j.x_rows[t] : t;
          aq[t] = x.q16.data() + xr * n_in;
          ad[t] = x.block_d.data() + xr * x.n_blocks;
          absums[t] = x.bsums.empty() ? nullptr : x.bsums.data() + xr * x.n_blocks * 16;
        }
        ready = k;
      }
      const int64_t r0 = (flat - start[k]) * P;
      const int nr = static_cast<int>(std::min<int64_t>(P, w.n_out - r0));
      for (int i = 0; i < nr; ++i) rows[i] = w.row(r0 + i, j.mat);
      build_panel(w.type, rows, nr, P, n_in, panel);
      for (int64_t t = 0; t < n_tok; ++t) {
        out[t] = j.y + (j.y_rows != nullptr ? j.y_rows[t] : t) * j.y_stride + r0;
      }
      simd::panel_gemm(packed_kind(w.type), panel, nr, n_tok, aq.data(), ad.data(), absums.data(),
                       out.data());
    }
  };
  if (work < (1 << 15)) {
    run(tbb::blocked_range<int64_t>(0, total));
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, total, grain), run);
  }
}

bool uses_packed(const Weight& w, const Activations& x, int64_t n_rows) {
  return packed_kind(w.type) != PackedKind::kNone && !x.q16.empty() && n_rows >= kMinPackedRows;
}

// Output rows [r_begin, r_end) of one product with the row kernels (or the
// dequantized rows for types without one).
void row_products(const MatmulJob& j, int64_t r_begin, int64_t r_end) {
  const Weight& w = *j.w;
  const Activations& x = *j.x;
  auto xr = [&](int64_t t) { return j.x_rows != nullptr ? j.x_rows[t] : t; };
  auto yr = [&](int64_t t) { return (j.y_rows != nullptr ? j.y_rows[t] : t) * j.y_stride; };
  const RowDotFn fast = simd::row_dot_kernel(w.type);
  thread_local std::vector<float> row;
  for (int64_t r = r_begin; r < r_end; ++r) {
    const uint8_t* wr = w.row(r, j.mat);
    if (fast != nullptr) {
      for (int64_t t = 0; t < j.n; ++t) j.y[yr(t) + r] = fast(wr, x.raw_row(xr(t)), w.n_in);
      continue;
    }
    const float* wf;
    if (w.type == TypeId::F32) {
      wf = reinterpret_cast<const float*>(wr);
    } else {
      row.resize(static_cast<size_t>(w.n_in));
      quant::traits(w.type).dequantize(wr, row.data(), w.n_in);
      wf = row.data();
    }
    for (int64_t t = 0; t < j.n; ++t) j.y[yr(t) + r] = dot_f32(wf, x.value_row(xr(t)), w.n_in);
  }
}

}  // namespace

TypeId activation_type(TypeId w) {
  switch (w) {
    case TypeId::F32: return TypeId::F32;
    case TypeId::F16: return TypeId::F16;
    case TypeId::BF16: return TypeId::BF16;
    case TypeId::Q4_1:
    case TypeId::Q5_1: return TypeId::Q8_1;
    case TypeId::Q4_0:
    case TypeId::Q5_0:
    case TypeId::Q8_0:
    case TypeId::IQ4_NL:
    case TypeId::MXFP4:
    case TypeId::NVFP4:
    case TypeId::Q1_0:
    case TypeId::Q2_0: return TypeId::Q8_0;
    default: return TypeId::Q8_K;  // K-quants, i-quants, ternary
  }
}

bool matmul_supports(TypeId w) {
  const quant::TypeTraits* t = quant::find_type(static_cast<int32_t>(w));
  if (t == nullptr || (w != TypeId::F32 && t->dequantize == nullptr)) return false;
  if (w == TypeId::Q8_1 || w == TypeId::Q8_K) return false;
  if (w == TypeId::I8 || w == TypeId::I16 || w == TypeId::I32 || w == TypeId::I64 ||
      w == TypeId::F64) {
    return false;
  }
  return true;
}

void prepare_activations(TypeId weight_type, const float* x, int64_t n_rows, int64_t n_in,
                         int64_t x_stride, Activations& out) {
  out.type = activation_type(weight_type);
  out.n_in = n_in;
  out.n_rows = n_rows;
  out.row_bytes = activation_row_bytes(out.type, n_in);
  out.raw.resize(out.row_bytes * static_cast<size_t>(n_rows));
  out.values.resize(static_cast<size_t>(n_in * n_rows));
  // One row always takes the row kernels, which read the raw blocks.
  const bool packed = packed_kind(weight_type) != PackedKind::kNone && n_rows >= kMinPackedRows;
  out.n_blocks = packed ? n_in / packed_block(weight_type) : 0;
  out.q16.resize(packed ? static_cast<size_t>(n_in * n_rows) : 0);
  out.block_d.resize(static_cast<size_t>(out.n_blocks * n_rows));
  out.bsums.resize(out.type == TypeId::Q8_K ? static_cast<size_t>(out.n_blocks * 16 * n_rows) : 0);
  auto convert = [&](int64_t t) {
    convert_row(out.type, x + t * x_stride, n_in, out.raw.data() + out.row_bytes * t,
                out.values.data() + n_in * t);
    if (packed) {
      pack_activation_row(out.type, out.raw_row(t), n_in, out.q16.data() + n_in * t,
                          out.block_d.data() + out.n_blocks * t,
                          out.bsums.empty() ? nullptr : out.bsums.data() + out.n_blocks * 16 * t);
    }
  };
  if (n_rows * n_in >= (1 << 16)) {
    tbb::parallel_for(int64_t{0}, n_rows, convert);
  } else {
    for (int64_t t = 0; t < n_rows; ++t) convert(t);
  }
}

void matmul(const Weight& w, int64_t mat, const Activations& x, float* y, int64_t y_stride) {
  matmul_rows(w, mat, x, nullptr, x.n_rows, y, y_stride, nullptr);
}

void matmul_rows(const Weight& w, int64_t mat, const Activations& x, const int64_t* x_rows,
                 int64_t n_rows, float* y, int64_t y_stride, const int64_t* y_rows) {
  APEX_CHECK(x.n_in == w.n_in && x.type == activation_type(w.type), "matmul %s: bad activations",
             w.name.c_str());
  const MatmulJob job{&w, mat, &x, x_rows, n_rows, y, y_stride, y_rows};
  if (uses_packed(w, x, n_rows)) {
    const MatmulJob* one = &job;
    matmul_packed(&one, 1);
    return;
  }
  const int64_t n_out = w.n_out;
  // Rows per task: enough work per task to amortise the scheduling.
  const int64_t work_per_row = w.n_in * std::max<int64_t>(n_rows, 1);
  const int64_t grain = std::clamp<int64_t>((1 << 18) / std::max<int64_t>(work_per_row, 1), 1, 64);
  auto run = [&](const tbb::blocked_range<int64_t>& range) { row_products(job, range.begin(), range.end()); };
  if (n_out * work_per_row < (1 << 15)) {
    run(tbb::blocked_range<int64_t>(0, n_out));
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n_out, grain), run);
  }
}

void matmul_batch(const std::vector<MatmulJob>& jobs) {
  // Output-row offsets of the row-kernel jobs in one flat range.
  std::vector<const MatmulJob*> flat, packed;
  std::vector<int64_t> start;
  int64_t total = 0, work = 0;
  for (const MatmulJob& j : jobs) {
    if (uses_packed(*j.w, *j.x, j.n)) {
      packed.push_back(&j);
      continue;
    }
    flat.push_back(&j);
    start.push_back(total);
    total += j.w->n_out;
    work += j.w->n_out * j.w->n_in * std::max<int64_t>(j.n, 1);
  }
  if (!packed.empty()) matmul_packed(packed.data(), packed.size());
  if (flat.empty()) return;
  start.push_back(total);
  auto run = [&](const tbb::blocked_range<int64_t>& range) {
    // The jobs this range crosses, each for its part of the range.
    auto it = std::upper_bound(start.begin(), start.end(), range.begin()) - 1;
    for (int64_t r = range.begin(); r < range.end();) {
      const size_t k = static_cast<size_t>(it - start.begin());
      const int64_t end = std::min(range.end(), start[k + 1]);
      row_products(*flat[k], r - start[k], end - start[k]);
      r = end;
      ++it;
    }
  };
  const int64_t work_per_row = work / std::max<int64_t>(total, 1);
  const int64_t grain = std::clamp<int64_t>((1 << 18) / std::max<int64_t>(work_per_row, 1), 1, 64);
  if (work < (1 << 15)) {
    run(tbb::blocked_range<int64_t>(0, total));
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, total, grain), run);
  }
}

void matmul(const Weight& w, int64_t mat, const float* x, int64_t n_rows, float* y,
            int64_t y_stride) {
  // Not thread_local: a TBB worker waiting inside matmul may run another
  // task that calls this function again.
  Activations act;
  prepare_activations(w.type, x, n_rows, w.n_in, w.n_in, act);
  matmul(w, mat, act, y, y_stride);
}

float dot_f32(const float* a, const float* b, int64_t n) { return simd::dot_f32(a, b, n); }

}  // namespace apex::engine
