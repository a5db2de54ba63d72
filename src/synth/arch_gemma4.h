// Gemma 4 (llama.cpp's gemma4, src/models/gemma4.cpp), shaped like the
// 26B-A4B MoE: sliding-window blocks with narrow heads between global blocks
// with wide heads and proportional (partial) RoPE, q/k norms, norms after
// attention and after the FFN, a dense GELU FFN acting as a shared expert
// beside the routed experts (each with its own pre/post norms), a scaled
// router input, a per-expert output scale and a per-block output scale.
// The table lists every tensor any Gemma 4 block can have; has_tensor
// (arch_gemma4.cpp) picks a block's set from the options:
//  - rows using the global head dims (kQ, kKV, kHeadDim) exist in global
//    blocks, rows using the kQSwa/kKVSwa/kHeadDimSwa dims in sliding ones;
//  - attn_v of global blocks only without k_eq_v (the 26B has none: V = K);
//  - ffn_gate_up_exps or ffn_gate_exps + ffn_up_exps (fused_gate_up);
//  - ffn_down_exps.scale with expert_down_scale;
//  - per-layer-embedding tensors (E2B/E4B) with n_embd_per_layer > 0.
#pragma once

#include "synth/arch.h"

namespace apex::synth::gemma4 {

using D = Dim;
using I = Init;

// The converter emits rope_freqs before the checkpoint's tensors. It has
// head_dim / 2 factors: 1 for the rotated pairs, 1e30 for the others.
inline constexpr TensorSpec kHead[] = {
    {"rope_freqs.weight", {D::kHalfHeadDim, D::kNone, D::kNone}, I::kRopeFreqs, true},
    {"token_embd.weight", {D::kEmbd, D::kVocab, D::kNone}, I::kEmbedding, false},
    {"per_layer_token_embd.weight", {D::kPerLayerAll, D::kVocab, D::kNone}, I::kEmbedding, false},
    {"per_layer_model_proj.weight", {D::kEmbd, D::kPerLayerAll, D::kNone}, I::kMatrix, false},
    {"per_layer_proj_norm.weight", {D::kPerLayer, D::kNone, D::kNone}, I::kNorm, true},
};

// Gemma ties the output head to token_embd.
inline constexpr TensorSpec kTail[] = {
    {"output_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
};

inline constexpr TensorSpec kLayer[] = {
    {"attn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q.weight", {D::kEmbd, D::kQ, D::kNone}, I::kMatrix, false},
    {"attn_q.weight", {D::kEmbd, D::kQSwa, D::kNone}, I::kMatrix, false},
    {"attn_k.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_k.weight", {D::kEmbd, D::kKVSwa, D::kNone}, I::kMatrix, false},
    {"attn_v.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_v.weight", {D::kEmbd, D::kKVSwa, D::kNone}, I::kMatrix, false},
    {"attn_output.weight", {D::kQ, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"attn_output.weight", {D::kQSwa, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"attn_q_norm.weight", {D::kHeadDim, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q_norm.weight", {D::kHeadDimSwa, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_k_norm.weight", {D::kHeadDim, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_k_norm.weight", {D::kHeadDimSwa, D::kNone, D::kNone}, I::kNorm, true},
    {"post_attention_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_gate.weight", {D::kEmbd, D::kFFDense, D::kNone}, I::kMatrix, false},
    {"ffn_up.weight", {D::kEmbd, D::kFFDense, D::kNone}, I::kMatrix, false},
    {"ffn_down.weight", {D::kFFDense, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"post_ffw_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_gate_inp.weight", {D::kEmbd, D::kExpert, D::kNone}, I::kRouter, true, When::kMoe},
    {"ffn_gate_inp.scale", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMoe},
    {"pre_ffw_norm_2.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMoe},
    {"post_ffw_norm_1.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMoe},
    {"post_ffw_norm_2.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMoe},
    {"ffn_gate_up_exps.weight", {D::kEmbd, D::kFF2, D::kExpert}, I::kMatrix, false, When::kMoe},
    {"ffn_gate_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false, When::kMoe},
    {"ffn_up_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false, When::kMoe},
    {"ffn_down_exps.weight", {D::kFF, D::kEmbd, D::kExpert}, I::kOutProj, false, When::kMoe},
    {"ffn_down_exps.scale", {D::kExpert, D::kNone, D::kNone}, I::kNorm, true, When::kMoe},
    {"inp_gate.weight", {D::kEmbd, D::kPerLayer, D::kNone}, I::kMatrix, false},
    {"proj.weight", {D::kPerLayer, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"post_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"layer_output_scale.weight", {D::kOne, D::kNone, D::kNone}, I::kNorm, true},
};

void metadata(const Options& o, gguf::Layout& l);
Status validate(const Options& o);
bool has_tensor(const Options& o, int il, const TensorSpec& spec);
bool has_global_tensor(const Options& o, const TensorSpec& spec);

}  // namespace apex::synth::gemma4
