// What export-int needs to know about each GGUF tensor beyond its Hugging
// Face name: what kind of tensor it is (which decides how it is stored) and
// the names of transformers' fused expert parameters. The names themselves
// come from src/convert/hf_names, the one GGUF <-> transformers name table
// (shared with `apex convert` / `apex export-hf`), so a new architecture gets
// its names there and only its fused expert names here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "convert/hf_names.h"

namespace apex::xport {

enum class Kind {
  kEmbedding,   // model.embed_tokens: kept BF16
  kHead,        // lm_head: kept BF16
  kLinear,      // an nn.Linear weight: quantized
  kRouter,      // the expert router (mlp.gate): quantized in the apex format (seed 003
                // lists it among the Linear8bit modules), unquantized for vLLM
  kVector,      // norms, biases: F32
  kRowVector,   // a GGUF vector that is a Linear(n, 1) in HF ([1, n]): F32
  kExpertGate,  // routed experts, GGUF [in, out, E] stacks
  kExpertUp,
  kExpertDown,
  kConv,        // a depthwise Conv1d weight (Gated DeltaNet): F32, HF [channels, 1, kernel]
};

struct ArchTensors {
  const convert::ArchNames* names;  // GGUF <-> HF names, HF architecture and model_type
  // Fused expert parameter names (transformers' MoE experts modules), after
  // "model.layers.{bid}.": gate and up stacked into one, down alone.
  const char* fused_gate_up;
  const char* fused_down;
  // Blocks from here on are MTP blocks, named under "mtp." (-1: none); set
  // from the GGUF file's block_count and nextn_predict_layers.
  int n_trunk = -1;
};

// Nullopt when export-int does not support the architecture.
std::optional<ArchTensors> find_arch_tensors(std::string_view arch);
std::string arch_tensors_list();  // "qwen2moe, qwen3moe"

struct TensorPlace {
  Kind kind = Kind::kVector;
  int bid = -1;    // block, -1 outside the blocks
  // HF name: the module (weight name less ".weight") for kLinear / kRouter,
  // the full name for the others; empty for experts (see expert_module).
  std::string hf;
  // The name-table row when the converter changed the values (the export
  // undoes it, hf_values.h); null otherwise.
  const convert::NamePair* values = nullptr;
};
// "model.layers.{bid}."
std::string layer_prefix(int bid);
// Nullopt when the GGUF name is not in the table or has no kind.
std::optional<TensorPlace> place_tensor(const ArchTensors& a, std::string_view gguf_name);
// The HF module of expert `xid` of a GGUF routed-expert stack that
// place_tensor placed, e.g. "model.layers.3.mlp.experts.7.gate_proj".
std::string expert_module(const ArchTensors& a, std::string_view gguf_name, int xid);
// The fused transformers parameter a routed-expert stack belongs to, e.g.
// "model.layers.3.mlp.experts.gate_up_proj" or "mtp.layers.0.mlp.experts.down_proj".
std::string fused_expert_name(const ArchTensors& a, std::string_view gguf_name);

}  // namespace apex::xport
