// STUB: replaced by the real implementation of this family.
#include "quant/q_legacy.h"
#include "util/check.h"

namespace apex::quant {

size_t quantize_q4_0(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q4_0 not implemented"); return 0; }
size_t quantize_q4_0_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q4_0 not implemented"); return 0; }
void dequantize_q4_0(const void*, float*, int64_t) { APEX_CHECK(false, "q4_0 not implemented"); }
size_t quantize_q4_1(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q4_1 not implemented"); return 0; }
size_t quantize_q4_1_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q4_1 not implemented"); return 0; }
void dequantize_q4_1(const void*, float*, int64_t) { APEX_CHECK(false, "q4_1 not implemented"); }
size_t quantize_q5_0(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q5_0 not implemented"); return 0; }
size_t quantize_q5_0_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q5_0 not implemented"); return 0; }
void dequantize_q5_0(const void*, float*, int64_t) { APEX_CHECK(false, "q5_0 not implemented"); }
size_t quantize_q5_1(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q5_1 not implemented"); return 0; }
size_t quantize_q5_1_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q5_1 not implemented"); return 0; }
void dequantize_q5_1(const void*, float*, int64_t) { APEX_CHECK(false, "q5_1 not implemented"); }
size_t quantize_q8_0(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q8_0 not implemented"); return 0; }
size_t quantize_q8_0_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "q8_0 not implemented"); return 0; }
void dequantize_q8_0(const void*, float*, int64_t) { APEX_CHECK(false, "q8_0 not implemented"); }
}  // namespace apex::quant
