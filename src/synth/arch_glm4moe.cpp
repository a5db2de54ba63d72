// GLM-4.5 / 4.6 / 4.7 MoE (llama.cpp's glm4moe, src/models/glm4-moe.cpp;
// Glm4MoeModel in its converter): attention with q/k/v biases and optional
// per-head q/k RMS norms, partial NEOX RoPE (half of each head by default),
// post_attention_norm as the FFN's input norm, the first
// leading_dense_block_count blocks with a dense SwiGLU FFN and the others
// with sigmoid-gated routed experts (exp_probs_b biases the choice only)
// plus an ungated shared expert. The converter appends the
// multi-token-prediction blocks (nextn_predict_layers, counted in
// block_count): a whole MoE block plus nextn.eh_proj / enorm / hnorm /
// shared_head_norm, loaded by llama.cpp but not run in its main graph.
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "synth/arch.h"
#include "synth/synth.h"
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

// Which of these a block has is decided by has_tensor below (dense or MoE
// block, q/k norms on or off); kMtp rows only in the appended blocks.
constexpr TensorSpec kLayer[] = {
    {"attn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_q.weight", {D::kEmbd, D::kQ, D::kNone}, I::kMatrix, false},
    {"attn_q.bias", {D::kQ, D::kNone, D::kNone}, I::kBias, true},
    {"attn_k.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_k.bias", {D::kKV, D::kNone, D::kNone}, I::kBias, true},
    {"attn_v.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_v.bias", {D::kKV, D::kNone, D::kNone}, I::kBias, true},
    {"attn_output.weight", {D::kQ, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"attn_q_norm.weight", {D::kHeadDim, D::kNone, D::kNone}, I::kNorm, true},
    {"attn_k_norm.weight", {D::kHeadDim, D::kNone, D::kNone}, I::kNorm, true},
    {"post_attention_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    // leading dense blocks
    {"ffn_gate.weight", {D::kEmbd, D::kFFDense, D::kNone}, I::kMatrix, false},
    {"ffn_up.weight", {D::kEmbd, D::kFFDense, D::kNone}, I::kMatrix, false},
    {"ffn_down.weight", {D::kFFDense, D::kEmbd, D::kNone}, I::kOutProj, false},
    // MoE blocks
    {"ffn_gate_inp.weight", {D::kEmbd, D::kExpert, D::kNone}, I::kRouter, true},
    {"exp_probs_b.bias", {D::kExpert, D::kNone, D::kNone}, I::kBias, true},
    {"ffn_gate_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_up_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_down_exps.weight", {D::kFF, D::kEmbd, D::kExpert}, I::kOutProj, false},
    {"ffn_gate_shexp.weight", {D::kEmbd, D::kFFShexp, D::kNone}, I::kMatrix, false},
    {"ffn_up_shexp.weight", {D::kEmbd, D::kFFShexp, D::kNone}, I::kMatrix, false},
    {"ffn_down_shexp.weight", {D::kFFShexp, D::kEmbd, D::kNone}, I::kOutProj, false},
    // multi-token-prediction blocks
    {"nextn.eh_proj.weight", {D::kEmbd2, D::kEmbd, D::kNone}, I::kMatrix, false, When::kMtp},
    {"nextn.enorm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMtp},
    {"nextn.hnorm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMtp},
    {"nextn.shared_head_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true, When::kMtp},
};

bool starts_with(const char* s, const char* prefix) {
  return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

int64_t head_dim(const Options& o) { return o.head_dim > 0 ? o.head_dim : o.n_embd / o.n_head; }

// The converter rotates partial_rotary_factor (GLM: 0.5) of each head.
int64_t rope_dim(const Options& o) { return o.rope_dim > 0 ? o.rope_dim : head_dim(o) / 2; }

bool has_tensor(const Options& o, int il, const TensorSpec& spec) {
  const bool moe = il >= o.n_dense_lead;  // MTP blocks are past every dense block
  if (starts_with(spec.name, "attn_q_norm") || starts_with(spec.name, "attn_k_norm")) {
    return o.qk_norm;
  }
  if (starts_with(spec.name, "ffn_gate.") || starts_with(spec.name, "ffn_up.") ||
      starts_with(spec.name, "ffn_down.")) {
    return !moe;
  }
  if (starts_with(spec.name, "ffn_") || starts_with(spec.name, "exp_probs_b")) return moe;
  return true;
}

void metadata(const Options& o, gguf::Layout& l) {
  const std::string a = "glm4moe.";
  auto u32 = [](int64_t v) { return gguf::Value(static_cast<uint32_t>(v)); };
  // feed_forward_length is the dense blocks' width (expert_feed_forward_length
  // the experts'); the common writer put n_ff there.
  l.set(a + "feed_forward_length", u32(o.n_ff_dense > 0 ? o.n_ff_dense : 2 * o.n_ff));
  l.set(a + "rope.dimension_count", u32(rope_dim(o)));
  l.set(a + "expert_shared_count", u32(o.n_expert_shared));
  l.set(a + "leading_dense_block_count", u32(o.n_dense_lead));
  l.set(a + "expert_gating_func", u32(2));  // LLAMA_EXPERT_GATING_FUNC_TYPE_SIGMOID
  // GLM's routed_scaling_factor is 2.5; 0 writes no key (no scaling).
  if (o.expert_weights_scale > 0.0f) {
    l.set(a + "expert_weights_scale", gguf::Value(o.expert_weights_scale));
  }
  l.set(a + "expert_weights_norm", gguf::Value(o.expert_weights_norm));
  if (o.n_mtp > 0) l.set(a + "nextn_predict_layers", u32(o.n_mtp));
}

Status check_options(const Options& o) {
  if (o.n_dense_lead < 0 || o.n_dense_lead > o.n_layer) {
    return make_error("synth: n_dense_lead {} out of range 0..n_layer ({})", o.n_dense_lead,
                      o.n_layer);
  }
  if (o.n_expert_shared < 1 || o.n_expert_shared > 64) {
    return make_error("synth: n_expert_shared {} out of range 1..64 (glm4moe has a shared expert)",
                      o.n_expert_shared);
  }
  if (o.n_ff_dense < 0 || o.n_ff_dense > (int64_t{1} << 20)) {
    return make_error("synth: n_ff_dense {} out of range 0..{}", o.n_ff_dense, int64_t{1} << 20);
  }
  if (o.n_mtp < 0 || o.n_mtp > 1) {
    return make_error("synth: n_mtp {} out of range 0..1 (llama.cpp runs one MTP block)", o.n_mtp);
  }
  if (!(o.expert_weights_scale >= 0.0f) || !std::isfinite(o.expert_weights_scale)) {
    return make_error("synth: expert_weights_scale {} must be a number >= 0",
                      o.expert_weights_scale);
  }
  const int64_t rd = rope_dim(o);
  if (rd < 2 || rd % 2 != 0 || rd > head_dim(o)) {
    return make_error("synth: rope_dim {} must be even and in 2..head_dim ({})", rd, head_dim(o));
  }
  return Status::Ok();
}

}  // namespace

// name, experts, free head_dim, expert_feed_forward_length, (no)
// expert_shared_feed_forward_length, (no) vocab_size, rope.dimension_count
// (written by the hook: partial), not a DeltaNet hybrid.
constinit const ArchSpec kGlm4MoeArch{
    .name = "glm4moe", .requires_experts = true, .free_head_dim = true, .expert_ff_key = true,
    .head = kHead, .layer = kLayer, .tail = kTail, .metadata = metadata,
    .validate = check_options, .has_tensor = has_tensor, .mtp_blocks = true,
    .tokenizer = &tokenizers::kGlm4};

}  // namespace apex::synth
