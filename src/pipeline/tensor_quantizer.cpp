#include "pipeline/tensor_quantizer.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <future>
#include <vector>

#include "quant/type_table.h"
#include "util/check.h"

namespace apex::pipeline {
namespace {

// Rows per parallel work item: about 16K elements, like llama.cpp's chunks,
// so small tensors still spread over threads and big ones don't thrash.
int64_t rows_per_task(int64_t n_per_row) {
  constexpr int64_t kTargetElements = 16 * 1024;
  return std::max<int64_t>(1, kTargetElements / std::max<int64_t>(1, n_per_row));
}

// First non-finite value in a float range, or -1.
int64_t find_non_finite(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return i;
  }
  return -1;
}

// Drops the source pages of rows already converted (the input is mmapped),
// so resident memory stays at about one slab however big the tensor is.
void release_source(const uint8_t* begin, const uint8_t* end) {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t b = (reinterpret_cast<uintptr_t>(begin) + page - 1) & ~(page - 1);
  const uintptr_t e = reinterpret_cast<uintptr_t>(end) & ~(page - 1);
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

}  // namespace

Status convert_tensor(const TensorJob& job, const ConvertOptions& opts, const ByteSink& sink,
                      const RowsDone& progress) {
  const quant::TypeTraits& src_t = quant::traits(job.src_type);
  const quant::TypeTraits& dst_t = quant::traits(job.dst_type);
  APEX_CHECK(job.n_per_row > 0 && job.rows_per_matrix > 0 && job.n_rows % job.rows_per_matrix == 0,
             "bad tensor job shape for {}", job.name);
  if (src_t.dequantize == nullptr) {
    return make_error("tensor {}: reading {} data is not implemented", job.name, src_t.name);
  }
  if (dst_t.quantize == nullptr) {
    return make_error("tensor {}: writing {} is not implemented yet", job.name, dst_t.name);
  }
  if (dst_t.needs_imatrix && job.imatrix == nullptr) {
    return make_error("tensor {}: {} needs an importance matrix (--imatrix)", job.name, dst_t.name);
  }
  if (job.n_per_row % dst_t.block_size != 0) {
    return make_error("tensor {}: row length {} is not a multiple of {}'s block size {}", job.name,
                      job.n_per_row, dst_t.name, dst_t.block_size);
  }
  const size_t src_row = quant::row_bytes(job.src_type, job.n_per_row);
  const size_t dst_row = quant::row_bytes(job.dst_type, job.n_per_row);
  APEX_CHECK(job.src.size() == src_row * static_cast<size_t>(job.n_rows), "source size mismatch for {}",
             job.name);

  const int64_t slab_rows = std::clamp<int64_t>(
      static_cast<int64_t>(opts.slab_bytes / (sizeof(float) * job.n_per_row)), 1, job.n_rows);
  const int64_t task_rows = rows_per_task(job.n_per_row);
  tbb::task_arena arena(std::max(1, opts.threads));

  // Two output buffers: one is written out while the other is filled.
  std::vector<uint8_t> out[2];
  std::vector<float> f32(static_cast<size_t>(slab_rows * job.n_per_row));
  std::future<Status> pending_write;
  int which = 0;

  for (int64_t first = 0; first < job.n_rows; first += slab_rows) {
    const int64_t rows = std::min(slab_rows, job.n_rows - first);
    std::vector<uint8_t>& dst = out[which];
    dst.resize(static_cast<size_t>(rows) * dst_row);
    std::atomic<int64_t> bad_element{-1};
    std::atomic<bool> invalid{false};

    arena.execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<int64_t>(0, (rows + task_rows - 1) / task_rows, 1),
          [&](const tbb::blocked_range<int64_t>& r) {
            for (int64_t task = r.begin(); task < r.end(); ++task) {
              int64_t row = task * task_rows;
              const int64_t end = std::min(rows, row + task_rows);
              float* f = f32.data() + row * job.n_per_row;
              const uint8_t* s = job.src.data() + static_cast<size_t>(first + row) * src_row;
              src_t.dequantize(s, f, (end - row) * job.n_per_row);
              const int64_t bad = find_non_finite(f, (end - row) * job.n_per_row);
              if (bad >= 0) {
                int64_t expected = -1;
                bad_element.compare_exchange_strong(expected, (first + row) * job.n_per_row + bad);
                return;
              }
              // Rows of one task never straddle two experts: each expert has its own
              // importance vector.
              while (row < end) {
                const int64_t global = first + row;
                const int64_t matrix = global / job.rows_per_matrix;
                const int64_t n = std::min(end - row, (matrix + 1) * job.rows_per_matrix - global);
                const bool plain = static_cast<size_t>(matrix) < job.plain_matrices.size() &&
                                   job.plain_matrices[static_cast<size_t>(matrix)] != 0;
                const float* imat = job.imatrix && !plain ? job.imatrix + matrix * job.n_per_row : nullptr;
                uint8_t* d = dst.data() + static_cast<size_t>(row) * dst_row;
                dst_t.quantize(f32.data() + row * job.n_per_row, d, n, job.n_per_row, imat);
                if (dst_t.validate != nullptr && !dst_t.validate(d, static_cast<size_t>(n) * dst_row)) {
                  invalid = true;
                }
                row += n;
              }
            }
          });
    });
    if (bad_element >= 0) {
      if (pending_write.valid()) (void)pending_write.get();
      const int64_t e = bad_element.load();
      std::vector<int64_t> idx{e % job.n_per_row, e / job.n_per_row};
      return make_error("tensor {}: non-finite value at element {} (row {}, column {})", job.name, e,
                        idx[1], idx[0]);
    }
    if (invalid) {
      if (pending_write.valid()) (void)pending_write.get();
      return make_error(
          "tensor {}: quantized data validation failed (a {} scale overflowed; values too large?)",
          job.name, dst_t.name);
    }
    if (pending_write.valid()) APEX_RETURN_IF_ERROR(pending_write.get());
    pending_write = std::async(std::launch::async, [&sink, &dst] { return sink(dst); });
    if (opts.release_source) {
      release_source(job.src.data() + static_cast<size_t>(first) * src_row,
                     job.src.data() + static_cast<size_t>(first + rows) * src_row);
    }
    if (progress) progress(rows);
    which ^= 1;
  }
  if (pending_write.valid()) APEX_RETURN_IF_ERROR(pending_write.get());
  return {};
}

}  // namespace apex::pipeline
