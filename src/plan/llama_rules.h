// llama.cpp's choice of tensor types, reproduced exactly: given a model's
// facts, its tensors and the quantize options, which tensors
// llama_model_quantize quantizes and to which type, in which order it writes
// them, and which of them it refuses to quantize without an importance
// matrix. `apex quantize IN OUT FTYPE` must pick the same types as
// `llama-quantize IN OUT FTYPE` for its output to be byte-identical.
//
// The rules work in four steps per tensor (see choose_tensor_types):
//   1. eligibility  -- 2-D/3-D "*weight" tensors that are not norms, routers,
//                      positional tables or one of a list of small tensors;
//   2. explicit     -- --token-embedding-type / --output-tensor-type, then
//                      the first matching --tensor-type pattern;
//   3. mixture      -- the ftype's default type, moved up or down by tensor
//                      category, layer position and model shape (skipped
//                      with --pure or when a pattern matched);
//   4. fallback     -- a type whose block does not divide the row length is
//                      replaced by a smaller-block type (or F16).
// Some mixture rules count the tensors of a category seen so far, so the
// tensors must be given in llama.cpp's processing order (llama_tensor_order).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "plan/ftype.h"
#include "plan/tensor_type_overrides.h"
#include "quant/type_id.h"
#include "util/status.h"

namespace apex::plan {

// What the rules need to know about the model. The names follow the GGUF
// keys `<arch>.<key>` that model_facts_from_metadata reads.
struct ModelFacts {
  std::string arch;             // general.architecture ("llama", "qwen3moe", ...)
  uint32_t n_layer = 0;         // block_count: every block, next-token-prediction ones included
  uint32_t n_layer_nextn = 0;   // nextn_predict_layers (trailing MTP blocks)
  uint32_t n_expert = 0;        // expert_count, 0 for dense models
  uint32_t n_head = 0;          // attention.head_count of layer 0
  uint32_t n_head_kv = 0;       // attention.head_count_kv of layer 0 (defaults to n_head)
  uint32_t n_embd = 0;          // embedding_length (informational)
  uint32_t n_ff = 0;            // feed_forward_length of layer 0 (informational)
  // llama.cpp labels the model "70B": attn_v then gets Q5_K where the mix
  // would give Q3_K or Q4_K. model_facts_from_metadata sets it with
  // is_70b_model(); set it yourself when building facts by hand.
  bool is_70b = false;

  // Query heads per KV head (grouped-query attention), 0 without KV heads.
  uint32_t n_gqa() const { return n_head_kv == 0 ? 0 : n_head / n_head_kv; }
};

// llama.cpp's "70B" label, which it derives per architecture from the layer
// count: llama (80 layers without next-token blocks, not 8 experts, grouped
// KV heads), qwen2 / deci / olmo (80 layers), jais2 (68 layers).
bool is_70b_model(const ModelFacts& facts);

// Looks up a metadata value by key; null when absent. Adapts a gguf::File,
// a gguf::Layout or a plain map in tests.
using MetadataLookup = std::function<const gguf::Value*(std::string_view key)>;

// Reads general.architecture and the `<arch>.*` keys above. block_count is
// required (1..512 like llama.cpp); the rest default to 0, head_count_kv to
// head_count. Per-layer arrays (head_count, head_count_kv,
// feed_forward_length) contribute their first element, as llama.cpp's
// n_head() and n_gqa() use layer 0.
Result<ModelFacts> model_facts_from_metadata(const MetadataLookup& lookup);

inline Result<ModelFacts> model_facts_from_gguf(const gguf::File& file) {
  return model_facts_from_metadata([&file](std::string_view key) -> const gguf::Value* {
    const gguf::KeyValue* kv = file.find(key);
    return kv != nullptr ? &kv->value : nullptr;
  });
}

// One tensor of the input model.
struct TensorDesc {
  std::string name;
  std::vector<int64_t> ne;  // [ne0, ne1, ...] in ggml order, ne0 contiguous (1..4 dims)
  quant::TypeId type;       // its type in the input file
};

struct QuantizeOptions {
  Ftype ftype = Ftype::Q8_0;
  bool only_copy = false;               // COPY: nothing is quantized
  bool pure = false;                    // --pure: no mixture rules
  bool quantize_output_tensor = true;   // false: --leave-output-tensor
  std::optional<quant::TypeId> output_tensor_type;    // --output-tensor-type
  std::optional<quant::TypeId> token_embedding_type;  // --token-embedding-type
  TensorTypeOverrides overrides;        // --tensor-type / --tensor-type-file
  // An imatrix was given (even one without entries). Changes the mixes of
  // IQ3_XXS, IQ4_NL, IQ4_XS, Q4_0 and Q5_0.
  bool has_imatrix = false;
  bool allow_requantize = false;        // --allow-requantize (see check_choices)
};

// Broad tensor roles the rules distinguish, from the name alone.
enum class TensorCategory {
  kTokenEmbd,       // token_embd.weight, per_layer_token_embd.weight
  kOutput,          // output.weight
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnQkv,         // fused q/k/v: treated like attn_v
  kAttnKvB,         // MLA's kv_b projection: treated like attn_v
  kAttnOutput,
  kFfnUp,           // every "ffn_up*" (experts, shared experts)
  kFfnGate,         // every "ffn_gate*" (the router is never quantized)
  kFfnDown,
  kOther,
};
TensorCategory tensor_category(std::string_view name);
const char* category_name(TensorCategory c);

// Where a tensor's type came from.
enum class ChoiceSource {
  kNotQuantized,        // not eligible: keeps its input type
  kTokenEmbeddingType,  // --token-embedding-type
  kOutputTensorType,    // --output-tensor-type
  kOverride,            // a --tensor-type pattern
  kDefault,             // the ftype's default type (F16/BF16/F32 ftypes, --pure)
  kMixture,             // the ftype's mixture rules
};

struct TensorChoice {
  bool allows_quantization = false;  // eligible at all (step 1)
  quant::TypeId type = quant::TypeId::F32;  // type in the output file
  ChoiceSource source = ChoiceSource::kNotQuantized;
  // The row length did not fit the chosen type: `fallback_from` was replaced
  // by `type` (llama.cpp logs "falling back to ...").
  bool fell_back = false;
  quant::TypeId fallback_from = quant::TypeId::F32;
  // llama.cpp refuses to produce this type without importance data:
  // IQ1_S/M, IQ2_XXS/XS/S, IQ3_XXS, and Q2_K within a Q2_K_S file; never for
  // token_embd / output. Evaluated on `type` whether or not the tensor
  // changes; see check_choices for how llama.cpp applies it.
  bool requires_imatrix = false;
};

// Step 1 alone: whether llama.cpp quantizes this tensor at all.
bool tensor_allows_quantization(const TensorDesc& tensor, const QuantizeOptions& options);

// The type of every tensor, given in processing order (llama_tensor_order).
// Errors where llama_model_quantize fails while choosing: an ftype without a
// default type (NVFP4), a block size with no fallback (Q1_0, NVFP4, Q8_K rows that
// do not fit), an MoE ffn tensor whose name carries no valid "blk.N." layer;
// and unknown type ids in the tensors or options.
Result<std::vector<TensorChoice>> choose_tensor_types(const ModelFacts& model,
                                                      std::span<const TensorDesc> tensors,
                                                      const QuantizeOptions& options);

// Checks llama_model_quantize makes after choosing, in its order, naming the
// first offending tensor:
//   - without any imatrix, an eligible tensor whose choice requires one;
//   - a tensor that changes type from an already quantized type without
//     allow_requantize, or from an integer type (nothing converts those);
//   - a chosen type whose block size does not divide the row length (only
//     possible with --token-embedding-type / --output-tensor-type, which skip
//     the fallback; llama.cpp aborts there).
// Whether each tensor that requires an imatrix has an entry in it is left to
// the caller, which holds the imatrix.
Status check_choices(std::span<const TensorDesc> tensors, std::span<const TensorChoice> choices,
                     const QuantizeOptions& options);

// The usual entry point: the tensors of an input file (in file order) put
// into llama.cpp's processing order, which is also the tensor order of the
// output file, with the type chosen for each. Run check_choices on the result
// before quantizing.
struct TypePlan {
  std::vector<size_t> order;          // order[i]: index in the input list of tensors[i]
  std::vector<TensorDesc> tensors;    // in processing order
  std::vector<TensorChoice> choices;  // parallel to `tensors`
};
Result<TypePlan> plan_types(const ModelFacts& model, std::span<const TensorDesc> file_order,
                            const QuantizeOptions& options);

// The tensors of a GGUF file as the rules see them.
inline std::vector<TensorDesc> tensor_descs(const gguf::File& file) {
  std::vector<TensorDesc> out;
  out.reserve(file.tensors().size());
  for (const gguf::TensorInfo& t : file.tensors()) {
    out.push_back({t.name, t.ne, static_cast<quant::TypeId>(t.type)});
  }
  return out;
}

// llama.cpp's processing (and output file) order: by the layer number after
// a leading "blk." (-1 when there is none, so global tensors come first),
// then by name bytewise. Returns the permutation: order[i] is the index in
// `names` of the i-th tensor to process.
std::vector<size_t> llama_tensor_order(std::span<const std::string> names);
bool llama_tensor_name_less(std::string_view a, std::string_view b);

// The layer index as llama.cpp reads it with sscanf("blk.%d."), or nullopt
// when the name does not start with "blk." and a number.
std::optional<int> layer_of(std::string_view name);

}  // namespace apex::plan
