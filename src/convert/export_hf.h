// `apex export-hf`: a GGUF model of a family with a name table written as a
// local Hugging Face checkpoint that transformers (and `apex convert`) load:
// config.json with the architecture's fields, safetensors shards plus
// model.safetensors.index.json, routed experts split back into one 2-D
// tensor per expert (model.layers.N.mlp.experts.E.gate_proj.weight ...), and
// tokenizer files copied from a tokenizer directory when one is given.
//
// The checkpoint is assembled in a sibling folder "<out>.partial-<pid>" and
// renamed to <out> only when complete, so an interrupted or failed export
// never leaves a directory that looks finished.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace apex::convert {

struct ExportHfOptions {
  std::string gguf_path;
  std::string out_dir;
  // "auto" (each tensor keeps its float type; quantized tensors become
  // BF16), "bf16", "f16" or "f32" (every tensor).
  std::string dtype = "auto";
  // Folder with tokenizer.json / tokenizer_config.json (and any other
  // tokenizer files) to copy; empty: none.
  std::string tokenizer_dir;
  uint64_t max_shard_bytes = uint64_t{4} << 30;
  // Routed experts as transformers >= 5 stores them: per block one
  // mlp.experts.gate_up_proj [n_expert, 2 * ff, n_embd] and one
  // mlp.experts.down_proj [n_expert, n_embd, ff], instead of one 2-D tensor
  // per expert and projection.
  bool fused_experts = false;
};

struct ExportHfReport {
  std::string arch;
  size_t n_tensors = 0;        // HF tensors written
  size_t n_shards = 0;
  uint64_t tensor_bytes = 0;
  std::vector<std::string> copied;  // tokenizer files copied
};

using ExportProgressFn = std::function<void(uint64_t done, uint64_t total, std::string_view tensor)>;

Result<ExportHfReport> export_hf(const ExportHfOptions& opts, const ExportProgressFn& progress = {});

}  // namespace apex::convert
