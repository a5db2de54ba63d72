// nemotron_h_moe (Nemotron-H MoE, Nemotron-3 Nano 30B-A3B): llama.cpp's
// src/models/nemotron-h.cpp loader. Every block is exactly one of
//   M  Mamba-2 mixer: ssm_in projects to [z | x B C | dt], a causal conv1d
//      (with bias) over x B C, the selective scan (per-head scalar decay
//      ssm_a, skip ssm_d, dt bias), silu(z) gating, a grouped RMS norm and
//      ssm_out;
//   *  attention without positional encoding (q, k, v, o projections);
//   E  MoE FFN: sigmoid router with a selection bias (exp_probs_b), relu^2
//      experts with up/down only, plus one relu^2 shared expert;
// each behind its own attn_norm. The loader tells the kinds apart by the
// per-block arrays attention.head_count_kv (non-zero: attention) and
// feed_forward_length (non-zero: FFN); both zero means Mamba-2.
#include <fmt/format.h>

#include <string>

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

// Which block kind a per-layer tensor belongs to is read from its name
// (block_kind_of below): ssm_* Mamba-2, attn_* (but attn_norm) attention,
// ffn_* and exp_probs_b MoE. The converter keeps names that do not end in
// ".weight" (ssm_a, ssm_d, biases), norms, the router and conv1d in F32.
constexpr TensorSpec kLayer[] = {
    {"attn_norm.weight", {D::kEmbd, D::kNone, D::kNone}, I::kNorm, true},
    {"ssm_in.weight", {D::kEmbd, D::kMambaInProj, D::kNone}, I::kMatrix, false},
    {"ssm_conv1d.weight", {D::kConvKernel, D::kMambaConv, D::kNone}, I::kConv, true},
    {"ssm_conv1d.bias", {D::kMambaConv, D::kNone, D::kNone}, I::kBias, true},
    {"ssm_dt.bias", {D::kSsmHeads, D::kNone, D::kNone}, I::kBias, true},
    {"ssm_a", {D::kOne, D::kSsmHeads, D::kNone}, I::kSsmA, true},
    {"ssm_d", {D::kOne, D::kSsmHeads, D::kNone}, I::kNorm, true},
    {"ssm_norm.weight", {D::kMambaNormGroup, D::kSsmGroups, D::kNone}, I::kNorm, true},
    {"ssm_out.weight", {D::kMambaInner, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"attn_q.weight", {D::kEmbd, D::kQ, D::kNone}, I::kMatrix, false},
    {"attn_k.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_v.weight", {D::kEmbd, D::kKV, D::kNone}, I::kMatrix, false},
    {"attn_output.weight", {D::kQ, D::kEmbd, D::kNone}, I::kOutProj, false},
    {"ffn_gate_inp.weight", {D::kEmbd, D::kExpert, D::kNone}, I::kRouter, true},
    {"exp_probs_b.bias", {D::kExpert, D::kNone, D::kNone}, I::kBias, true},
    {"ffn_up_exps.weight", {D::kEmbd, D::kFF, D::kExpert}, I::kMatrix, false},
    {"ffn_down_exps.weight", {D::kFF, D::kEmbd, D::kExpert}, I::kOutProj, false},
    {"ffn_up_shexp.weight", {D::kEmbd, D::kFFShared, D::kNone}, I::kMatrix, false},
    {"ffn_down_shexp.weight", {D::kFFShared, D::kEmbd, D::kNone}, I::kOutProj, false},
};

// Nemotron-3 Nano's pattern repeats Mamba/MoE pairs with an attention
// block every few; this is its rhythm, cut to n_layer.
constexpr std::string_view kDefaultRhythm = "MEMEM*E";

char block_kind(const Options& o, int il) {
  if (!o.layer_pattern.empty()) return o.layer_pattern[static_cast<size_t>(il)];
  return kDefaultRhythm[static_cast<size_t>(il) % kDefaultRhythm.size()];
}

char block_kind_of(std::string_view name) {
  if (name.starts_with("attn_norm")) return 0;  // every block
  if (name.starts_with("ssm_")) return 'M';
  if (name.starts_with("attn_")) return '*';
  return 'E';
}

bool has_tensor(const Options& o, int il, const TensorSpec& spec) {
  const char kind = block_kind_of(spec.name);
  return kind == 0 || kind == block_kind(o, il);
}

int64_t d_inner(const Options& o) { return o.ssm_d_inner > 0 ? o.ssm_d_inner : 2 * o.n_embd; }

void metadata(const Options& o, gguf::Layout& l) {
  const std::string a = o.arch;
  auto key = [&](const char* suffix) { return a + "." + suffix; };
  auto u32 = [](int64_t v) { return gguf::Value(static_cast<uint32_t>(v)); };
  // Per-block arrays, as the converter writes them: kv heads only on
  // attention blocks, the FFN width only on MoE blocks.
  gguf::Array kv_heads{gguf::ValueType::INT32, {}}, ff{gguf::ValueType::INT32, {}};
  for (int il = 0; il < o.n_layer; ++il) {
    const char k = block_kind(o, il);
    kv_heads.elems.emplace_back(static_cast<int32_t>(k == '*' ? o.n_head_kv : 0));
    ff.elems.emplace_back(static_cast<int32_t>(k == 'E' ? o.n_ff : 0));
  }
  l.set(key("attention.head_count_kv"), gguf::Value(std::move(kv_heads)));
  l.set(key("feed_forward_length"), gguf::Value(std::move(ff)));
  // The loader requires the plain LayerNorm epsilon (the MTP head's final
  // norm); the RMS one is read when present.
  l.set(key("attention.layer_norm_epsilon"), gguf::Value(o.rms_eps));
  l.set(key("ssm.conv_kernel"), u32(o.ssm_d_conv));
  l.set(key("ssm.state_size"), u32(o.ssm_d_state));
  l.set(key("ssm.group_count"), u32(o.ssm_n_group));
  l.set(key("ssm.inner_size"), u32(d_inner(o)));
  l.set(key("ssm.time_step_rank"), u32(o.ssm_dt_rank));
  l.set(key("expert_shared_count"), u32(1));
  l.set(key("expert_weights_norm"), gguf::Value(o.expert_weights_norm));
  l.set(key("expert_weights_scale"), gguf::Value(o.expert_weights_scale));
}

Status validate_options(const Options& o) {
  if (!o.layer_pattern.empty()) {
    if (o.layer_pattern.size() != static_cast<size_t>(o.n_layer)) {
      return make_error("synth: layer_pattern '{}' has {} letters for {} layers", o.layer_pattern,
                        o.layer_pattern.size(), o.n_layer);
    }
    if (o.layer_pattern.find_first_not_of("M*E") != std::string::npos) {
      return make_error("synth: layer_pattern '{}' may hold only M (Mamba-2), * (attention) and "
                        "E (MoE FFN)",
                        o.layer_pattern);
    }
  }
  if (o.ssm_d_conv < 2 || o.ssm_d_conv > 64) {
    return make_error("synth: ssm_d_conv {} out of range 2..64", o.ssm_d_conv);
  }
  if (o.ssm_d_state < 1 || o.ssm_n_group < 1 || o.ssm_dt_rank < 1 || o.ssm_dt_rank % o.ssm_n_group != 0) {
    return make_error("synth: ssm_dt_rank {} (Mamba-2 heads) must be a positive multiple of "
                      "ssm_n_group {}, ssm_d_state {} positive",
                      o.ssm_dt_rank, o.ssm_n_group, o.ssm_d_state);
  }
  const int64_t inner = d_inner(o);
  if (o.ssm_d_inner < 0 || inner % o.ssm_dt_rank != 0 || inner % o.ssm_n_group != 0 ||
      inner > (int64_t{1} << 20)) {
    return make_error("synth: ssm_d_inner {} must be a multiple of ssm_dt_rank {} and "
                      "ssm_n_group {}",
                      inner, o.ssm_dt_rank, o.ssm_n_group);
  }
  if (!(o.expert_weights_scale >= 0.0f) || o.expert_weights_scale > 1e6f) {
    return make_error("synth: expert_weights_scale {} must be >= 0", o.expert_weights_scale);
  }
  return Status::Ok();
}

}  // namespace

// name  experts free_hd expff shexp vocab rope_dim hybrid
constexpr ArchSpec kNemotronHMoeArch{
    .name = "nemotron_h_moe", .requires_experts = true, .free_head_dim = true,
    .expert_ff_key = true, .shared_expert = true, .head = kHead, .layer = kLayer, .tail = kTail,
    .metadata = metadata, .validate = validate_options, .has_tensor = has_tensor,
    .tokenizer = &tokenizers::kNemotronH};

}  // namespace apex::synth
