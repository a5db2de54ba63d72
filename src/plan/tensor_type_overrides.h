// Per-tensor type overrides: llama-quantize's --tensor-type PATTERN=TYPE and
// --tensor-type-file. PATTERN is an ECMAScript regular expression searched
// anywhere in the tensor name ("attn_v" matches "blk.3.attn_v.weight"); the
// first override whose pattern matches decides the type. Patterns are
// lower-cased before they are compiled, as upstream does, so "ATTN_V=q8_0"
// means "attn_v". TYPE is any ggml type name, case-insensitive.
//
// An override replaces the ftype's mixture rules for the tensors it names,
// but the shape fallback still applies (a Q4_K override on a tensor with rows
// of 96 becomes Q5_0), and it is ignored for F32/F16/BF16 ftypes, exactly as
// in llama_model_quantize. See llama_rules.h.
#pragma once

#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "quant/type_id.h"
#include "util/status.h"

namespace apex::plan {

struct TensorTypeOverride {
  std::string pattern;  // lower-cased, as compiled
  quant::TypeId type;
  std::regex regex;     // ECMAScript, compiled once
};

class TensorTypeOverrides {
 public:
  // Parses one PATTERN=TYPE item and appends it. The pattern is everything
  // before the first '=', the type everything after it.
  Status add(std::string_view item);
  // Appends every whitespace-separated item of `text`; `source` names the
  // text in errors (a file name).
  Status add_text(std::string_view text, std::string_view source);
  // Reads a --tensor-type-file and appends its items.
  Status add_file(const std::string& path);

  // The type of the first override whose pattern is found in `tensor_name`,
  // or null when none matches.
  const quant::TypeId* match(std::string_view tensor_name) const;

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  const std::vector<TensorTypeOverride>& items() const { return items_; }

 private:
  std::vector<TensorTypeOverride> items_;
};

// One PATTERN=TYPE item, validated the way llama-quantize validates it (no
// '=', empty pattern, empty type, unknown type) plus a regex that compiles.
Result<TensorTypeOverride> parse_tensor_type_override(std::string_view item);

}  // namespace apex::plan
