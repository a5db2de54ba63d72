#include "convert/hf_names.h"

#include <charconv>

namespace apex::convert {
namespace {

// Shared by the Qwen MoE families: embeddings, final norm, head.
#define APEX_QWEN_OUTER                                         \
  {"token_embd.weight", "model.embed_tokens.weight"},           \
      {"output_norm.weight", "model.norm.weight"},              \
      {"output.weight", "lm_head.weight"}

// Attention and the per-block norms, as both Qwen MoE families name them.
#define APEX_QWEN_ATTENTION                                                          \
  {"blk.{bid}.attn_norm.weight", "model.layers.{bid}.input_layernorm.weight"},       \
      {"blk.{bid}.attn_q.weight", "model.layers.{bid}.self_attn.q_proj.weight"},     \
      {"blk.{bid}.attn_k.weight", "model.layers.{bid}.self_attn.k_proj.weight"},     \
      {"blk.{bid}.attn_v.weight", "model.layers.{bid}.self_attn.v_proj.weight"},     \
      {"blk.{bid}.attn_output.weight", "model.layers.{bid}.self_attn.o_proj.weight"}, \
      {"blk.{bid}.ffn_norm.weight", "model.layers.{bid}.post_attention_layernorm.weight"}, \
      {"blk.{bid}.ffn_gate_inp.weight", "model.layers.{bid}.mlp.gate.weight"}

constexpr NamePair kQwen2Moe[] = {
    APEX_QWEN_OUTER,
    APEX_QWEN_ATTENTION,
    // Qwen1.5/2-MoE carry q/k/v biases ...
    {"blk.{bid}.attn_q.bias", "model.layers.{bid}.self_attn.q_proj.bias"},
    {"blk.{bid}.attn_k.bias", "model.layers.{bid}.self_attn.k_proj.bias"},
    {"blk.{bid}.attn_v.bias", "model.layers.{bid}.self_attn.v_proj.bias"},
    // ... and one always-on shared expert whose output a learned vector gates.
    {"blk.{bid}.ffn_gate_inp_shexp.weight", "model.layers.{bid}.mlp.shared_expert_gate.weight", 2},
    {"blk.{bid}.ffn_gate_shexp.weight", "model.layers.{bid}.mlp.shared_expert.gate_proj.weight"},
    {"blk.{bid}.ffn_up_shexp.weight", "model.layers.{bid}.mlp.shared_expert.up_proj.weight"},
    {"blk.{bid}.ffn_down_shexp.weight", "model.layers.{bid}.mlp.shared_expert.down_proj.weight"},
};

constexpr NamePair kQwen3Moe[] = {
    APEX_QWEN_OUTER,
    APEX_QWEN_ATTENTION,
    // Qwen3 normalises q and k per head.
    {"blk.{bid}.attn_q_norm.weight", "model.layers.{bid}.self_attn.q_norm.weight"},
    {"blk.{bid}.attn_k_norm.weight", "model.layers.{bid}.self_attn.k_norm.weight"},
};

#undef APEX_QWEN_OUTER
#undef APEX_QWEN_ATTENTION

// Order matters: llama.cpp's converter emits a block's merged stacks as
// down, gate, up once the block's last expert tensor has been read.
constexpr ExpertNames kQwenExperts[] = {
    {"blk.{bid}.ffn_down_exps.weight", "model.layers.{bid}.mlp.experts.{xid}.down_proj.weight",
     "model.layers.{bid}.mlp.experts.down_proj.weight"},
    {"blk.{bid}.ffn_gate_exps.weight", "model.layers.{bid}.mlp.experts.{xid}.gate_proj.weight",
     "model.layers.{bid}.mlp.experts.gate_proj.weight"},
    {"blk.{bid}.ffn_up_exps.weight", "model.layers.{bid}.mlp.experts.{xid}.up_proj.weight",
     "model.layers.{bid}.mlp.experts.up_proj.weight"},
};

constexpr ArchNames kArchs[] = {
    {"qwen2moe", "Qwen2MoeForCausalLM", "qwen2_moe", kQwen2Moe, kQwenExperts},
    {"qwen3moe", "Qwen3MoeForCausalLM", "qwen3_moe", kQwen3Moe, kQwenExperts},
};

// Matches `name` against `pattern`, where "{bid}" and "{xid}" each stand for
// a decimal number without sign or leading zeros (as the checkpoints write
// block and expert numbers).
bool match(std::string_view pattern, std::string_view name, int& bid, int& xid) {
  bid = xid = -1;
  size_t p = 0, n = 0;
  while (p < pattern.size()) {
    const bool is_bid = pattern.compare(p, 5, "{bid}") == 0;
    const bool is_xid = pattern.compare(p, 5, "{xid}") == 0;
    if (is_bid || is_xid) {
      size_t end = n;
      while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
      if (end == n || (name[n] == '0' && end - n > 1) || end - n > 6) return false;
      int v = 0;
      std::from_chars(name.data() + n, name.data() + end, v);
      (is_bid ? bid : xid) = v;
      n = end;
      p += 5;
      continue;
    }
    if (n >= name.size() || name[n] != pattern[p]) return false;
    ++p, ++n;
  }
  return n == name.size();
}

}  // namespace

const ArchNames* find_arch_names(std::string_view gguf_arch) {
  for (const ArchNames& a : kArchs) {
    if (a.arch == gguf_arch) return &a;
  }
  return nullptr;
}

const ArchNames* find_arch_names_by_hf(std::string_view hf_architecture) {
  for (const ArchNames& a : kArchs) {
    if (a.hf_architecture == hf_architecture) return &a;
  }
  return nullptr;
}

std::string arch_names_list() {
  std::string s;
  for (const ArchNames& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.arch);
  return s;
}

std::string fill_name(std::string_view pattern, int bid, int xid) {
  std::string out;
  for (size_t p = 0; p < pattern.size();) {
    if (pattern.compare(p, 5, "{bid}") == 0) {
      out += std::to_string(bid);
      p += 5;
    } else if (pattern.compare(p, 5, "{xid}") == 0) {
      out += std::to_string(xid);
      p += 5;
    } else {
      out += pattern[p++];
    }
  }
  return out;
}

std::optional<NameMatch> gguf_to_hf(const ArchNames& a, std::string_view gguf_name) {
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    int bid, xid;
    if (match(a.tensors[i].gguf, gguf_name, bid, xid)) {
      return NameMatch{fill_name(a.tensors[i].hf, bid), bid, -1, i, false};
    }
  }
  return std::nullopt;
}

std::optional<NameMatch> hf_to_gguf(const ArchNames& a, std::string_view hf_name) {
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    int bid, xid;
    if (match(a.tensors[i].hf, hf_name, bid, xid)) {
      return NameMatch{fill_name(a.tensors[i].gguf, bid), bid, -1, i, false};
    }
  }
  return std::nullopt;
}

std::optional<NameMatch> gguf_expert_to_hf(const ArchNames& a, std::string_view gguf_name, int xid) {
  for (size_t i = 0; i < a.experts.size(); ++i) {
    int bid, unused;
    if (match(a.experts[i].gguf, gguf_name, bid, unused)) {
      return NameMatch{fill_name(a.experts[i].hf, bid, xid), bid, xid, i, true};
    }
  }
  return std::nullopt;
}

std::optional<NameMatch> hf_expert_to_gguf(const ArchNames& a, std::string_view hf_name) {
  for (size_t i = 0; i < a.experts.size(); ++i) {
    int bid, xid;
    if (match(a.experts[i].hf, hf_name, bid, xid)) {
      return NameMatch{fill_name(a.experts[i].gguf, bid), bid, xid, i, true};
    }
  }
  return std::nullopt;
}

}  // namespace apex::convert
