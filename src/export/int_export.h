// `apex export-int`: a GGUF MoE model (any type apex dequantizes) to a
// Hugging Face directory of symmetric group-wise INT8 / INT4 safetensors.
//
// Quantization (both formats): per output row, groups of `group` consecutive
// input columns (the last group may be shorter); scale = max|w| / qmax with
// qmax 127 (8 bits) or 7 (4 bits), stored in 16 bits and rounded UP to the
// next representable value so that no |w| / scale exceeds qmax (no clamping:
// every element's error is at most scale / 2); q = round-half-even(w / scale)
// in [-qmax, qmax]; w' = q * scale.
//
// --format apex (the layout of ../shared/seeds/003: weights of transformers'
// modules with "_i8"/"_i4" tensors, routed experts as merged 3-D stacks):
//   linear  X.weight [out, in]  ->  X.weight_i8  I8 [out, in]
//                                   X.weight_scale_i8 F16 [n_groups, out]
//           4 bits              ->  X.weight_i4  U8 [out, ceil(in/2)]
//                                   X.weight_scale_i4 F16 [n_groups, out]
//   experts (transformers' fused MoE parameters)
//           mlp.experts.gate_up_proj [E, 2*ff, n_embd] (per expert the gate
//           rows, then the up rows) and mlp.experts.down_proj [E, n_embd, ff]
//           -> <name>_q8 I8 [E, out, in] + <name>_scale_q8 F16 [E, n_groups, out]
//           -> <name>_q4 U8 [E, out, ceil(in/2)] + <name>_scale_q4 F16 [E, n_groups, out]
//   int4 nibbles: element 2j in the low nibble, 2j+1 in the high nibble of
//   byte j, each stored as q + 8 (1..15; 8 is zero), as compressed-tensors
//   stores them; an odd last element leaves the high nibble 0.
// --format compressed-tensors (vLLM's pack-quantized W4A16 / W8A16, loaded
// without custom code): per Linear and per expert
//   X.weight_packed I32 [out, ceil(in*bits/32)], X.weight_scale F16
//   [out, n_groups], X.weight_shape I64 [2] = [out, in]; experts as
//   model.layers.N.mlp.experts.E.{gate,up,down}_proj.*; the routers stay
//   unquantized (vLLM builds them without a quant method).
//   Layout source: compressed-tensors' pack_to_int32 (vllm-project/
//   compressed-tensors, compressors/quantized_compressors/pack_quantized.py
//   and utils): q + 2^(bits-1) as unsigned, 32/bits values per int32 along
//   the input dimension, value k of a word at bits [k*bits, (k+1)*bits),
//   zero-padded; weight_shape int64 [out, in]; read by vLLM's
//   CompressedTensorsWNA16 (Linear) and CompressedTensorsWNA16MoEMethod.
// Both: embed_tokens and lm_head BF16, norms and biases F32; config.json with
// quantization_config; apex_provenance.json (source sha256, apex version,
// bits, group, per-tensor max / mean absolute reconstruction error).
//
// Memory: the source is mmapped and read a slab of rows at a time (pages
// dropped after each tensor); output is streamed; only one tensor's scales
// are held (a few MB). The output goes to OUT_DIR.tmp.<pid> and is renamed
// to OUT_DIR at the end; on failure it is removed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace apex::xport {

enum class IntFormat { kApex, kCompressedTensors };
Result<IntFormat> parse_int_format(std::string_view s);
const char* int_format_name(IntFormat f);

inline constexpr const char* kProvenanceFileName = "apex_provenance.json";

struct IntExportOptions {
  std::string gguf_path;
  std::string out_dir;
  int bits = 8;            // 8 or 4
  int64_t group = 128;     // input columns per scale
  IntFormat format = IntFormat::kApex;
  uint64_t max_shard_bytes = uint64_t{4} << 30;
  int n_threads = 0;       // 0 = all
  bool hash_source = true; // sha256 of the source (seconds per GB)
  // Called after each tensor: output bytes done, total, tensor name.
  std::function<void(uint64_t, uint64_t, std::string_view)> progress;
};

struct TensorReport {
  std::string name;         // the output weight tensor
  std::string source;       // GGUF tensor(s)
  std::string dtype;        // what it was stored as ("int8", "int4", "BF16", "F32")
  double max_abs_err = 0;   // |w - w'| over every element
  double mean_abs_err = 0;
  double max_abs_weight = 0;
};

struct IntExportReport {
  std::string out_dir;
  std::string arch;
  std::string source_sha256;
  uint64_t bytes_written = 0;   // tensor data
  size_t n_shards = 0;
  std::vector<TensorReport> tensors;
};

Result<IntExportReport> export_int(const IntExportOptions& opts);

}  // namespace apex::xport
