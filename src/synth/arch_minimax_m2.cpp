// minimax-m2 as llama.cpp loads it (src/models/minimax-m2.cpp,
// load_arch_tensors; conversion/minimax.py MiniMaxM2Model):
//  - attention with q and k RMS norms whose gains span the WHOLE q and k
//    projections (head_dim * n_head and head_dim * n_head_kv), not one head;
//  - partial NEOX RoPE: rope.dimension_count (64 of 128 in MiniMax-M2) is
//    below head_dim, and head_dim * n_head may differ from n_embd;
//  - a sigmoid router whose per-expert selection bias exp_probs_b.bias is
//    added only to choose the experts; the chosen sigmoid weights are
//    renormalised to sum 1; no shared expert.
// The converter writes expert_gating_func (2 = sigmoid) from the config's
// scoring_func; llama.cpp's graph aborts without it, so synth always writes it.
#include "synth/arch_minimax_m2.h"

#include "synth/synth.h"

namespace apex::synth {

using D = Dim;
using I = Init;

const TensorSpec kMinimaxM2Layer[13] = {
    {"attn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q.weight", {D::kEmbd, D::kQ, D::kNone}, I::kMatrix, false},
    {"attn_k.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_v.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_output.weight", {D::kQ, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"attn_q_norm.weight", {D::kQ, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_k_norm.weight", {D::kKV, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_gate_inp.weight", {D::kEmbd, D::kExpert, D::kNone}, I::kRouter, true},
    {"ffn_gate_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_up_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_down_exps.weight", {D::kFF, D::kEmbd, D::kExpert}, I::kOutProj, false},
    {"exp_probs_b.bias", {D::kExpert, D::kNone, D::kNone}, I::kExpertBias, true},
};

namespace {

int64_t head_dim_of(const Options& o) { return o.head_dim > 0 ? o.head_dim : o.n_embd / o.n_head; }

// MiniMax-M2 rotates half of each head (rotary_dim 64 of head_dim 128).
int64_t rope_dim_of(const Options& o) { return o.rope_dim > 0 ? o.rope_dim : head_dim_of(o) / 2; }

}  // namespace

void minimax_m2_metadata(const Options& o, gguf::Layout& l) {
  l.set("minimax-m2.rope.dimension_count", gguf::Value(static_cast<uint32_t>(rope_dim_of(o))));
  l.set("minimax-m2.expert_gating_func", gguf::Value(static_cast<uint32_t>(2)));  // sigmoid
}

Status minimax_m2_validate(const Options& o) {
  const int64_t rd = rope_dim_of(o), hd = head_dim_of(o);
  if (rd < 2 || rd % 2 != 0 || rd > hd) {
    return make_error("synth: rope_dim {} must be even and in 2..head_dim ({})", rd, hd);
  }
  return Status::Ok();
}

}  // namespace apex::synth
