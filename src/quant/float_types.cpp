// STUB: replaced by the real implementation of this family.
#include "quant/float_types.h"
#include "util/check.h"

namespace apex::quant {

size_t quantize_f32(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "f32 not implemented"); return 0; }
size_t quantize_f32_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "f32 not implemented"); return 0; }
void dequantize_f32(const void*, float*, int64_t) { APEX_CHECK(false, "f32 not implemented"); }
size_t quantize_f16(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "f16 not implemented"); return 0; }
size_t quantize_f16_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "f16 not implemented"); return 0; }
void dequantize_f16(const void*, float*, int64_t) { APEX_CHECK(false, "f16 not implemented"); }
size_t quantize_bf16(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "bf16 not implemented"); return 0; }
size_t quantize_bf16_ref(const float*, void*, int64_t, int64_t, const float*) { APEX_CHECK(false, "bf16 not implemented"); return 0; }
void dequantize_bf16(const void*, float*, int64_t) { APEX_CHECK(false, "bf16 not implemented"); }
}  // namespace apex::quant
