// A hook for tools that study what flows into the weight matrices (apex
// imatrix): the forward pass calls it with the activation rows that enter
// each matrix product, before they are converted to the weight's dot type.
// Unset (null), the forward pass does nothing extra.
#pragma once

#include <cstdint>

#include "engine/weights.h"

namespace apex::engine {

class MatmulObserver {
 public:
  virtual ~MatmulObserver() = default;
  // x: n_rows rows of w.n_in floats, contiguous. expert: the matrix of a 3-D
  // expert tensor these rows go to, or -1 for a 2-D weight. Called from the
  // thread running the forward pass, in the order the products happen.
  virtual void on_matmul(const Weight& w, int expert, const float* x, int64_t n_rows) = 0;
};

}  // namespace apex::engine
