// File types ("ftypes"): the quantization mixes that `llama-quantize` and
// `apex quantize` accept, such as Q4_K_M or IQ2_XXS. An ftype names a default
// tensor type plus the mixture rules in llama_rules.h that move some tensors
// to other types. The numeric values are llama.cpp's llama_ftype, which GGUF
// files store in general.file_type, so they are a wire format: never renumber.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "quant/type_id.h"
#include "util/status.h"

namespace apex::plan {

enum class Ftype : int32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  // 4, 5 and 6 were Q4_1_SOME_F16, Q4_2 and Q4_3: retired upstream.
  Q8_0 = 7,
  Q5_0 = 8,
  Q5_1 = 9,
  Q2_K = 10,
  Q3_K_S = 11,
  Q3_K_M = 12,
  Q3_K_L = 13,
  Q4_K_S = 14,
  Q4_K_M = 15,
  Q5_K_S = 16,
  Q5_K_M = 17,
  Q6_K = 18,
  IQ2_XXS = 19,
  IQ2_XS = 20,
  Q2_K_S = 21,
  IQ3_XS = 22,
  IQ3_XXS = 23,
  IQ1_S = 24,
  IQ4_NL = 25,
  IQ3_S = 26,
  IQ3_M = 27,
  IQ2_S = 28,
  IQ2_M = 29,
  IQ4_XS = 30,
  IQ1_M = 31,
  BF16 = 32,
  // 33-35 were the Q4_0_x_y repacked layouts: retired upstream.
  TQ1_0 = 36,
  TQ2_0 = 37,
  MXFP4_MOE = 38,
  // Declared by llama.h but llama_model_quantize has no default type for it,
  // so it can be read from a file but not requested.
  NVFP4 = 39,
  Q1_0 = 40,
  Q2_0 = 41,
};

// One line of the ftype table. Names are llama-quantize's spelling.
struct FtypeInfo {
  const char* name;
  Ftype ftype;
  quant::TypeId default_type;  // the type every quantizable tensor starts from
  // Aliases (Q3_K, Q4_K, Q5_K stand for the _M mixes) and COPY are extra
  // spellings; exactly one canonical row exists per requestable ftype.
  bool is_alias;
  // COPY: write every tensor unchanged (llama-quantize's only_copy). Its
  // ftype value is F32 but the output keeps the input's file type.
  bool only_copy;
  const char* description;
};

// Every name `apex quantize` accepts: canonical rows in ftype order, then
// the aliases, then COPY.
std::span<const FtypeInfo> all_ftypes();

// The canonical row of a requestable ftype; null for NVFP4 and for values
// that are not ftypes.
const FtypeInfo* find_ftype(Ftype ftype);
const FtypeInfo* find_ftype(int32_t value);

// The canonical name ("Q4_K_M"), or "ftype <n>" for values without one.
std::string ftype_name(Ftype ftype);

// Case-insensitive name ("q4_k_m", "Q4_K", "copy") or the decimal ftype
// value ("15"), as llama-quantize accepts them. A number maps to the
// canonical row (0 is F32, never COPY). The error lists the valid names.
Result<const FtypeInfo*> parse_ftype(std::string_view text);

// Comma-separated canonical names, aliases and COPY, for errors and --help.
std::string ftype_name_list();

}  // namespace apex::plan
