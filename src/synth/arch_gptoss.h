// gpt-oss (llama.cpp's "gpt-oss", src/models/openai-moe.cpp): the tensor
// table and the hooks of the synth architecture row (arch.cpp).
//
// Every block: attn_norm, biased q/k/v/o projections, one attention-sink
// logit per query head (attn_sinks), post_attention_norm as the FFN's input
// norm, a biased router and routed experts whose gate/up/down projections
// each carry a per-expert bias. The converter keeps every tensor whose name
// does not end in ".weight" (all the biases, 2-D expert biases included), the
// 1-D tensors and the router in F32.
#pragma once

#include "synth/arch.h"

namespace apex::synth {

inline constexpr TensorSpec kGptOssLayer[] = {
    {"attn_norm.weight", {Dim::kEmbd, Dim::kNone, Dim::kNone}, Init::kNorm, true},
    {"post_attention_norm.weight", {Dim::kEmbd, Dim::kNone, Dim::kNone}, Init::kNorm, true},
    {"attn_q.weight", {Dim::kEmbd, Dim::kQ, Dim::kNone}, Init::kMatrix, false},
    {"attn_q.bias", {Dim::kQ, Dim::kNone, Dim::kNone}, Init::kBias, true},
    {"attn_k.weight", {Dim::kEmbd, Dim::kKV, Dim::kNone}, Init::kMatrix, false},
    {"attn_k.bias", {Dim::kKV, Dim::kNone, Dim::kNone}, Init::kBias, true},
    {"attn_v.weight", {Dim::kEmbd, Dim::kKV, Dim::kNone}, Init::kMatrix, false},
    {"attn_v.bias", {Dim::kKV, Dim::kNone, Dim::kNone}, Init::kBias, true},
    {"attn_output.weight", {Dim::kQ, Dim::kEmbd, Dim::kNone}, Init::kOutProj, false},
    {"attn_output.bias", {Dim::kEmbd, Dim::kNone, Dim::kNone}, Init::kBias, true},
    {"attn_sinks.weight", {Dim::kNHead, Dim::kNone, Dim::kNone}, Init::kSink, true},
    {"ffn_gate_inp.weight", {Dim::kEmbd, Dim::kExpert, Dim::kNone}, Init::kRouter, true},
    {"ffn_gate_inp.bias", {Dim::kExpert, Dim::kNone, Dim::kNone}, Init::kBias, true},
    {"ffn_gate_exps.weight", {Dim::kEmbd, Dim::kFF, Dim::kExpert}, Init::kMatrix, false},
    {"ffn_gate_exps.bias", {Dim::kFF, Dim::kExpert, Dim::kNone}, Init::kBias, true},
    {"ffn_up_exps.weight", {Dim::kEmbd, Dim::kFF, Dim::kExpert}, Init::kMatrix, false},
    {"ffn_up_exps.bias", {Dim::kFF, Dim::kExpert, Dim::kNone}, Init::kBias, true},
    {"ffn_down_exps.weight", {Dim::kFF, Dim::kEmbd, Dim::kExpert}, Init::kOutProj, false},
    {"ffn_down_exps.bias", {Dim::kEmbd, Dim::kExpert, Dim::kNone}, Init::kBias, true},
};

// attention.sliding_window and, with Options::yarn_factor > 0, the YaRN
// rope.scaling.* keys the converter writes from config.json's rope_scaling.
void gptoss_metadata(const Options& o, gguf::Layout& l);
Status gptoss_validate(const Options& o);

}  // namespace apex::synth
