#include "synth/arch.h"

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

constexpr ArchSpec kArchs[] = {
    {"qwen2moe", true, false, true, true, false, false, kHead, kQwen2MoeLayer, kTail},
    {"qwen3moe", true, true, true, false, false, false, kHead, kQwen3MoeLayer, kTail},
    {"llama", false, true, false, false, true, true, kHead, kLlamaLayer, kTail},
};

}  // namespace

const ArchSpec* find_arch(std::string_view name) {
  for (const ArchSpec& a : kArchs) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string_view arch_name_list() { return "qwen2moe, qwen3moe, llama"; }

}  // namespace apex::synth
