// deepseek2 (DeepSeek-V2/V3, Kimi-K2) as synth writes it: the per-block
// tensor table and the hooks for its own keys, options and layer pattern.
// The table is here (constexpr) so that arch.cpp's kArchs row can point at it.
//
// What llama.cpp's loader creates (src/models/deepseek2.cpp) for the MLA
// files current converters write (key_length_mla / value_length_mla set):
//  - attention: attn_q_a -> attn_q_a_norm -> attn_q_b (or one attn_q when
//    q_lora_rank is 0) gives per head [qk_nope | qk_rope]; attn_kv_a_mqa
//    gives the compressed KV (kv_lora_rank, normed by attn_kv_a_norm) and
//    one rotated key shared by all heads; attn_k_b [qk_nope, kv_lora, n_head]
//    and attn_v_b [kv_lora, v_head, n_head] are the converter's split of
//    kv_b_proj (k_b transposed), so the cache holds only the latent;
//  - FFN: a dense SwiGLU in the first leading_dense_block_count blocks,
//    routed experts (+ exp_probs_b, the selection bias of sigmoid gating)
//    plus ungated shared experts in the others.
#pragma once

#include "synth/arch.h"

namespace apex::synth {

inline constexpr TensorSpec kDeepseek2Layer[] = {
    {"attn_norm.weight", {Dim::kEmbd, Dim::kNone, Dim::kNone}, Init::kNorm, true},
    {"attn_q_a_norm.weight", {Dim::kQLora, Dim::kNone, Dim::kNone}, Init::kNorm, true},
    {"attn_kv_a_norm.weight", {Dim::kKVLora, Dim::kNone, Dim::kNone}, Init::kNorm, true},
    {"attn_q_a.weight", {Dim::kEmbd, Dim::kQLora, Dim::kNone}, Init::kMatrix, false},
    {"attn_q_b.weight", {Dim::kQLora, Dim::kQ, Dim::kNone}, Init::kMatrix, false},
    {"attn_q.weight", {Dim::kEmbd, Dim::kQ, Dim::kNone}, Init::kMatrix, false},
    {"attn_kv_a_mqa.weight", {Dim::kEmbd, Dim::kKVLoraRope, Dim::kNone}, Init::kMatrix, false},
    {"attn_k_b.weight", {Dim::kQkNope, Dim::kKVLora, Dim::kNHead}, Init::kMatrix, false},
    {"attn_v_b.weight", {Dim::kKVLora, Dim::kVHead, Dim::kNHead}, Init::kMatrix, false},
    {"attn_output.weight", {Dim::kOutMla, Dim::kEmbd, Dim::kNone}, Init::kOutProj, false},
    {"ffn_norm.weight", {Dim::kEmbd, Dim::kNone, Dim::kNone}, Init::kNorm, true},
    {"ffn_gate.weight", {Dim::kEmbd, Dim::kFFDense, Dim::kNone}, Init::kMatrix, false},
    {"ffn_down.weight", {Dim::kFFDense, Dim::kEmbd, Dim::kNone}, Init::kOutProj, false},
    {"ffn_up.weight", {Dim::kEmbd, Dim::kFFDense, Dim::kNone}, Init::kMatrix, false},
    {"ffn_gate_inp.weight", {Dim::kEmbd, Dim::kExpert, Dim::kNone}, Init::kRouter, true},
    {"exp_probs_b.bias", {Dim::kExpert, Dim::kNone, Dim::kNone}, Init::kBias, true},
    {"ffn_down_exps.weight", {Dim::kFF, Dim::kEmbd, Dim::kExpert}, Init::kOutProj, false},
    {"ffn_gate_exps.weight", {Dim::kEmbd, Dim::kFF, Dim::kExpert}, Init::kMatrix, false},
    {"ffn_up_exps.weight", {Dim::kEmbd, Dim::kFF, Dim::kExpert}, Init::kMatrix, false},
    {"ffn_gate_shexp.weight", {Dim::kEmbd, Dim::kFFShexp, Dim::kNone}, Init::kMatrix, false},
    {"ffn_down_shexp.weight", {Dim::kFFShexp, Dim::kEmbd, Dim::kNone}, Init::kOutProj, false},
    {"ffn_up_shexp.weight", {Dim::kEmbd, Dim::kFFShexp, Dim::kNone}, Init::kMatrix, false},
};

void deepseek2_metadata(const Options& o, gguf::Layout& l);
Status deepseek2_validate(const Options& o);
bool deepseek2_has_tensor(const Options& o, int il, const TensorSpec& spec);

}  // namespace apex::synth
