#include "imatrix/collect.h"

#include <cmath>

#include "engine/forward.h"
#include "eval/perplexity.h"
#include "util/check.h"

namespace apex::imatrix {

void Collector::on_matmul(const engine::Weight& w, int expert, const float* x, int64_t n_rows) {
  if (!status_.ok()) return;
  const bool wanted = w.name.starts_with("blk.") || (process_output_ && w.name == "output.weight");
  if (!wanted) return;
  // llama-imatrix asks for every MUL_MAT_ID but only MUL_MATs of >= 16 rows.
  if (expert < 0 && n_rows < 16) return;
  const int64_t ne0 = w.n_in;
  Stats& s = stats_[w.name];
  if (s.sums.empty()) {
    s.sums.assign(static_cast<size_t>(ne0 * w.n_mat), 0.0f);
    s.counts.assign(expert < 0 ? 1 : static_cast<size_t>(w.n_mat), 0);
  }
  APEX_CHECK(expert < static_cast<int64_t>(s.counts.size()));
  float* acc = s.sums.data() + (expert < 0 ? 0 : expert) * ne0;
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = x + r * ne0;
    for (int64_t j = 0; j < ne0; ++j) acc[j] += row[j] * row[j];
  }
  s.counts[expert < 0 ? 0 : static_cast<size_t>(expert)] += n_rows;
  for (int64_t j = 0; j < ne0; ++j) {
    if (!std::isfinite(acc[j])) {
      status_ = make_error("imatrix: non-finite sum of squared activations in {}", w.name);
      return;
    }
  }
}

Imatrix Collector::result(int32_t chunk_count, int32_t chunk_size,
                          std::vector<std::string> datasets) const {
  Imatrix m;
  m.format = Format::kGguf;
  m.chunk_count = chunk_count;
  m.chunk_size = chunk_size;
  m.datasets = std::move(datasets);
  for (const auto& [name, s] : stats_) {  // std::map: sorted by name, as the GGUF file is
    Entry e;
    e.name = name;
    e.sums = s.sums;
    e.counts = s.counts;
    compute_values(Format::kGguf, e);
    m.entries.push_back(std::move(e));
  }
  m.reindex();
  return m;
}

Result<Imatrix> collect(const engine::Model& model, std::span<const int32_t> tokens,
                        const CollectOptions& opts, const CollectCallback& on_chunk) {
  if (opts.n_ctx < 4) return make_error("imatrix: context {} is too small", opts.n_ctx);
  const auto n = static_cast<int64_t>(tokens.size());
  if (n < 2 * opts.n_ctx) {
    return make_error("imatrix: the text gives {} tokens, need at least {} (2 x context {})", n,
                      2 * opts.n_ctx, opts.n_ctx);
  }
  eval::PerplexityOptions chunking;
  chunking.n_ctx = opts.n_ctx;
  chunking.n_chunks = opts.n_chunks;
  auto chunks = eval::make_chunks(tokens, chunking, eval::chunk_bos(model));
  if (!chunks) return chunks.error();
  const int n_chunks = static_cast<int>(chunks->size());

  Collector collector(opts.process_output);
  engine::Context ctx(model, opts.n_ctx);
  ctx.set_observer(&collector);
  for (int i = 0; i < n_chunks; ++i) {
    ctx.reset();
    // No logits are needed: output.weight is reported before its product
    // only when logits are asked for, so ask for them only with process_output.
    std::vector<float> logits;
    APEX_RETURN_IF_ERROR(ctx.eval((*chunks)[static_cast<size_t>(i)], opts.process_output ? &logits : nullptr,
                      opts.n_batch));
    APEX_RETURN_IF_ERROR(collector.status());
    if (on_chunk) on_chunk(i + 1, n_chunks);
  }
  std::vector<std::string> datasets;
  if (!opts.dataset.empty()) datasets.push_back(opts.dataset);
  return collector.result(n_chunks, static_cast<int32_t>(opts.n_ctx), std::move(datasets));
}

}  // namespace apex::imatrix
