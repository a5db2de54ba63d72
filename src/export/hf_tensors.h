// Where each GGUF tensor of an architecture goes in a Hugging Face
// (transformers) checkpoint, and what kind of tensor it is, as data: a new
// architecture is a new table. Names follow transformers' modelling code
// for each family (the same correspondence llama.cpp's converter applies in
// the other direction; src/convert/hf_names holds it for `apex convert`).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

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
};

struct TensorRow {
  const char* gguf;  // after "blk.{bid}." for per-layer rows
  // HF module for kLinear / kRouter / experts (the weight's name without
  // ".weight"; experts: the per-expert module with "{xid}"), full name else.
  const char* hf;
  Kind kind;
};

struct ArchTensors {
  std::string_view arch;              // GGUF general.architecture
  std::string_view hf_architecture;   // config.json "architectures"[0]
  std::string_view hf_model_type;
  std::span<const TensorRow> global;  // outside the blocks
  std::span<const TensorRow> layer;   // "model.layers.{bid}." is prepended to hf
  // Fused expert parameter names (transformers' MoE experts modules), after
  // "model.layers.{bid}.": gate and up stacked into one, down alone.
  const char* fused_gate_up;
  const char* fused_down;
};

const ArchTensors* find_arch_tensors(std::string_view arch);
std::string arch_tensors_list();  // "qwen2moe, qwen3moe"

struct TensorPlace {
  const TensorRow* row = nullptr;
  int bid = -1;          // block, -1 outside the blocks
  std::string hf;        // filled: HF name (module for linears, per-expert pattern with {xid})
};
// "model.layers.{bid}."
std::string layer_prefix(int bid);
// Null when the GGUF name is not in the table.
std::optional<TensorPlace> place_tensor(const ArchTensors& a, std::string_view gguf_name);

}  // namespace apex::xport
