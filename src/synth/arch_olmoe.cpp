// olmoe as llama.cpp loads it (src/models/olmoe.cpp load_arch_tensors;
// conversion/olmo.py OlmoeModel): q and k RMS norms whose gains span the
// whole n_embd-wide projections, full NEOX RoPE, a softmax router over
// routed experts without renormalising the top k, no shared expert and no
// biases. feed_forward_length is the expert width (there is no dense FFN).
#include "synth/arch_olmoe.h"

#include "synth/synth.h"

namespace apex::synth {

using D = Dim;
using I = Init;

// The loader sizes attn_k_norm by n_embd (not n_embd_k_gqa), and the graph
// multiplies K by it, so K must be n_embd wide: every head is its own KV
// head (OLMoE-1B-7B has 16 and 16). attn_q/attn_output are n_embd square.
const TensorSpec kOlmoeLayer[12] = {
    {"attn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q.weight", {D::kEmbd, D::kEmbd, D::kNone}, I::kMatrix, false},
    {"attn_k.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_v.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_output.weight", {D::kEmbd, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"attn_q_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_k_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ffn_gate_inp.weight", {D::kEmbd, D::kExpert, D::kNone}, I::kRouter, true},
    {"ffn_gate_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_up_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_down_exps.weight", {D::kFF, D::kEmbd, D::kExpert}, I::kOutProj, false},
};

Status olmoe_validate(const Options& o) {
  if (o.n_head_kv != o.n_head) {
    return make_error("synth: olmoe needs n_head_kv == n_head ({} != {}): llama.cpp sizes "
                      "attn_k_norm by n_embd",
                      o.n_head_kv, o.n_head);
  }
  return Status::Ok();
}

}  // namespace apex::synth
