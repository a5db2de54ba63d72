// Weight rows and activation rows unpacked for the batched integer kernels
// (kernels_simd.cpp, PanelGemm). A quantized weight row is decoded into
// int16 values that already carry their integer sub-block scale, and every
// activation row of the batch is widened to int16 once per matmul, both in
// element order, so a block's dot product is a run of exact 16-bit
// multiply-adds; the float scales (weight d, dmin; activation d) are applied
// once per block.
//
// For the kernels, P weight rows (P = panel_rows(), the int32 lanes of the
// SIMD target) are stored as a panel: element pair k of the P rows side by
// side, so one 32-bit broadcast of an activation pair against one panel
// vector gives P rows' pairwise products at once, and the integer sums land
// in one lane per row (no horizontal reductions).
//
// ggml's plain x86-64 kernels keep eight integer lane sums per K-quant
// super-block (element index mod 8) and turn each lane into float
// separately. So that a pairwise multiply-add never joins two lanes, the
// pairs of a K-quant block are (16g + l, 16g + l + 8) for group g < 16 and
// lane l < 8 (pair index 8g + l), in the weights and the activations alike.
// Integer sums are exact, and the float part follows ggml's order operation
// by operation, so the results are bit-identical to quant_dot.h's kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/type_id.h"

namespace apex::engine {

// How a weight type's block sums become float.
enum class PackedKind {
  kNone,       // no packed kernel (the caller uses the row kernels)
  kLanes8Min,  // Q4_K, Q5_K: 8 float lane sums, minus dmin * sum(bsums * mins)
  kLanes8,     // Q6_K, Q3_K: 8 float lane sums
  kBlock32,    // Q8_0: sum += isum * (dx * dy) per block of 32
};

PackedKind packed_kind(quant::TypeId weight_type);

// Elements per float scale of the weight type (256 for the K-quants and
// IQ4_XS, 32 for Q8_0).
int64_t packed_block(quant::TypeId weight_type);

// Decodes one weight row of n values: q gets them in element order, each
// times its integer sub-block scale (Q4_K/Q5_K scales, Q6_K/Q3_K signed
// scales); d one float scale per block; for kLanes8Min types dmin one per
// block and mins 16 per block (the min of each 16 values). Q2_K and IQ4_XS
// decode too (tests), though their products use the row kernels.
void decode_weight_row(quant::TypeId weight_type, const uint8_t* row, int64_t n, int16_t* q,
                       float* d, float* dmin, int16_t* mins);

// P rows of one weight matrix in the panel layout described above. Lanes of
// rows past the matrix's end hold zeros.
struct Panel {
  int64_t n = 0, n_blocks = 0;
  int rows = 0;                // P
  std::vector<int32_t> q;      // [n / 2][P]: pairs of int16 (K-quants: lane pairs)
  std::vector<float> d, dmin;  // [n_blocks][P]
  std::vector<int32_t> mins;   // [n_blocks * 8][P]: pairs of int16 mins
};

// Decodes rows[0..nr) (nr <= p) of n values each into `out`.
void build_panel(quant::TypeId weight_type, const uint8_t* const* rows, int nr, int p, int64_t n,
                 Panel& out);

// One activation row of type Q8_K (or Q8_0 for Q8_0 weights): q gets the n
// values (Q8_K: each group of 16 as its lane pairs, element 16g + l + 8j at
// 16g + 2l + j; Q8_0: in element order), d one float scale per block (Q8_0:
// the fp16 scale as float), bsums (Q8_K only) the 16 sums of each block.
void pack_activation_row(quant::TypeId act_type, const uint8_t* raw, int64_t n, int16_t* q, float* d,
                         int16_t* bsums);

}  // namespace apex::engine
