#include "convert/hf_names.h"

#include <fmt/format.h>

#include <algorithm>
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

// Qwen3.5 / 3.6 MoE (transformers' Qwen3_5Moe*, llama.cpp's
// Qwen3_5MoeTextModel): Gated DeltaNet blocks ("linear_attn") and gated
// full-attention blocks (q_proj twice as wide: per head the query, then a
// gate on that head's output), a shared expert beside the routed ones, and a
// multi-token-prediction block whose names hf_table_name numbers after the
// trunk. The converter adds 1 to every RMS norm gain except linear_attn.norm
// (Qwen3.5 norms scale by 1 + weight), stores -exp(A_log), squeezes conv1d
// and moves value heads into ggml's tiled order (hf_values.h).
constexpr NamePair kQwen35Moe[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight", 0, ValueMap::kPlusOne},
    {"output.weight", "lm_head.weight"},
    {"blk.{bid}.attn_norm.weight", "model.layers.{bid}.input_layernorm.weight", 0, ValueMap::kPlusOne},
    {"blk.{bid}.post_attention_norm.weight", "model.layers.{bid}.post_attention_layernorm.weight", 0,
     ValueMap::kPlusOne},
    {"blk.{bid}.attn_q.weight", "model.layers.{bid}.self_attn.q_proj.weight"},
    {"blk.{bid}.attn_k.weight", "model.layers.{bid}.self_attn.k_proj.weight"},
    {"blk.{bid}.attn_v.weight", "model.layers.{bid}.self_attn.v_proj.weight"},
    {"blk.{bid}.attn_output.weight", "model.layers.{bid}.self_attn.o_proj.weight"},
    {"blk.{bid}.attn_q_norm.weight", "model.layers.{bid}.self_attn.q_norm.weight", 0, ValueMap::kPlusOne},
    {"blk.{bid}.attn_k_norm.weight", "model.layers.{bid}.self_attn.k_norm.weight", 0, ValueMap::kPlusOne},
    {"blk.{bid}.attn_qkv.weight", "model.layers.{bid}.linear_attn.in_proj_qkv.weight", 0, ValueMap::kSame,
     VHeads::kOuterAfterQK},
    {"blk.{bid}.attn_gate.weight", "model.layers.{bid}.linear_attn.in_proj_z.weight", 0, ValueMap::kSame,
     VHeads::kOuter},
    {"blk.{bid}.ssm_conv1d.weight", "model.layers.{bid}.linear_attn.conv1d.weight", 0, ValueMap::kSame,
     VHeads::kOuterAfterQK, true},
    {"blk.{bid}.ssm_dt.bias", "model.layers.{bid}.linear_attn.dt_bias", 0, ValueMap::kSame, VHeads::kOuterScalar},
    {"blk.{bid}.ssm_a", "model.layers.{bid}.linear_attn.A_log", 0, ValueMap::kNegExp, VHeads::kOuterScalar},
    {"blk.{bid}.ssm_beta.weight", "model.layers.{bid}.linear_attn.in_proj_b.weight", 0, ValueMap::kSame,
     VHeads::kOuterScalar},
    {"blk.{bid}.ssm_alpha.weight", "model.layers.{bid}.linear_attn.in_proj_a.weight", 0, ValueMap::kSame,
     VHeads::kOuterScalar},
    {"blk.{bid}.ssm_norm.weight", "model.layers.{bid}.linear_attn.norm.weight"},
    {"blk.{bid}.ssm_out.weight", "model.layers.{bid}.linear_attn.out_proj.weight", 0, ValueMap::kSame,
     VHeads::kInner},
    {"blk.{bid}.ffn_gate_inp.weight", "model.layers.{bid}.mlp.gate.weight"},
    {"blk.{bid}.ffn_gate_inp_shexp.weight", "model.layers.{bid}.mlp.shared_expert_gate.weight", 2},
    {"blk.{bid}.ffn_gate_shexp.weight", "model.layers.{bid}.mlp.shared_expert.gate_proj.weight"},
    {"blk.{bid}.ffn_up_shexp.weight", "model.layers.{bid}.mlp.shared_expert.up_proj.weight"},
    {"blk.{bid}.ffn_down_shexp.weight", "model.layers.{bid}.mlp.shared_expert.down_proj.weight"},
    // The MTP head, under the block numbers hf_table_name gives it.
    {"blk.{bid}.nextn.eh_proj.weight", "model.layers.{bid}.eh_proj.weight"},
    {"blk.{bid}.nextn.enorm.weight", "model.layers.{bid}.enorm.weight", 0, ValueMap::kPlusOne},
    {"blk.{bid}.nextn.hnorm.weight", "model.layers.{bid}.hnorm.weight", 0, ValueMap::kPlusOne},
    {"blk.{bid}.nextn.shared_head_norm.weight", "model.layers.{bid}.shared_head.norm.weight", 0,
     ValueMap::kPlusOne},
};

// The MTP head's own tensors: checkpoint name, name within its block.
struct MtpRename {
  std::string_view stored, in_block;
};
constexpr MtpRename kMtpRenames[] = {
    {"mtp.fc.weight", "eh_proj.weight"},
    {"mtp.pre_fc_norm_embedding.weight", "enorm.weight"},
    {"mtp.pre_fc_norm_hidden.weight", "hnorm.weight"},
    {"mtp.norm.weight", "shared_head.norm.weight"},
};

#undef APEX_QWEN_OUTER
#undef APEX_QWEN_ATTENTION

// Order matters: llama.cpp's converter emits a block's merged stacks as
// down, gate, up once the block's last expert tensor has been read.
constexpr ExpertNames kQwenExperts[] = {
    {"blk.{bid}.ffn_down_exps.weight", "model.layers.{bid}.mlp.experts.{xid}.down_proj.weight",
     "model.layers.{bid}.mlp.experts.down_proj.weight", "model.layers.{bid}.mlp.experts.down_proj", -1},
    {"blk.{bid}.ffn_gate_exps.weight", "model.layers.{bid}.mlp.experts.{xid}.gate_proj.weight",
     "model.layers.{bid}.mlp.experts.gate_proj.weight", "model.layers.{bid}.mlp.experts.gate_up_proj", 0},
    {"blk.{bid}.ffn_up_exps.weight", "model.layers.{bid}.mlp.experts.{xid}.up_proj.weight",
     "model.layers.{bid}.mlp.experts.up_proj.weight", "model.layers.{bid}.mlp.experts.gate_up_proj", 1},
};

constexpr ArchNames kArchs[] = {
    {"qwen2moe", "Qwen2MoeForCausalLM", "qwen2_moe", kQwen2Moe, kQwenExperts},
    {"qwen3moe", "Qwen3MoeForCausalLM", "qwen3_moe", kQwen3Moe, kQwenExperts},
    // The text-only class; released checkpoints name the multimodal wrapper
    // (text_config, "model.language_model." prefixes), read the same way.
    {"qwen35moe", "Qwen3_5MoeForCausalLM", "qwen3_5_moe_text", kQwen35Moe, kQwenExperts,
     "Qwen3_5MoeForConditionalGeneration", true},
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
    if (a.hf_architecture == hf_architecture || (!a.hf_architecture_alt.empty() && a.hf_architecture_alt == hf_architecture)) {
      return &a;
    }
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

std::optional<NameMatch> gguf_to_hf(const ArchNames& a, std::string_view gguf_name, int n_trunk) {
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    int bid, xid;
    if (match(a.tensors[i].gguf, gguf_name, bid, xid)) {
      return NameMatch{hf_stored_name(a, fill_name(a.tensors[i].hf, bid), bid, n_trunk), bid, -1, i, false};
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

std::optional<NameMatch> gguf_expert_to_hf(const ArchNames& a, std::string_view gguf_name, int xid, int n_trunk) {
  for (size_t i = 0; i < a.experts.size(); ++i) {
    int bid, unused;
    if (match(a.experts[i].gguf, gguf_name, bid, unused)) {
      return NameMatch{hf_stored_name(a, fill_name(a.experts[i].hf, bid, xid), bid, n_trunk), bid, xid, i, true};
    }
  }
  return std::nullopt;
}

std::optional<NameMatch> gguf_expert_to_hf_fused(const ArchNames& a, std::string_view gguf_name, int n_trunk) {
  for (size_t i = 0; i < a.experts.size(); ++i) {
    int bid, unused;
    if (a.experts[i].hf_fused != nullptr && match(a.experts[i].gguf, gguf_name, bid, unused)) {
      return NameMatch{hf_stored_name(a, fill_name(a.experts[i].hf_fused, bid), bid, n_trunk), bid,
                       a.experts[i].fused_half, i, true};
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

std::optional<FusedMatch> hf_fused_to_gguf(const ArchNames& a, std::string_view hf_name) {
  // transformers names the fused parameters without ".weight"; the
  // converter accepts both spellings.
  if (hf_name.ends_with(".weight")) hf_name.remove_suffix(7);
  FusedMatch m;
  for (size_t i = 0; i < a.experts.size(); ++i) {
    int bid, xid;
    if (a.experts[i].hf_fused != nullptr && match(a.experts[i].hf_fused, hf_name, bid, xid)) {
      m.rows.push_back(i);
      m.bid = bid;
    }
  }
  if (m.rows.empty()) return std::nullopt;
  // gate before up, whatever the table order
  std::sort(m.rows.begin(), m.rows.end(),
            [&](size_t x, size_t y) { return a.experts[x].fused_half < a.experts[y].fused_half; });
  return m;
}

std::string hf_table_name(const ArchNames& a, std::string_view stored, int n_trunk) {
  std::string name(stored);
  if (auto pos = name.find("language_model."); pos != std::string::npos) name.erase(pos, 15);
  if (!a.mtp || n_trunk < 0) return name;
  if (name.starts_with("model.mtp.")) name.erase(0, 6);
  if (!name.starts_with("mtp.")) return name;
  for (const MtpRename& r : kMtpRenames) {
    if (name == r.stored) return fmt::format("model.layers.{}.{}", n_trunk, r.in_block);
  }
  // mtp.layers.I.rest
  int bid, xid;
  const size_t dot = name.find('.', 11);
  if (name.starts_with("mtp.layers.") && dot != std::string::npos &&
      match("mtp.layers.{bid}", std::string_view(name).substr(0, dot), bid, xid)) {
    return fmt::format("model.layers.{}{}", n_trunk + bid, name.substr(dot));
  }
  return name;
}

std::string hf_stored_name(const ArchNames& a, std::string table_name, int bid, int n_trunk) {
  if (!a.mtp || n_trunk < 0 || bid < n_trunk) return table_name;
  const std::string prefix = fmt::format("model.layers.{}.", bid);
  if (!table_name.starts_with(prefix)) return table_name;
  const std::string rest = table_name.substr(prefix.size());
  if (bid == n_trunk) {
    for (const MtpRename& r : kMtpRenames) {
      if (rest == r.in_block) return std::string(r.stored);
    }
  }
  return fmt::format("mtp.layers.{}.{}", bid - n_trunk, rest);
}

}  // namespace apex::convert
