// Synthetic tensor lists for the type-choice tests: the tensor names and
// shapes of a few architectures as llama.cpp's converters write them
// (src/llama-arch.cpp names, shapes in ggml order), scaled down. Only names,
// the number of dimensions, ne[0] (row length: the fallback rules) and ne[2]
// (expert count: MXFP4_MOE) matter to the rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oracle/oracle.h"
#include "plan/llama_rules.h"

namespace apex::plan::testing {

inline constexpr int32_t kF32 = 0;
inline constexpr int32_t kF16 = 1;
inline constexpr int32_t kBF16 = 30;
inline constexpr int32_t kMXFP4 = 39;

struct ArchSpec {
  const char* label;  // for messages
  const char* arch;   // general.architecture
  uint32_t n_expert;
  uint32_t n_head;
  uint32_t n_head_kv;
  bool tied;          // no output.weight: token_embd doubles as the output matrix
};

// Row lengths: n_embd for most matrices, n_ff for ffn_down / ssm_out rows.
struct Shape {
  const char* label;
  int64_t n_embd;
  int64_t n_ff;
};

inline void add(std::vector<oracle::TensorSpec>& out, std::string name, std::vector<int64_t> ne,
                int32_t type = kF16) {
  out.push_back({std::move(name), std::move(ne), type});
}

// Tensors of a model in the order a converter writes them (global tensors
// first, then block by block; not llama.cpp's sorted order).
inline std::vector<oracle::TensorSpec> build_tensors(const ArchSpec& a, const Shape& s,
                                                     uint32_t n_layer) {
  const int64_t E = s.n_embd, F = s.n_ff, X = a.n_expert > 0 ? a.n_expert : 1, V = 64;
  const std::string arch = a.arch;
  std::vector<oracle::TensorSpec> t;
  // Vary the input types a little: BF16 and F32 sources are converted too.
  add(t, "token_embd.weight", {E, V}, arch == "qwen3moe" ? kBF16 : kF16);
  add(t, "output_norm.weight", {E}, kF32);
  if (!a.tied) add(t, "output.weight", {E, V}, arch == "llama" ? kF32 : kF16);
  if (arch == "llama" || arch == "gemma4") add(t, "rope_freqs.weight", {16}, kF32);
  if (arch == "gemma3n") {
    add(t, "per_layer_token_embd.weight", {E, V});
    add(t, "per_layer_model_proj.weight", {E, E});
    add(t, "altup_proj.weight", {E, E, 3});
    add(t, "altup_unembd_proj.weight", {E, E, 3});
    add(t, "position_embd.weight", {E, 32});
  }
  for (uint32_t il = 0; il < n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    add(t, p + "attn_norm.weight", {E}, kF32);
    auto std_attention = [&] {
      add(t, p + "attn_q.weight", {E, E});
      add(t, p + "attn_k.weight", {E, E / 4});
      add(t, p + "attn_v.weight", {E, E / 4});
      add(t, p + "attn_output.weight", {E, E});
    };
    auto experts = [&](bool fused_gate_up) {
      add(t, p + "ffn_gate_inp.weight", {E, X}, kF32);
      if (fused_gate_up) {
        add(t, p + "ffn_gate_up_exps.weight", {E, 2 * F, X});
      } else {
        add(t, p + "ffn_gate_exps.weight", {E, F, X});
        add(t, p + "ffn_up_exps.weight", {E, F, X});
      }
      add(t, p + "ffn_down_exps.weight", {F, E, X});
    };
    auto shared_expert = [&] {
      add(t, p + "ffn_gate_inp_shexp.weight", {E}, kF32);
      add(t, p + "ffn_gate_shexp.weight", {E, F});
      add(t, p + "ffn_up_shexp.weight", {E, F});
      add(t, p + "ffn_down_shexp.weight", {F, E});
    };
    auto dense_ffn = [&] {
      add(t, p + "ffn_gate.weight", {E, F});
      add(t, p + "ffn_up.weight", {E, F});
      add(t, p + "ffn_down.weight", {F, E});
    };
    if (arch == "llama" || arch == "gemma3n") {
      std_attention();
      add(t, p + "ffn_norm.weight", {E}, kF32);
      if (a.n_expert > 1) experts(false); else dense_ffn();
      if (arch == "gemma3n") {
        add(t, p + "laurel_l.weight", {E, 8});
        add(t, p + "altup_router.weight", {E, 4});
        add(t, p + "inp_gate.weight", {E, 8});
      }
    } else if (arch == "qwen2moe" || arch == "qwen3moe") {
      std_attention();
      if (arch == "qwen2moe") {
        add(t, p + "attn_q.bias", {E}, kF32);
        add(t, p + "attn_k.bias", {E / 4}, kF32);
        add(t, p + "attn_v.bias", {E / 4}, kF32);
      } else {
        add(t, p + "attn_q_norm.weight", {32}, kF32);
        add(t, p + "attn_k_norm.weight", {32}, kF32);
      }
      add(t, p + "ffn_norm.weight", {E}, kF32);
      experts(false);
      if (arch == "qwen2moe") shared_expert();
    } else if (arch == "deepseek2") {
      add(t, p + "attn_q_a_norm.weight", {64}, kF32);
      add(t, p + "attn_kv_a_norm.weight", {64}, kF32);
      add(t, p + "attn_q_a.weight", {E, 64});
      add(t, p + "attn_q_b.weight", {64, E});
      add(t, p + "attn_kv_a_mqa.weight", {E, 96});
      add(t, p + "attn_kv_b.weight", {64, E});
      add(t, p + "attn_k_b.weight", {32, 64, 4});
      add(t, p + "attn_v_b.weight", {64, 32, 4});
      add(t, p + "attn_output.weight", {E, E});
      add(t, p + "ffn_norm.weight", {E}, kF32);
      if (il == 0) {
        dense_ffn();  // leading dense block
      } else {
        experts(false);
        add(t, p + "exp_probs_b.bias", {X}, kF32);
        shared_expert();
      }
    } else if (arch == "qwen35moe") {
      add(t, p + "post_attention_norm.weight", {E}, kF32);
      const bool mtp = il + 1 == n_layer && n_layer > 1;  // trailing next-token block
      if ((il + 1) % 4 == 0 || mtp) {
        add(t, p + "attn_q.weight", {E, 2 * E});
        add(t, p + "attn_k.weight", {E, E / 4});
        add(t, p + "attn_v.weight", {E, E / 4});
        add(t, p + "attn_output.weight", {E, E});
        add(t, p + "attn_q_norm.weight", {32}, kF32);
        add(t, p + "attn_k_norm.weight", {32}, kF32);
      } else {
        add(t, p + "attn_qkv.weight", {E, 3 * E});
        add(t, p + "attn_gate.weight", {E, E});
        add(t, p + "ssm_conv1d.weight", {4, 3 * E}, kF32);
        add(t, p + "ssm_dt.bias", {16}, kF32);
        add(t, p + "ssm_a", {16}, kF32);
        add(t, p + "ssm_beta.weight", {E, 16});
        add(t, p + "ssm_alpha.weight", {E, 16});
        add(t, p + "ssm_norm.weight", {32}, kF32);
        add(t, p + "ssm_out.weight", {F, E});
      }
      experts(/*fused_gate_up=*/true);
      shared_expert();
      if (mtp) {
        add(t, p + "nextn.eh_proj.weight", {2 * E, E});
        add(t, p + "nextn.enorm.weight", {E}, kF32);
        add(t, p + "nextn.hnorm.weight", {E}, kF32);
        add(t, p + "nextn.shared_head_norm.weight", {E}, kF32);
      }
    } else if (arch == "falcon") {
      add(t, p + "attn_norm.bias", {E}, kF32);
      add(t, p + "attn_qkv.weight", {E, 3 * E / 2});
      add(t, p + "attn_output.weight", {E, E});
      add(t, p + "ffn_up.weight", {E, F});
      add(t, p + "ffn_down.weight", {F, E});
    } else if (arch == "glm4moe") {
      // q/k/v biases, q/k norms, post_attention_norm; block 0 dense, the
      // others sigmoid-routed experts with exp_probs_b and an ungated shared
      // expert; the last block the converter's MTP block.
      std_attention();
      add(t, p + "attn_q.bias", {E}, kF32);
      add(t, p + "attn_k.bias", {E / 4}, kF32);
      add(t, p + "attn_v.bias", {E / 4}, kF32);
      add(t, p + "attn_q_norm.weight", {32}, kF32);
      add(t, p + "attn_k_norm.weight", {32}, kF32);
      add(t, p + "post_attention_norm.weight", {E}, kF32);
      if (il == 0) {
        dense_ffn();
      } else {
        experts(false);
        add(t, p + "exp_probs_b.bias", {X}, kF32);
        add(t, p + "ffn_gate_shexp.weight", {E, F});
        add(t, p + "ffn_up_shexp.weight", {E, F});
        add(t, p + "ffn_down_shexp.weight", {F, E});
      }
      if (il + 1 == n_layer && n_layer > 1) {
        add(t, p + "nextn.eh_proj.weight", {2 * E, E});
        add(t, p + "nextn.enorm.weight", {E}, kF32);
        add(t, p + "nextn.hnorm.weight", {E}, kF32);
        add(t, p + "nextn.shared_head_norm.weight", {E}, kF32);
      }
    } else if (arch == "bailingmoe3") {
      add(t, p + "attn_qkv.weight", {E, 3 * E / 2});
      add(t, p + "attn_q_b.weight", {32, E, 2});  // a 3-D projection that is not an expert
      add(t, p + "attn_output.weight", {E, E});
      add(t, p + "ffn_norm.weight", {E}, kF32);
      experts(false);
      shared_expert();
    } else if (arch == "gpt-oss") {
      // Real gpt-oss files ship the experts in MXFP4 (a source type only
      // rows of whole 32-blocks can have); every bias ends in ".bias" (the
      // 2-D expert biases included) and attn_sinks is 1-D.
      const int32_t expert_type = E % 32 == 0 && F % 32 == 0 ? kMXFP4 : kF16;
      add(t, p + "post_attention_norm.weight", {E}, kF32);
      std_attention();
      add(t, p + "attn_q.bias", {E}, kF32);
      add(t, p + "attn_k.bias", {E / 4}, kF32);
      add(t, p + "attn_v.bias", {E / 4}, kF32);
      add(t, p + "attn_output.bias", {E}, kF32);
      add(t, p + "attn_sinks.weight", {a.n_head}, kF32);
      add(t, p + "ffn_gate_inp.weight", {E, X}, kF32);
      add(t, p + "ffn_gate_inp.bias", {X}, kF32);
      add(t, p + "ffn_gate_exps.weight", {E, F, X}, expert_type);
      add(t, p + "ffn_gate_exps.bias", {F, X}, kF32);
      add(t, p + "ffn_up_exps.weight", {E, F, X}, expert_type);
      add(t, p + "ffn_up_exps.bias", {F, X}, kF32);
      add(t, p + "ffn_down_exps.weight", {F, E, X}, expert_type);
      add(t, p + "ffn_down_exps.bias", {E, X}, kF32);
    } else if (arch == "nemotron_h_moe") {
      // Blocks cycle Mamba-2 / MoE / attention (the kinds Nemotron-H mixes);
      // ssm_a and ssm_d are 2-D but their names do not end in ".weight".
      if (il % 3 == 0) {
        add(t, p + "ssm_in.weight", {E, 2 * F + 2 * 32 + 8});
        add(t, p + "ssm_conv1d.weight", {4, F + 2 * 32}, kF32);
        add(t, p + "ssm_conv1d.bias", {F + 2 * 32}, kF32);
        add(t, p + "ssm_dt.bias", {8}, kF32);
        add(t, p + "ssm_a", {1, 8}, kF32);
        add(t, p + "ssm_d", {1, 8}, kF32);
        add(t, p + "ssm_norm.weight", {F / 2, 2}, kF32);
        add(t, p + "ssm_out.weight", {F, E});
      } else if (il % 3 == 1) {
        add(t, p + "ffn_gate_inp.weight", {E, X}, kF32);
        add(t, p + "exp_probs_b.bias", {X}, kF32);
        add(t, p + "ffn_up_exps.weight", {E, F, X});
        add(t, p + "ffn_down_exps.weight", {F, E, X});
        add(t, p + "ffn_up_shexp.weight", {E, F});
        add(t, p + "ffn_down_shexp.weight", {F, E});
      } else {
        std_attention();
      }
    } else if (arch == "gemma4") {
      // 26B-A4B-like: every sixth block global (wider heads, V is K), a
      // dense FFN beside the experts (two ffn_down-like tensors per block),
      // F32 router and per-expert scales.
      const bool global = (il + 1) % 6 == 0;
      add(t, p + "attn_q.weight", {E, global ? 2 * E : E});
      add(t, p + "attn_k.weight", {E, E / 4});
      if (!global) add(t, p + "attn_v.weight", {E, E / 4});
      add(t, p + "attn_output.weight", {global ? 2 * E : E, E});
      add(t, p + "attn_q_norm.weight", {32}, kF32);
      add(t, p + "attn_k_norm.weight", {32}, kF32);
      add(t, p + "post_attention_norm.weight", {E}, kF32);
      add(t, p + "layer_output_scale.weight", {1}, kF32);
      add(t, p + "ffn_norm.weight", {E}, kF32);
      dense_ffn();
      add(t, p + "post_ffw_norm.weight", {E}, kF32);
      add(t, p + "ffn_gate_inp.scale", {E}, kF32);
      add(t, p + "pre_ffw_norm_2.weight", {E}, kF32);
      experts(/*fused_gate_up=*/true);
      add(t, p + "ffn_down_exps.scale", {X}, kF32);
    }
  }
  return t;
}

inline std::vector<TensorDesc> to_descs(const std::vector<oracle::TensorSpec>& specs) {
  std::vector<TensorDesc> out;
  out.reserve(specs.size());
  for (const auto& s : specs) out.push_back({s.name, s.ne, static_cast<quant::TypeId>(s.type)});
  return out;
}

// Reorders `specs` into llama.cpp's processing order with our comparator.
inline std::vector<oracle::TensorSpec> in_llama_order(const std::vector<oracle::TensorSpec>& specs) {
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  std::vector<oracle::TensorSpec> out;
  for (size_t i : llama_tensor_order(names)) out.push_back(specs[i]);
  return out;
}

}  // namespace apex::plan::testing
