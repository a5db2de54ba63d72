#include "export/hf_tensors.h"

#include "convert/hf_values.h"
#include "util/check.h"

namespace apex::xport {

namespace {

// The kind of each GGUF tensor, keyed by the name pattern of
// src/convert/hf_names' rows. A GGUF name means the same tensor in every
// family, so one list serves all architectures; a row missing here has no
// place in an export (place_tensor says so rather than guessing).
struct KindRow {
  std::string_view gguf;
  Kind kind;
};
constexpr KindRow kKinds[] = {
    {"token_embd.weight", Kind::kEmbedding},
    {"output.weight", Kind::kHead},
    {"output_norm.weight", Kind::kVector},
    {"blk.{bid}.attn_norm.weight", Kind::kVector},
    {"blk.{bid}.attn_q.weight", Kind::kLinear},
    {"blk.{bid}.attn_k.weight", Kind::kLinear},
    {"blk.{bid}.attn_v.weight", Kind::kLinear},
    {"blk.{bid}.attn_output.weight", Kind::kLinear},
    {"blk.{bid}.attn_q.bias", Kind::kVector},
    {"blk.{bid}.attn_k.bias", Kind::kVector},
    {"blk.{bid}.attn_v.bias", Kind::kVector},
    {"blk.{bid}.attn_q_norm.weight", Kind::kVector},
    {"blk.{bid}.attn_k_norm.weight", Kind::kVector},
    {"blk.{bid}.ffn_norm.weight", Kind::kVector},
    {"blk.{bid}.ffn_gate_inp.weight", Kind::kRouter},
    // Qwen2-MoE's shared-expert gate: a GGUF vector, a Linear(n_embd, 1) in HF.
    {"blk.{bid}.ffn_gate_inp_shexp.weight", Kind::kRowVector},
    {"blk.{bid}.ffn_gate_shexp.weight", Kind::kLinear},
    {"blk.{bid}.ffn_up_shexp.weight", Kind::kLinear},
    {"blk.{bid}.ffn_down_shexp.weight", Kind::kLinear},
    {"blk.{bid}.ffn_gate_exps.weight", Kind::kExpertGate},
    {"blk.{bid}.ffn_up_exps.weight", Kind::kExpertUp},
    {"blk.{bid}.ffn_down_exps.weight", Kind::kExpertDown},
    // Qwen3.5 MoE: Gated DeltaNet, the post-attention norm, the MTP head.
    {"blk.{bid}.post_attention_norm.weight", Kind::kVector},
    {"blk.{bid}.attn_qkv.weight", Kind::kLinear},
    {"blk.{bid}.attn_gate.weight", Kind::kLinear},
    {"blk.{bid}.ssm_conv1d.weight", Kind::kConv},
    {"blk.{bid}.ssm_dt.bias", Kind::kVector},
    {"blk.{bid}.ssm_a", Kind::kVector},
    {"blk.{bid}.ssm_beta.weight", Kind::kLinear},
    {"blk.{bid}.ssm_alpha.weight", Kind::kLinear},
    {"blk.{bid}.ssm_norm.weight", Kind::kVector},
    {"blk.{bid}.ssm_out.weight", Kind::kLinear},
    {"blk.{bid}.nextn.eh_proj.weight", Kind::kLinear},
    {"blk.{bid}.nextn.enorm.weight", Kind::kVector},
    {"blk.{bid}.nextn.hnorm.weight", Kind::kVector},
    {"blk.{bid}.nextn.shared_head_norm.weight", Kind::kVector},
};

std::optional<Kind> kind_of(std::string_view gguf_pattern) {
  for (const KindRow& r : kKinds) {
    if (r.gguf == gguf_pattern) return r.kind;
  }
  return std::nullopt;
}

// Export-int's architectures: those with transformers' fused MoE experts
// modules whose parameter names we know.
struct Fused {
  std::string_view arch;
  const char* gate_up;
  const char* down;
};
constexpr Fused kFused[] = {
    {"qwen2moe", "mlp.experts.gate_up_proj", "mlp.experts.down_proj"},
    {"qwen3moe", "mlp.experts.gate_up_proj", "mlp.experts.down_proj"},
    {"qwen35moe", "mlp.experts.gate_up_proj", "mlp.experts.down_proj"},
};

// A Linear's weight name less ".weight": the module the quantized tensors hang off.
std::string module_of(std::string weight_name) {
  constexpr std::string_view kSuffix = ".weight";
  APEX_CHECK(weight_name.ends_with(kSuffix));
  weight_name.resize(weight_name.size() - kSuffix.size());
  return weight_name;
}

}  // namespace

std::string layer_prefix(int bid) { return "model.layers." + std::to_string(bid) + "."; }

std::optional<ArchTensors> find_arch_tensors(std::string_view arch) {
  for (const Fused& f : kFused) {
    if (f.arch != arch) continue;
    const convert::ArchNames* names = convert::find_arch_names(arch);
    APEX_CHECK(names != nullptr);  // every export-int architecture has a name table
    return ArchTensors{names, f.gate_up, f.down};
  }
  return std::nullopt;
}

std::string arch_tensors_list() {
  std::string s;
  for (const Fused& f : kFused) s += (s.empty() ? "" : ", ") + std::string(f.arch);
  return s;
}

std::optional<TensorPlace> place_tensor(const ArchTensors& a, std::string_view name) {
  if (auto m = convert::gguf_to_hf(*a.names, name, a.n_trunk)) {
    const convert::NamePair& row = a.names->tensors[m->row];
    const auto kind = kind_of(row.gguf);
    if (!kind) return std::nullopt;
    const bool module = *kind == Kind::kLinear || *kind == Kind::kRouter;
    return TensorPlace{*kind, m->bid, module ? module_of(std::move(m->name)) : std::move(m->name),
                       convert::changes_values(row) ? &row : nullptr};
  }
  if (auto m = convert::gguf_expert_to_hf(*a.names, name, 0, a.n_trunk)) {
    const auto kind = kind_of(a.names->experts[m->row].gguf);
    if (!kind) return std::nullopt;
    return TensorPlace{*kind, m->bid, {}};
  }
  return std::nullopt;
}

std::string expert_module(const ArchTensors& a, std::string_view gguf_name, int xid) {
  auto m = convert::gguf_expert_to_hf(*a.names, gguf_name, xid, a.n_trunk);
  APEX_CHECK(m.has_value());  // only called for names place_tensor placed as experts
  return module_of(std::move(m->name));
}

std::string fused_expert_name(const ArchTensors& a, std::string_view gguf_name) {
  auto m = convert::gguf_expert_to_hf_fused(*a.names, gguf_name, a.n_trunk);
  APEX_CHECK(m.has_value());  // every expert row has a fused name
  return m->name;
}

}  // namespace apex::xport
