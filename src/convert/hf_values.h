// The values llama.cpp's converter changes on the way from a Hugging Face
// checkpoint to GGUF (Qwen3.5's Gated DeltaNet and norms), and their exact
// inverses for `apex export-hf` / `apex export-int`. Which tensor gets which
// change is data in hf_names (NamePair::value / heads / conv).
//
// Value maps are computed the way the converter computes them: in the
// checkpoint's dtype (torch does -exp(A_log) or weight + 1 on a BF16 tensor
// in BF16), here as double rounded to F32 and then to that dtype.
//
// Inverses: for a GGUF value y and an HF dtype D, the D value h nearest to
// the mathematical inverse, then its neighbours up to two steps either side,
// are tried, and the first with forward(h) == y bit for bit is taken. So
// export -> convert is the identity whenever some D value maps onto y:
//  - permutations and the conv1d reshape always (they move values);
//  - y = h + 1 for every F32 y in [0.5, 2] (Sterbenz: y - 1 is exact, and
//    adding 1 back is exact), which holds for RMS norm gains near 1;
//  - y = -exp(h) for F32 y when |A_log| < 1 (exp's output spacing is then
//    finer than F32's, so every F32 y in (-e, -1/e) is hit).
// Otherwise (F16/BF16 targets, far-out values) the nearest h is kept and the
// round trip is off by at most half a D-ulp of the HF value carried through
// the map plus one rounding of the result: |y' - y| <= ulp_D(y - 1) / 2 +
// ulp_D(y') / 2 for the norms, |y' - y| <= |y| * ulp_D(A_log) / 2 * (1 + eps)
// + ulp_D(y') / 2 for A.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "convert/hf_names.h"
#include "safetensors/safetensors.h"
#include "util/status.h"

namespace apex::convert {

// Gated DeltaNet head counts and widths (config.json linear_num_key_heads,
// linear_num_value_heads, linear_key_head_dim, linear_value_head_dim).
struct LinearAttnDims {
  int64_t k_heads = 0, v_heads = 0, k_dim = 0, v_dim = 0;
};

// Whether the row's values differ between the two sides.
bool changes_values(const NamePair& row);

// HF -> GGUF in place: `v` holds the HF tensor in its own row-major order,
// `hf_shape` its shape, `src` the dtype it was stored as. Afterwards `v` is
// in GGUF order (ne0 fastest). Errors name the tensor by `what`.
Status hf_to_gguf_values(const NamePair& row, const LinearAttnDims& d, std::span<const int64_t> hf_shape,
                         st::DType src, const std::string& what, std::vector<float>& v);

// GGUF -> HF in place, for an HF tensor of dtype `dst` (every value of the
// result is representable in it).
Status gguf_to_hf_values(const NamePair& row, const LinearAttnDims& d, std::span<const int64_t> hf_shape,
                         st::DType dst, const std::string& what, std::vector<float>& v);

// One value through the converter's map, computed in `dtype` (for tests).
float forward_value(ValueMap m, float h, st::DType dtype);

}  // namespace apex::convert
