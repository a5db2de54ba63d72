#include "export/hf_tensors.h"

#include <charconv>

namespace apex::xport {

namespace {

constexpr TensorRow kGlobal[] = {
    {"token_embd.weight", "model.embed_tokens.weight", Kind::kEmbedding},
    {"output_norm.weight", "model.norm.weight", Kind::kVector},
    {"output.weight", "lm_head.weight", Kind::kHead},
};

// Qwen1.5/2-MoE (transformers' qwen2_moe): q/k/v biases, routed experts
// and one shared expert gated by sigmoid(shared_expert_gate(x)).
constexpr TensorRow kQwen2MoeLayer[] = {
    {"attn_norm.weight", "input_layernorm.weight", Kind::kVector},
    {"attn_q.weight", "self_attn.q_proj", Kind::kLinear},
    {"attn_q.bias", "self_attn.q_proj.bias", Kind::kVector},
    {"attn_k.weight", "self_attn.k_proj", Kind::kLinear},
    {"attn_k.bias", "self_attn.k_proj.bias", Kind::kVector},
    {"attn_v.weight", "self_attn.v_proj", Kind::kLinear},
    {"attn_v.bias", "self_attn.v_proj.bias", Kind::kVector},
    {"attn_output.weight", "self_attn.o_proj", Kind::kLinear},
    {"ffn_norm.weight", "post_attention_layernorm.weight", Kind::kVector},
    {"ffn_gate_inp.weight", "mlp.gate", Kind::kRouter},
    {"ffn_gate_exps.weight", "mlp.experts.{xid}.gate_proj", Kind::kExpertGate},
    {"ffn_up_exps.weight", "mlp.experts.{xid}.up_proj", Kind::kExpertUp},
    {"ffn_down_exps.weight", "mlp.experts.{xid}.down_proj", Kind::kExpertDown},
    {"ffn_gate_inp_shexp.weight", "mlp.shared_expert_gate.weight", Kind::kRowVector},
    {"ffn_gate_shexp.weight", "mlp.shared_expert.gate_proj", Kind::kLinear},
    {"ffn_up_shexp.weight", "mlp.shared_expert.up_proj", Kind::kLinear},
    {"ffn_down_shexp.weight", "mlp.shared_expert.down_proj", Kind::kLinear},
};

// Qwen3-MoE (transformers' qwen3_moe): no biases, per-head q/k RMS norms.
constexpr TensorRow kQwen3MoeLayer[] = {
    {"attn_norm.weight", "input_layernorm.weight", Kind::kVector},
    {"attn_q.weight", "self_attn.q_proj", Kind::kLinear},
    {"attn_k.weight", "self_attn.k_proj", Kind::kLinear},
    {"attn_v.weight", "self_attn.v_proj", Kind::kLinear},
    {"attn_output.weight", "self_attn.o_proj", Kind::kLinear},
    {"attn_q_norm.weight", "self_attn.q_norm.weight", Kind::kVector},
    {"attn_k_norm.weight", "self_attn.k_norm.weight", Kind::kVector},
    {"ffn_norm.weight", "post_attention_layernorm.weight", Kind::kVector},
    {"ffn_gate_inp.weight", "mlp.gate", Kind::kRouter},
    {"ffn_gate_exps.weight", "mlp.experts.{xid}.gate_proj", Kind::kExpertGate},
    {"ffn_up_exps.weight", "mlp.experts.{xid}.up_proj", Kind::kExpertUp},
    {"ffn_down_exps.weight", "mlp.experts.{xid}.down_proj", Kind::kExpertDown},
};

constexpr ArchTensors kArchs[] = {
    {"qwen2moe", "Qwen2MoeForCausalLM", "qwen2_moe", kGlobal, kQwen2MoeLayer,
     "mlp.experts.gate_up_proj", "mlp.experts.down_proj"},
    {"qwen3moe", "Qwen3MoeForCausalLM", "qwen3_moe", kGlobal, kQwen3MoeLayer,
     "mlp.experts.gate_up_proj", "mlp.experts.down_proj"},
};

}  // namespace

std::string layer_prefix(int bid) { return "model.layers." + std::to_string(bid) + "."; }

const ArchTensors* find_arch_tensors(std::string_view arch) {
  for (const ArchTensors& a : kArchs) {
    if (a.arch == arch) return &a;
  }
  return nullptr;
}

std::string arch_tensors_list() {
  std::string s;
  for (const ArchTensors& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.arch);
  return s;
}

std::optional<TensorPlace> place_tensor(const ArchTensors& a, std::string_view name) {
  if (name.substr(0, 4) == "blk.") {
    const size_t dot = name.find('.', 4);
    if (dot == std::string_view::npos) return std::nullopt;
    int bid = -1;
    const auto [p, ec] = std::from_chars(name.data() + 4, name.data() + dot, bid);
    if (ec != std::errc() || p != name.data() + dot || bid < 0) return std::nullopt;
    const std::string_view rest = name.substr(dot + 1);
    for (const TensorRow& r : a.layer) {
      if (rest == r.gguf) return TensorPlace{&r, bid, layer_prefix(bid) + r.hf};
    }
    return std::nullopt;
  }
  for (const TensorRow& r : a.global) {
    if (name == r.gguf) return TensorPlace{&r, -1, r.hf};
  }
  return std::nullopt;
}

}  // namespace apex::xport
