// y = W x for weights in any type of the type table, over a batch of
// activation rows. Like ggml's CPU backend, the activations are first
// converted to the type the weight's dot product pairs with (F16 for F16
// weights, Q8_0 for Q8_0/Q4_0/Q5_0/IQ4_NL/MXFP4..., Q8_1 for Q4_1/Q5_1, Q8_K
// for the K- and i-quants): that rounding is part of what llama.cpp computes,
// so reproducing it keeps our logits within tolerance of the oracle's.
//
// K-quants, IQ4_XS and Q8_0 go through packed integer kernels: a tile of
// weight rows is decoded once and multiplied with every token of the batch
// (packed_rows.h, kernels_simd.cpp). F16 and the row kernels of
// quant_dot.h work row by row; every other type is dequantized one row at a
// time and multiplied with the dequantized activations.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/weights.h"
#include "util/uninit.h"
#include "quant/type_id.h"

namespace apex::engine {

// The type ggml's CPU backend converts activations to before a dot product
// with a weight of type `w` (ggml-cpu's vec_dot_type).
quant::TypeId activation_type(quant::TypeId w);
// True when the engine can multiply weights of this type.
bool matmul_supports(quant::TypeId w);

// A batch of activation rows converted for one weight type.
struct Activations {
  quant::TypeId type = quant::TypeId::F32;  // activation_type(weight type)
  int64_t n_in = 0;
  int64_t n_rows = 0;
  size_t row_bytes = 0;
  // Scratch written in full by prepare_activations (never zero-filled).
  UninitVector<uint8_t> raw;   // n_rows rows of `type` blocks (what fast kernels read)
  UninitVector<float> values;  // the same rows dequantized (what the generic path reads)
  // For weight types with a packed kernel (packed_rows.h): the rows as
  // interleaved int16, one float scale per block, Q8_K bsums.
  UninitVector<int16_t> q16;
  UninitVector<float> block_d;
  UninitVector<int16_t> bsums;
  int64_t n_blocks = 0;  // blocks per row (of block_d)

  const uint8_t* raw_row(int64_t t) const { return raw.data() + static_cast<size_t>(t) * row_bytes; }
  const float* value_row(int64_t t) const { return values.data() + static_cast<size_t>(t) * n_in; }
};

// x: n_rows rows of n_in floats, `x_stride` floats apart.
void prepare_activations(quant::TypeId weight_type, const float* x, int64_t n_rows, int64_t n_in,
                         int64_t x_stride, Activations& out);

// y[t * y_stride + r] = dot(W[mat] row r, x row t) for r < n_out, t < n_rows.
// Multithreaded over output rows.
void matmul(const Weight& w, int64_t mat, const Activations& x, float* y, int64_t y_stride);

// The same for a subset of the activation rows, scattered to chosen output
// rows: for i < n, activation row x_rows[i] (i when x_rows is null) gives
// output row y_rows[i] (i when null), y[y_row * y_stride + r].
void matmul_rows(const Weight& w, int64_t mat, const Activations& x, const int64_t* x_rows,
                 int64_t n, float* y, int64_t y_stride, const int64_t* y_rows);

// One product of a batch of independent products (matmul_batch).
struct MatmulJob {
  const Weight* w;
  int64_t mat;
  const Activations* x;
  const int64_t* x_rows;  // may be null (rows 0..n)
  int64_t n;
  float* y;
  int64_t y_stride;
  const int64_t* y_rows;  // may be null (rows 0..n)
};

// Runs every job as matmul_rows would. Products with few activation rows
// (the row kernels) share one parallel loop over all their output rows, so
// small products (one token through several experts) cost one round trip
// through the thread pool instead of one each; batched products (panels)
// share another over all their panels (a layer's experts in a prompt).
void matmul_batch(const std::vector<MatmulJob>& jobs);

// Convenience: prepare + matmul for one weight matrix.
void matmul(const Weight& w, int64_t mat, const float* x, int64_t n_rows, float* y,
            int64_t y_stride);

// Float dot product (Highway).
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace apex::engine
