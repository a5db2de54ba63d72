// Computing an importance matrix with apex's engine, as llama-imatrix does
// (tools/imatrix in the oracle's source): the calibration tokens are cut into
// chunks of n_ctx, each evaluated from an empty cache with BOS at position 0
// when the vocabulary adds BOS; for every matrix product the squares of the
// input activations are summed per column, and the rows counted:
//  - 3-D expert tensors: per expert, over the (token, slot) rows routed to it;
//  - 2-D tensors: one count, over every row, but only for products of at
//    least 16 rows (llama-imatrix skips smaller batches);
//  - only tensors named "blk.*", plus output.weight with process_output.
// The result is a GGUF-origin Imatrix (raw sums and counts), which save_gguf
// writes as llama-imatrix does and save_dat converts to the legacy format.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "engine/observer.h"
#include "engine/weights.h"
#include "imatrix/imatrix.h"
#include "util/status.h"

namespace apex::imatrix {

// Accumulates the statistics of the products the forward pass reports.
class Collector : public engine::MatmulObserver {
 public:
  explicit Collector(bool process_output = false) : process_output_(process_output) {}

  void on_matmul(const engine::Weight& w, int expert, const float* x, int64_t n_rows) override;

  // The first non-finite sum seen (llama-imatrix stops there), else ok.
  Status status() const { return status_; }
  // The statistics as a GGUF-origin imatrix (values filled in).
  Imatrix result(int32_t chunk_count, int32_t chunk_size, std::vector<std::string> datasets) const;

 private:
  struct Stats {
    std::vector<float> sums;     // ne0 per matrix, summed in float as llama-imatrix does
    std::vector<int64_t> counts; // per matrix (experts) or one
  };
  bool process_output_;
  std::map<std::string, Stats> stats_;
  Status status_;
};

struct CollectOptions {
  int64_t n_ctx = 512;    // tokens per chunk
  int n_chunks = -1;      // -1: as many as the tokens allow
  int64_t n_batch = 512;  // tokens per forward batch within a chunk
  bool process_output = false;
  std::string dataset;    // recorded in imatrix.datasets (the text file as given)
};

using CollectCallback = std::function<void(int chunk, int n_chunks)>;

// Runs the model over `tokens` (as the tokenizer returns them with
// add_special; BOS is applied per chunk). Error when fewer than 2 * n_ctx
// tokens are given (llama-imatrix's own minimum) or a sum is not finite.
Result<Imatrix> collect(const engine::Model& model, std::span<const int32_t> tokens,
                        const CollectOptions& opts, const CollectCallback& on_chunk = {});

}  // namespace apex::imatrix
