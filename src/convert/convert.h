// `apex convert`: a local Hugging Face checkpoint (config.json, safetensors
// shards, tokenizer.json + tokenizer_config.json) of a supported MoE family
// into a GGUF file, as llama.cpp's convert_hf_to_gguf.py writes it:
//  - metadata: general.architecture / type / name parts, the architecture's
//    hyper-parameter keys, file type, quantization version, then the
//    tokenizer (src/synth/hf_tokenizer: tokens, types, merges, pre-tokenizer,
//    special ids, add-BOS/EOS flags; the vocabulary padded to config.json's
//    vocab_size with [PAD<i>] tokens; tokenizer.chat_template);
//  - tensors in the converter's order: shard files sorted by name, tensors
//    sorted by name within each, a block's routed experts stacked into the
//    3-D GGUF tensors (down, gate, up) when its last expert tensor is read;
//  - types: F32 for 1-D tensors, norms and routers (ffn_gate_inp*), the
//    requested type for the other matrices (Q8_0 falls back to F16 for rows
//    that are not a multiple of 32, as the converter does).
// Memory stays bounded: one tensor (an expert stack is streamed expert by
// expert) in slabs of rows, shards mapped on demand and released; the output
// goes to a temp file renamed at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "convert/hf_names.h"
#include "convert/hf_values.h"
#include "gguf/gguf.h"
#include "quant/type_id.h"
#include "util/status.h"

namespace apex::convert {

struct ConvertOptions {
  std::string hf_dir;
  std::string out_path;
  // F32, F16, BF16 or Q8_0: the type of the matrices (llama.cpp's --outtype).
  quant::TypeId outtype = quant::TypeId::F16;
};

// What was (or would be) written.
struct ConvertPlan {
  std::string arch;                // GGUF architecture
  gguf::Layout layout;             // metadata and tensor infos (offsets assigned)
  // Per GGUF tensor: the HF tensors it is made of (one, or one per expert).
  std::vector<std::vector<std::string>> sources;
  // Per GGUF tensor: the name-table row whose values the converter changes
  // (hf_values.h), else -1; and for a stack cut from a fused gate_up_proj,
  // which half (0 gate, 1 up), else -1.
  std::vector<int> value_rows, fused_halves;
  const ArchNames* names = nullptr;
  LinearAttnDims linear;  // Gated DeltaNet head layout (hybrids only)
};

// Reads and checks everything (config, index, shard headers, tokenizer,
// shapes, dtypes) without converting data.
Result<ConvertPlan> plan_conversion(const ConvertOptions& opts);

using ProgressFn = std::function<void(uint64_t done, uint64_t total, std::string_view tensor)>;

// plan_conversion, then streams every tensor into opts.out_path.
Result<ConvertPlan> convert_checkpoint(const ConvertOptions& opts, const ProgressFn& progress = {});

// llama_ftype of a --outtype (general.file_type): F32 0, F16 1, Q8_0 7, BF16 32.
uint32_t file_type_of_outtype(quant::TypeId t);

}  // namespace apex::convert
