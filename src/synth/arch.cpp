#include "synth/arch.h"
#include "synth/arch_gptoss.h"

#include "synth/arch_minimax_m2.h"
#include "synth/arch_olmoe.h"
#include "synth/arch_deepseek2.h"
#include "synth/arch_gemma4.h"
#include "synth/tokenizer_specs.h"

namespace apex::synth {
namespace {

using D = Dim;
using I = Init;

constexpr TensorSpec kHead[] = {
    {"token_embd.weight", {D::kEmbd, D::kVocab, D::kNone}, I::kEmbedding, false},
};
constexpr TensorSpec kTail[] = {
    {"output_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"output.weight", {D::kEmbd, D::kVocab, D::kNone}, I::kMatrix, false},
};

// Qwen1.5-MoE / Qwen2-MoE: q/k/v biases, routed experts plus one shared
// expert whose output is gated by a learned vector.
constexpr TensorSpec kQwen2MoeLayer[] = {
    {"attn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q.weight", {D::kEmbd, D::kQ, D::kNone}, I::kMatrix, false},
    {"attn_q.bias", {D::kQ, D::kNone, D::kNone}, I::kBias, true},
    {"attn_k.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_k.bias", {D::kKV, D::kNone, D::kNone}, I::kBias, true},
    {"attn_v.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_v.bias", {D::kKV, D::kNone, D::kNone}, I::kBias, true},
    {"attn_output.weight", {D::kQ, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"ffn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_gate_inp.weight", {D::kEmbd, D::kExpert, D::kNone}, I::kRouter, true},
    {"ffn_gate_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_up_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_down_exps.weight", {D::kFF, D::kEmbd, D::kExpert}, I::kOutProj, false},
    {"ffn_gate_inp_shexp.weight", {D::kEmbd, D::kNone, D::kNone}, I::kRouter, true},
    {"ffn_gate_shexp.weight", {D::kEmbd, D::kFFShared, D::kNone}, I::kMatrix, false},
    {"ffn_up_shexp.weight", {D::kEmbd, D::kFFShared, D::kNone}, I::kMatrix, false},
    {"ffn_down_shexp.weight", {D::kFFShared, D::kEmbd, D::kNone}, I::kOutProj, false},
};

// Qwen3-MoE: no attention biases, RMS norm on q and k per head, routed
// experts only.
constexpr TensorSpec kQwen3MoeLayer[] = {
    {"attn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q.weight", {D::kEmbd, D::kQ, D::kNone}, I::kMatrix, false},
    {"attn_k.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_v.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_output.weight", {D::kQ, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"attn_k_norm.weight", {D::kHeadDim, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q_norm.weight", {D::kHeadDim, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_gate_inp.weight", {D::kEmbd, D::kExpert, D::kNone}, I::kRouter, true},
    {"ffn_gate_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_up_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_down_exps.weight", {D::kFF, D::kEmbd, D::kExpert}, I::kOutProj, false},
};

// Llama: dense SwiGLU FFN, or Mixtral-style routed experts when n_expert > 0.
constexpr TensorSpec kLlamaLayer[] = {
    {"attn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q.weight", {D::kEmbd, D::kQ, D::kNone}, I::kMatrix, false},
    {"attn_k.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_v.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_output.weight", {D::kQ, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"ffn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_gate.weight", {D::kEmbd, D::kFF, D::kNone}, I::kMatrix, false, When::kDense},
    {"ffn_up.weight", {D::kEmbd, D::kFF, D::kNone}, I::kMatrix, false, When::kDense},
    {"ffn_down.weight", {D::kFF, D::kEmbd, D::kNone}, I::kOutProj, false, When::kDense},
    {"ffn_gate_inp.weight", {D::kEmbd, D::kExpert, D::kNone}, I::kRouter, true, When::kMoe},
    {"ffn_gate_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false, When::kMoe},
    {"ffn_up_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false, When::kMoe},
    {"ffn_down_exps.weight", {D::kFF, D::kEmbd, D::kExpert}, I::kOutProj, false, When::kMoe},
};

// Qwen3.5/3.6 MoE (llama.cpp's qwen35moe, src/models/qwen35moe.cpp): three
// Gated DeltaNet blocks for every full-attention block (by default). Both
// kinds have attn_norm and post_attention_norm (the FFN's input norm) and
// the same FFN: routed experts plus one shared expert gated by
// sigmoid(ffn_gate_inp_shexp . x).
//  - full attention: attn_q is twice as wide (per head, the query followed
//    by a sigmoid gate on that head's output), q/k RMS norms, partial
//    interleaved multi-section RoPE;
//  - linear attention: attn_qkv (q, k, v channels) and attn_gate (z) from
//    the input, a causal conv1d over the q/k/v channels, beta =
//    sigmoid(ssm_beta x), decay = exp(ssm_a * softplus(ssm_alpha x +
//    ssm_dt.bias)) per value head, the delta-rule recurrence, an RMS norm per
//    head (ssm_norm) times silu(z), ssm_out back to n_embd.
// The converter keeps norms, 1-D tensors, the router and ssm_conv1d in F32.
constexpr TensorSpec kQwen35MoeLayer[] = {
    {"attn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"post_attention_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q.weight", {D::kEmbd, D::kQGate, D::kNone}, I::kMatrix, false, When::kFullAttn},
    {"attn_k.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false, When::kFullAttn},
    {"attn_v.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false, When::kFullAttn},
    {"attn_output.weight", {D::kQ, D::kEmbd, D::kNone}, I::kOutProj, false, When::kFullAttn},
    {"attn_q_norm.weight", {D::kHeadDim, D::kNone, D::kNone}, I::kNorm, true, When::kFullAttn},
    {"attn_k_norm.weight", {D::kHeadDim, D::kNone, D::kNone}, I::kNorm, true, When::kFullAttn},
    {"attn_qkv.weight", {D::kEmbd, D::kConvDim, D::kNone}, I::kMatrix, false, When::kRecurrent},
    {"attn_gate.weight", {D::kEmbd, D::kSsmInner, D::kNone}, I::kMatrix, false, When::kRecurrent},
    {"ssm_conv1d.weight", {D::kConvKernel, D::kConvDim, D::kNone}, I::kConv, true, When::kRecurrent},
    {"ssm_dt.bias", {D::kSsmHeads, D::kNone, D::kNone}, I::kBias, true, When::kRecurrent},
    {"ssm_a", {D::kSsmHeads, D::kNone, D::kNone}, I::kSsmA, true, When::kRecurrent},
    {"ssm_beta.weight", {D::kEmbd, D::kSsmHeads, D::kNone}, I::kMatrix, false, When::kRecurrent},
    {"ssm_alpha.weight", {D::kEmbd, D::kSsmHeads, D::kNone}, I::kMatrix, false, When::kRecurrent},
    {"ssm_norm.weight", {D::kSsmState, D::kNone, D::kNone}, I::kNorm, true, When::kRecurrent},
    {"ssm_out.weight", {D::kSsmInner, D::kEmbd, D::kNone}, I::kOutProj, false, When::kRecurrent},
    {"ffn_gate_inp.weight", {D::kEmbd, D::kExpert, D::kNone}, I::kRouter, true},
    {"ffn_gate_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_up_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_down_exps.weight", {D::kFF, D::kEmbd, D::kExpert}, I::kOutProj, false},
    {"ffn_gate_inp_shexp.weight", {D::kEmbd, D::kNone, D::kNone}, I::kRouter, true},
    {"ffn_gate_shexp.weight", {D::kEmbd, D::kFFShared, D::kNone}, I::kMatrix, false},
    {"ffn_up_shexp.weight", {D::kEmbd, D::kFFShared, D::kNone}, I::kMatrix, false},
    {"ffn_down_shexp.weight", {D::kFFShared, D::kEmbd, D::kNone}, I::kOutProj, false},
    // The multi-token-prediction head Qwen3.5's converter appends: a
    // full-attention block fed by eh_proj [enorm(embedding) | hnorm(hidden)].
    {"nextn.eh_proj.weight", {D::kEmbd2, D::kEmbd, D::kNone}, I::kMatrix, false, When::kMtp},
    {"nextn.enorm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMtp},
    {"nextn.hnorm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMtp},
    {"nextn.shared_head_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMtp},
};

// Not constexpr: rows defined in other files are constant-initialized
// objects (their initializers are constant expressions), copied here.
const ArchSpec kArchs[] = {
    {.name = "qwen2moe", .requires_experts = true, .expert_ff_key = true, .shared_expert = true,
     .head = kHead, .layer = kQwen2MoeLayer, .tail = kTail},
    {.name = "qwen3moe", .requires_experts = true, .free_head_dim = true, .expert_ff_key = true,
     .head = kHead, .layer = kQwen3MoeLayer, .tail = kTail},
    {.name = "llama", .free_head_dim = true, .vocab_size_key = true, .rope_dim_key = true,
     .head = kHead, .layer = kLlamaLayer, .tail = kTail},
    {.name = "qwen35moe", .requires_experts = true, .free_head_dim = true, .expert_ff_key = true,
     .shared_expert = true, .rope_dim_key = true, .delta_net_hybrid = true, .head = kHead,
     .layer = kQwen35MoeLayer, .tail = kTail, .tokenizer = &tokenizers::kQwen35},
    kNemotronHMoeArch,
    {.name = "gpt-oss", .requires_experts = true, .free_head_dim = true, .expert_ff_key = true,
     .head = kHead, .layer = kGptOssLayer, .tail = kTail, .metadata = gptoss_metadata,
     .validate = gptoss_validate, .tokenizer = &tokenizers::kGptOss},
    kGlm4MoeArch,
    {.name = "minimax-m2", .requires_experts = true, .free_head_dim = true, .expert_ff_key = true,
     .head = kHead, .layer = kMinimaxM2Layer, .tail = kTail, .metadata = minimax_m2_metadata,
     .validate = minimax_m2_validate, .tokenizer = &tokenizers::kMinimaxM2},
    {.name = "olmoe", .requires_experts = true, .head = kHead, .layer = kOlmoeLayer, .tail = kTail,
     .validate = olmoe_validate, .tokenizer = &tokenizers::kOlmoe},
    // DeepSeek-V2/V3, Kimi-K2: multi-head latent attention (arch_deepseek2.h).
    {.name = "deepseek2", .requires_experts = true, .free_head_dim = true, .expert_ff_key = true,
     .vocab_size_key = true, .head = kHead, .layer = kDeepseek2Layer, .tail = kTail,
     .metadata = deepseek2_metadata, .validate = deepseek2_validate,
     .has_tensor = deepseek2_has_tensor, .tokenizer = &tokenizers::kDeepseekV3},
    // Gemma 4 (dense or MoE): tables and hooks in arch_gemma4.{h,cpp}.
    {.name = "gemma4", .free_head_dim = true, .expert_ff_key = true, .rope_dim_key = true,
     .head = gemma4::kHead, .layer = gemma4::kLayer, .tail = gemma4::kTail,
     .metadata = gemma4::metadata, .validate = gemma4::validate, .has_tensor = gemma4::has_tensor,
     .has_global_tensor = gemma4::has_global_tensor, .tokenizer = &tokenizers::kGemma4},
};

}  // namespace

const ArchSpec* find_arch(std::string_view name) {
  for (const ArchSpec& a : kArchs) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string_view arch_name_list() {
  return "qwen2moe, qwen3moe, llama, qwen35moe, nemotron_h_moe, gpt-oss, glm4moe, minimax-m2, olmoe, deepseek2, "
         "gemma4";
}

}  // namespace apex::synth
