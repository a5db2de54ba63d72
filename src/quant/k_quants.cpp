// STUB: replaced by the real implementation of this family.
#include "quant/k_quants.h"
#include "util/check.h"

namespace apex::quant {

size_t quantize_q2_k(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q2_k not implemented"); return 0; }
size_t quantize_q2_k_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q2_k not implemented"); return 0; }
void dequantize_q2_k(const void*, float*, int64_t) { APEX_CHECK(false, "q2_k not implemented"); }
size_t quantize_q3_k(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q3_k not implemented"); return 0; }
size_t quantize_q3_k_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q3_k not implemented"); return 0; }
void dequantize_q3_k(const void*, float*, int64_t) { APEX_CHECK(false, "q3_k not implemented"); }
size_t quantize_q4_k(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q4_k not implemented"); return 0; }
size_t quantize_q4_k_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q4_k not implemented"); return 0; }
void dequantize_q4_k(const void*, float*, int64_t) { APEX_CHECK(false, "q4_k not implemented"); }
size_t quantize_q5_k(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q5_k not implemented"); return 0; }
size_t quantize_q5_k_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q5_k not implemented"); return 0; }
void dequantize_q5_k(const void*, float*, int64_t) { APEX_CHECK(false, "q5_k not implemented"); }
size_t quantize_q6_k(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q6_k not implemented"); return 0; }
size_t quantize_q6_k_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q6_k not implemented"); return 0; }
void dequantize_q6_k(const void*, float*, int64_t) { APEX_CHECK(false, "q6_k not implemented"); }
}  // namespace apex::quant
