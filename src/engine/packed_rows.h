// Weight rows and activation rows unpacked for the batched integer kernels
// (kernels_simd.cpp). A quantized weight row is decoded once per tile into
// int16 values that already carry their sub-block scale, and every
// activation row of the batch is widened to int16 once per matmul, both in
// the same element order, so a dot product is a run of 16-bit multiply-adds.
//
// ggml's plain x86-64 kernels keep eight integer lane sums per super-block
// (element index mod 8) and turn each lane into float separately. To get the
// same integers out of pairwise multiply-adds, each group of 16 elements is
// stored interleaved: position 2l + j holds element l + 8j (l < 8, j < 2), so
// the two products a pairwise add joins always belong to the same lane.
// Integer sums are exact, so any SIMD order gives ggml's integers; the float
// part (kernels_simd.cpp) then follows ggml's order exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/type_id.h"

namespace apex::engine {

// How a weight type's integer sums become float, after ggml's kernels.
enum class PackedKind {
  kNone,        // no packed kernel (the caller uses the row kernels)
  kLanes8Min,   // Q4_K, Q5_K: 8 float lane sums, minus dmin * sum(bsums * mins)
  kLanes8,      // Q6_K, Q3_K: 8 float lane sums
  kTotalMin,    // Q2_K: one sum per super-block, dall * isum - dmin * summs
  kBlock32,     // Q8_0: sum += isum * (dx * dy) per block of 32
  kSub32,       // IQ4_XS: sum += (d * dy * (ls - 32)) * isum per sub-block of 32
};

PackedKind packed_kind(quant::TypeId weight_type);

// Elements per float scale of the weight type (256 for the K-quants and
// IQ4_XS, 32 for Q8_0).
int64_t packed_block(quant::TypeId weight_type);

// One weight row, decoded. q: n values in the interleaved order (scaled by
// their sub-block scale for the kLanes8* / kTotalMin kinds); d, dmin: one
// per block; aux: per block, the 16 mins of each 16 values (Q4_K/Q5_K
// repeated per pair, Q2_K) or the 8 sub-block scales minus 32 (IQ4_XS, in
// the first 8 of the block's 16 places).
struct PackedRow {
  std::vector<int16_t> q;
  std::vector<float> d, dmin;
  std::vector<int16_t> aux;
};

void pack_weight_row(quant::TypeId weight_type, const uint8_t* row, int64_t n, PackedRow& out);

// One activation row of type Q8_K (or Q8_0 for Q8_0 weights): q gets the n
// values in the interleaved order, d one float scale per block (Q8_0: the
// fp16 scale as float), bsums (Q8_K only) the 16 sums of each block.
void pack_activation_row(quant::TypeId act_type, const uint8_t* raw, int64_t n, int16_t* q, float* d,
                         int16_t* bsums);

// Position of element i (within its group of 16) in the interleaved order.
inline int interleaved_position(int i) { return 2 * (i % 8) + i / 8; }

}  // namespace apex::engine
