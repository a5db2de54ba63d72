// GGUF <-> Hugging Face tensor names, as data. One table per architecture
// lists each GGUF tensor name beside the name the transformers checkpoint
// uses for it, with "{bid}" standing for the block number. Routed experts
// are stored differently on the two sides: GGUF keeps one 3-D tensor per
// projection and block ([ne0, ne1, n_expert]), a Hugging Face checkpoint one
// 2-D tensor per expert ("{xid}" in the name); the expert rows of the table
// say how the two correspond, and also give the name of the stacked 3-D
// tensor (the name llama.cpp's converter gives the stack it builds, and the
// one a stacked [n_expert, out, in] export uses).
//
// The tables follow gguf-py's tensor_mapping.py for these architectures
// (read, not copied) and the transformers modelling code of each family.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace apex::convert {

struct NamePair {
  const char* gguf;  // e.g. "blk.{bid}.attn_q.weight"
  const char* hf;    // e.g. "model.layers.{bid}.self_attn.q_proj.weight"
  // Rank of the HF tensor when it differs from the GGUF one: Qwen2-MoE's
  // shared-expert gate is a Linear(n_embd, 1), [1, n_embd] in the
  // checkpoint, which GGUF stores as the vector [n_embd]. 0 = same rank.
  int hf_rank = 0;
};

struct ExpertNames {
  const char* gguf;     // the 3-D tensor, e.g. "blk.{bid}.ffn_gate_exps.weight"
  const char* hf;       // one expert, e.g. "model.layers.{bid}.mlp.experts.{xid}.gate_proj.weight"
  const char* hf_stacked;  // all experts of the block in one [n_expert, out, in] tensor
};

struct ArchNames {
  std::string_view arch;                  // GGUF general.architecture
  std::string_view hf_architecture;       // config.json "architectures"[0]
  std::string_view hf_model_type;         // config.json "model_type"
  std::span<const NamePair> tensors;      // everything but the routed experts
  std::span<const ExpertNames> experts;   // routed experts, in the converter's merge order
};

// Null when the architecture has no table.
const ArchNames* find_arch_names(std::string_view gguf_arch);
// By config.json's "architectures" entry (e.g. "Qwen3MoeForCausalLM").
const ArchNames* find_arch_names_by_hf(std::string_view hf_architecture);
// "qwen2moe, qwen3moe"
std::string arch_names_list();

// A name matched against a table: which row, and the numbers in it.
struct NameMatch {
  std::string name;  // the name on the other side
  int bid = -1;      // block, -1 for a tensor outside the blocks
  int xid = -1;      // expert, -1 unless an expert row matched
  size_t row = 0;    // index into tensors or experts
  bool expert = false;
};

// GGUF -> HF for a tensor that is not a routed-expert stack.
std::optional<NameMatch> gguf_to_hf(const ArchNames& a, std::string_view gguf_name);
// HF -> GGUF for a tensor that is not one routed expert.
std::optional<NameMatch> hf_to_gguf(const ArchNames& a, std::string_view hf_name);
// A GGUF routed-expert stack: the row it belongs to (name = the HF name of
// expert `xid`).
std::optional<NameMatch> gguf_expert_to_hf(const ArchNames& a, std::string_view gguf_name, int xid);
// One HF expert tensor: the GGUF stack it goes into, its block and expert.
std::optional<NameMatch> hf_expert_to_gguf(const ArchNames& a, std::string_view hf_name);

// Fills "{bid}" and "{xid}" in a pattern.
std::string fill_name(std::string_view pattern, int bid, int xid = -1);

}  // namespace apex::convert
