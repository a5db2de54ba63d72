#include "plan/ftype.h"
#include "util/strings.h"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace apex::plan {
namespace {

using quant::TypeId;

// Default types follow llama.cpp's llama_ftype_get_default_type. Three of
// them are not the type the name suggests: IQ2_S starts from IQ2_XS, IQ2_M
// from IQ2_S and IQ3_XS from IQ3_S; the mixture rules then move attention
// and ffn_down tensors up or down from there.
constexpr FtypeInfo kFtypes[] = {
    // name        ftype               default type      alias  copy   description
    {"F32",       Ftype::F32,       TypeId::F32,     false, false, "32-bit float, no quantization"},
    {"F16",       Ftype::F16,       TypeId::F16,     false, false, "16-bit IEEE half float"},
    {"Q4_0",      Ftype::Q4_0,      TypeId::Q4_0,    false, false, "4.5 bpw, one scale per 32"},
    {"Q4_1",      Ftype::Q4_1,      TypeId::Q4_1,    false, false, "5.0 bpw, scale and min per 32"},
    {"Q8_0",      Ftype::Q8_0,      TypeId::Q8_0,    false, false, "8.5 bpw, one scale per 32"},
    {"Q5_0",      Ftype::Q5_0,      TypeId::Q5_0,    false, false, "5.5 bpw, one scale per 32"},
    {"Q5_1",      Ftype::Q5_1,      TypeId::Q5_1,    false, false, "6.0 bpw, scale and min per 32"},
    {"Q2_K",      Ftype::Q2_K,      TypeId::Q2_K,    false, false, "Q2_K with Q3_K/Q4_K on sensitive tensors"},
    {"Q3_K_S",    Ftype::Q3_K_S,    TypeId::Q3_K,    false, false, "Q3_K nearly everywhere"},
    {"Q3_K_M",    Ftype::Q3_K_M,    TypeId::Q3_K,    false, false, "Q3_K with Q4_K/Q5_K on attn_v, attn_output, ffn_down"},
    {"Q3_K_L",    Ftype::Q3_K_L,    TypeId::Q3_K,    false, false, "Q3_K with Q5_K on attn_v, attn_output, ffn_down"},
    {"Q4_K_S",    Ftype::Q4_K_S,    TypeId::Q4_K,    false, false, "Q4_K with Q5_K on the first attn_v/ffn_down"},
    {"Q4_K_M",    Ftype::Q4_K_M,    TypeId::Q4_K,    false, false, "Q4_K with Q6_K on half of attn_v and ffn_down"},
    {"Q5_K_S",    Ftype::Q5_K_S,    TypeId::Q5_K,    false, false, "Q5_K nearly everywhere"},
    {"Q5_K_M",    Ftype::Q5_K_M,    TypeId::Q5_K,    false, false, "Q5_K with Q6_K on half of attn_v and ffn_down"},
    {"Q6_K",      Ftype::Q6_K,      TypeId::Q6_K,    false, false, "6.56 bpw K-quant"},
    {"IQ2_XXS",   Ftype::IQ2_XXS,   TypeId::IQ2_XXS, false, false, "2.06 bpw, needs an imatrix"},
    {"IQ2_XS",    Ftype::IQ2_XS,    TypeId::IQ2_XS,  false, false, "2.31 bpw, needs an imatrix"},
    {"Q2_K_S",    Ftype::Q2_K_S,    TypeId::Q2_K,    false, false, "Q2_K with fewer upgrades, needs an imatrix"},
    {"IQ3_XS",    Ftype::IQ3_XS,    TypeId::IQ3_S,   false, false, "3.3 bpw mix of IQ3_S and IQ3_XXS"},
    {"IQ3_XXS",   Ftype::IQ3_XXS,   TypeId::IQ3_XXS, false, false, "3.06 bpw, needs an imatrix"},
    {"IQ1_S",     Ftype::IQ1_S,     TypeId::IQ1_S,   false, false, "1.56 bpw, needs an imatrix"},
    {"IQ4_NL",    Ftype::IQ4_NL,    TypeId::IQ4_NL,  false, false, "4.5 bpw non-linear, blocks of 32"},
    {"IQ3_S",     Ftype::IQ3_S,     TypeId::IQ3_S,   false, false, "3.44 bpw"},
    {"IQ3_M",     Ftype::IQ3_M,     TypeId::IQ3_S,   false, false, "3.66 bpw mix of IQ3_S and Q4_K"},
    {"IQ2_S",     Ftype::IQ2_S,     TypeId::IQ2_XS,  false, false, "2.5 bpw mix, needs an imatrix"},
    {"IQ2_M",     Ftype::IQ2_M,     TypeId::IQ2_S,   false, false, "2.7 bpw mix, needs an imatrix"},
    {"IQ4_XS",    Ftype::IQ4_XS,    TypeId::IQ4_XS,  false, false, "4.25 bpw non-linear"},
    {"IQ1_M",     Ftype::IQ1_M,     TypeId::IQ1_M,   false, false, "1.75 bpw, needs an imatrix"},
    {"BF16",      Ftype::BF16,      TypeId::BF16,    false, false, "16-bit bfloat"},
    {"TQ1_0",     Ftype::TQ1_0,     TypeId::TQ1_0,   false, false, "1.69 bpw ternary"},
    {"TQ2_0",     Ftype::TQ2_0,     TypeId::TQ2_0,   false, false, "2.06 bpw ternary"},
    {"MXFP4_MOE", Ftype::MXFP4_MOE, TypeId::MXFP4,   false, false, "MXFP4 experts, Q8_0 elsewhere"},
    {"Q1_0",      Ftype::Q1_0,      TypeId::Q1_0,    false, false, "1.125 bpw, blocks of 128"},
    {"Q2_0",      Ftype::Q2_0,      TypeId::Q2_0,    false, false, "2.25 bpw, blocks of 64"},
    {"Q3_K",      Ftype::Q3_K_M,    TypeId::Q3_K,    true,  false, "alias for Q3_K_M"},
    {"Q4_K",      Ftype::Q4_K_M,    TypeId::Q4_K,    true,  false, "alias for Q4_K_M"},
    {"Q5_K",      Ftype::Q5_K_M,    TypeId::Q5_K,    true,  false, "alias for Q5_K_M"},
    {"COPY",      Ftype::F32,       TypeId::F32,     true,  true,  "copy every tensor unchanged"},
};

}  // namespace

std::span<const FtypeInfo> all_ftypes() { return kFtypes; }

const FtypeInfo* find_ftype(Ftype ftype) {
  for (const auto& f : kFtypes) {
    if (f.ftype == ftype && !f.is_alias) return &f;
  }
  return nullptr;
}

const FtypeInfo* find_ftype(int32_t value) { return find_ftype(static_cast<Ftype>(value)); }

std::string ftype_name(Ftype ftype) {
  if (const FtypeInfo* f = find_ftype(ftype)) return f->name;
  if (ftype == Ftype::NVFP4) return "NVFP4";
  return fmt::format("ftype {}", static_cast<int32_t>(ftype));
}

std::string ftype_name_list() {
  std::string out;
  for (const auto& f : kFtypes) {
    if (!out.empty()) out += ", ";
    out += f.name;
  }
  return out;
}

Result<const FtypeInfo*> parse_ftype(std::string_view text) {
  for (const auto& f : kFtypes) {
    if (iequals(text, f.name)) return &f;
  }
  // llama-quantize also takes the number stored in general.file_type. We
  // accept only a whole decimal number (it would also read "15abc" as 15).
  int32_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (!text.empty() && ec == std::errc() && ptr == end) {
    if (const FtypeInfo* f = find_ftype(value)) return f;
  }
  return make_error("unknown quantization type '{}' (valid: {})", text, ftype_name_list());
}

}  // namespace apex::plan
