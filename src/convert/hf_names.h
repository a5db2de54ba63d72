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

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace apex::convert {

// How a tensor's values differ between the two sides (llama.cpp's converter
// changes some on the way in; see hf_values.h for the arithmetic).
enum class ValueMap : uint8_t {
  kSame,
  kPlusOne,  // GGUF = HF + 1: Qwen3.5 RMS norms store the gain less one
  kNegExp,   // GGUF = -exp(HF): Gated DeltaNet's A_log becomes the decay rate A
};
// Which value heads of a Gated DeltaNet tensor the converter reorders from
// transformers' grouped order (value heads of key head 0, then of key head
// 1, ...) to ggml's tiled order (value head 0 of every key head, then 1, ...).
// "Outer" is the HF tensor's first axis (GGUF's last), "inner" its last.
enum class VHeads : uint8_t {
  kNone,
  kOuter,         // value-head-wide slices of the outer axis (in_proj_z)
  kOuterAfterQK,  // the same after the q and k channels (in_proj_qkv, conv1d)
  kOuterScalar,   // one entry per value head (in_proj_a/b, A_log, dt_bias)
  kInner,         // value-head-wide slices of every row (out_proj)
};

struct NamePair {
  const char* gguf;  // e.g. "blk.{bid}.attn_q.weight"
  const char* hf;    // e.g. "model.layers.{bid}.self_attn.q_proj.weight"
  // Rank of the HF tensor when it differs from the GGUF one: Qwen2-MoE's
  // shared-expert gate is a Linear(n_embd, 1), [1, n_embd] in the
  // checkpoint, which GGUF stores as the vector [n_embd]. 0 = same rank.
  int hf_rank = 0;
  ValueMap value = ValueMap::kSame;
  VHeads heads = VHeads::kNone;
  // A depthwise Conv1d weight: [channels, 1, kernel] in HF, [kernel,
  // channels] in GGUF (the converter squeezes the unit axis).
  bool conv = false;
};

struct ExpertNames {
  const char* gguf;     // the 3-D tensor, e.g. "blk.{bid}.ffn_gate_exps.weight"
  const char* hf;       // one expert, e.g. "model.layers.{bid}.mlp.experts.{xid}.gate_proj.weight"
  const char* hf_stacked;  // all experts of the block in one [n_expert, out, in] tensor
  // transformers >= 5's fused expert parameter holding this stack: gate and
  // up share "gate_up_proj" [n_expert, 2 * ff, n_embd] (per expert the gate
  // rows, then the up rows; fused_half 0 / 1), down is "down_proj"
  // [n_expert, n_embd, ff] (fused_half -1).
  const char* hf_fused = nullptr;
  int fused_half = -1;
};

struct ArchNames {
  std::string_view arch;                  // GGUF general.architecture
  std::string_view hf_architecture;       // config.json "architectures"[0]
  std::string_view hf_model_type;         // config.json "model_type"
  std::span<const NamePair> tensors;      // everything but the routed experts
  std::span<const ExpertNames> experts;   // routed experts, in the converter's merge order
  // A second config.json "architectures" entry read as this family
  // (Qwen3.5's multimodal wrapper beside its text-only model class).
  std::string_view hf_architecture_alt = {};
  // The checkpoint keeps multi-token-prediction blocks under "mtp." (Qwen3.5);
  // GGUF numbers them after the trunk's blocks.
  bool mtp = false;
};

// Null when the architecture has no table.
const ArchNames* find_arch_names(std::string_view gguf_arch);
// By config.json's "architectures" entry (e.g. "Qwen3MoeForCausalLM").
const ArchNames* find_arch_names_by_hf(std::string_view hf_architecture);
// "qwen2moe, qwen3moe, qwen35moe"
std::string arch_names_list();

// A name matched against a table: which row, and the numbers in it.
struct NameMatch {
  std::string name;  // the name on the other side
  int bid = -1;      // block, -1 for a tensor outside the blocks
  int xid = -1;      // expert, -1 unless an expert row matched
  size_t row = 0;    // index into tensors or experts
  bool expert = false;
};

// GGUF -> HF for a tensor that is not a routed-expert stack. `n_trunk`: the
// number of trunk blocks when blocks from there on are MTP blocks (HF names
// under "mtp."), -1 when there are none.
std::optional<NameMatch> gguf_to_hf(const ArchNames& a, std::string_view gguf_name, int n_trunk = -1);
// HF -> GGUF for a tensor that is not one routed expert.
std::optional<NameMatch> hf_to_gguf(const ArchNames& a, std::string_view hf_name);
// A GGUF routed-expert stack: the row it belongs to (name = the HF name of
// expert `xid`).
std::optional<NameMatch> gguf_expert_to_hf(const ArchNames& a, std::string_view gguf_name, int xid,
                                           int n_trunk = -1);
// A GGUF routed-expert stack: the fused transformers parameter it is part of
// (name), its row (row), block, and the half (xid: 0 gate, 1 up, -1 down).
std::optional<NameMatch> gguf_expert_to_hf_fused(const ArchNames& a, std::string_view gguf_name, int n_trunk = -1);
// One fused HF expert parameter ("...mlp.experts.gate_up_proj" or
// "...down_proj", with or without ".weight"): the rows of `a.experts` it
// holds, in order (gate and up, or down), and its block.
struct FusedMatch {
  std::vector<size_t> rows;
  int bid = -1;
};
std::optional<FusedMatch> hf_fused_to_gguf(const ArchNames& a, std::string_view hf_name);

// The name as the table spells it: "language_model." removed (multimodal
// wrappers), and for an architecture with MTP blocks "mtp.layers.I.X" ->
// "model.layers.<n_trunk + I>.X" and the MTP head's own tensors (mtp.fc,
// mtp.pre_fc_norm_embedding, mtp.pre_fc_norm_hidden, mtp.norm) -> the
// block-numbered names the converter gives them (eh_proj, enorm, hnorm,
// shared_head.norm).
std::string hf_table_name(const ArchNames& a, std::string_view stored, int n_trunk);
// The inverse for a table name of block `bid` (unchanged below n_trunk).
std::string hf_stored_name(const ArchNames& a, std::string table_name, int bid, int n_trunk);
// One HF expert tensor: the GGUF stack it goes into, its block and expert.
std::optional<NameMatch> hf_expert_to_gguf(const ArchNames& a, std::string_view hf_name);

// Fills "{bid}" and "{xid}" in a pattern.
std::string fill_name(std::string_view pattern, int bid, int xid = -1);

}  // namespace apex::convert
