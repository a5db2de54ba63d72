#include "synth/arch_deepseek2.h"

#include <cmath>
#include <string>
#include <string_view>

#include "synth/synth.h"

namespace apex::synth {
namespace {

int64_t head_dim(const Options& o) { return o.head_dim > 0 ? o.head_dim : o.n_embd / o.n_head; }
int64_t rope_dim(const Options& o) { return o.rope_dim > 0 ? o.rope_dim : head_dim(o) / 4; }
int64_t v_head_dim(const Options& o) {
  return o.v_head_dim > 0 ? o.v_head_dim : head_dim(o) - rope_dim(o);
}
bool sigmoid_gating(const Options& o) { return o.expert_gating_func == 2; }

}  // namespace

// The keys DeepseekV2Model.set_gguf_parameters adds to the common ones
// (synth.cpp wrote those; the ones MLA changes are set again here).
void deepseek2_metadata(const Options& o, gguf::Layout& l) {
  const std::string a = "deepseek2.";
  auto u32 = [](int64_t v) { return gguf::Value(static_cast<uint32_t>(v)); };
  const int64_t kv_lora = o.kv_lora_rank, rope = rope_dim(o);
  l.set(a + "feed_forward_length", u32(o.n_ff_dense > 0 ? o.n_ff_dense : 2 * o.n_ff));
  // The converter sets num_key_value_heads = 1: with the absorbed k_b/v_b
  // every head attends to the same latent (MQA over kv_lora + rope dims).
  l.set(a + "attention.head_count_kv", u32(1));
  if (o.yarn_factor > 0.0f) {
    l.set(a + "rope.scaling.type", gguf::Value(std::string("yarn")));
    l.set(a + "rope.scaling.factor", gguf::Value(o.yarn_factor));
    l.set(a + "rope.scaling.original_context_length", u32(o.yarn_orig_context));
  }
  if (o.n_expert_groups > 0) {
    l.set(a + "expert_group_count", u32(o.n_expert_groups));
    l.set(a + "expert_group_used_count", u32(o.n_group_used));
  }
  l.set(a + "expert_gating_func", u32(o.expert_gating_func));
  l.set(a + "leading_dense_block_count", u32(o.n_dense_lead));
  // llama.cpp requires the key except for its "lite" layer counts (26, 27);
  // 0 selects the plain attn_q.
  l.set(a + "attention.q_lora_rank", u32(o.q_lora_rank));
  l.set(a + "attention.kv_lora_rank", u32(kv_lora));
  l.set(a + "attention.key_length", u32(kv_lora + rope));
  l.set(a + "attention.value_length", u32(kv_lora));
  l.set(a + "attention.key_length_mla", u32(head_dim(o)));
  l.set(a + "attention.value_length_mla", u32(v_head_dim(o)));
  l.set(a + "expert_shared_count", u32(o.n_expert_shared));
  if (o.expert_weights_scale != 0.0f) {
    l.set(a + "expert_weights_scale", gguf::Value(o.expert_weights_scale));
  }
  if (o.expert_weights_norm) l.set(a + "expert_weights_norm", gguf::Value(true));
  l.set(a + "rope.dimension_count", u32(rope));
  if (o.yarn_factor > 0.0f) {
    // The converter's legacy spelling: 0.1 * mscale_all_dim (llama.cpp
    // divides it by 0.1 again when loading).
    l.set(a + "rope.scaling.yarn_log_multiplier", gguf::Value(0.1f * o.yarn_mscale_all_dim));
  }
}

Status deepseek2_validate(const Options& o) {
  const int64_t hd = head_dim(o), rope = rope_dim(o);
  if (rope < 2 || rope % 2 != 0 || rope >= hd) {
    return make_error("synth: rope_dim {} must be even and in 2..head_dim-1 ({}): qk_nope needs "
                      "at least one dimension",
                      rope, hd - 1);
  }
  constexpr int64_t kMaxDim = int64_t{1} << 16;
  if (o.q_lora_rank < 0 || o.q_lora_rank > kMaxDim) {
    return make_error("synth: q_lora_rank {} out of range 0..{}", o.q_lora_rank, kMaxDim);
  }
  if (o.kv_lora_rank < 1 || o.kv_lora_rank > kMaxDim) {
    return make_error("synth: kv_lora_rank {} out of range 1..{}", o.kv_lora_rank, kMaxDim);
  }
  if (o.v_head_dim < 0 || o.v_head_dim > kMaxDim || v_head_dim(o) < 1) {
    return make_error("synth: v_head_dim {} out of range 1..{}", v_head_dim(o), kMaxDim);
  }
  if (o.n_dense_lead < 0 || o.n_dense_lead > o.n_layer) {
    return make_error("synth: n_dense_lead {} out of range 0..n_layer ({})", o.n_dense_lead,
                      o.n_layer);
  }
  if (o.n_ff_dense < 0 || o.n_ff_dense > (int64_t{1} << 20)) {
    return make_error("synth: n_ff_dense {} out of range 0..{}", o.n_ff_dense, int64_t{1} << 20);
  }
  if (o.n_expert_shared < 0 || o.n_expert_shared > 64) {
    return make_error("synth: n_expert_shared {} out of range 0..64", o.n_expert_shared);
  }
  if (o.n_expert_shared == 0) {
    return make_error("synth: deepseek2 needs n_expert_shared >= 1 (llama.cpp requires the "
                      "shared-expert tensors)");
  }
  if (o.expert_gating_func != 1 && o.expert_gating_func != 2) {
    return make_error("synth: expert_gating_func {} must be 1 (softmax) or 2 (sigmoid)",
                      o.expert_gating_func);
  }
  if (!std::isfinite(o.expert_weights_scale) || o.expert_weights_scale < 0.0f) {
    return make_error("synth: expert_weights_scale {} must be >= 0", o.expert_weights_scale);
  }
  if (o.n_expert_groups < 0 || o.n_group_used < 0) {
    return make_error("synth: expert groups {} / used {} must be >= 0", o.n_expert_groups,
                      o.n_group_used);
  }
  if (o.n_expert_groups > 1) {
    // llama.cpp's load_hparams asserts these.
    if (o.n_expert_groups >= o.n_expert || o.n_expert % o.n_expert_groups != 0) {
      return make_error("synth: n_expert_groups {} must divide n_expert {} and be smaller",
                        o.n_expert_groups, o.n_expert);
    }
    if (o.n_group_used < 1 || o.n_group_used >= o.n_expert_groups) {
      return make_error("synth: n_group_used {} out of range 1..n_expert_groups-1 ({})",
                        o.n_group_used, o.n_expert_groups - 1);
    }
    if (o.n_group_used * (o.n_expert / o.n_expert_groups) < o.n_expert_used) {
      return make_error("synth: {} groups of {} experts cannot supply {} experts per token",
                        o.n_group_used, o.n_expert / o.n_expert_groups, o.n_expert_used);
    }
  }
  if (!std::isfinite(o.yarn_factor) || o.yarn_factor < 0.0f ||
      (o.yarn_factor > 0.0f && o.yarn_factor < 1.0f)) {
    return make_error("synth: yarn_factor {} must be 0 (none) or >= 1", o.yarn_factor);
  }
  if (o.yarn_factor > 0.0f &&
      (o.yarn_orig_context < 1 || o.yarn_orig_context > (int64_t{1} << 24) ||
       !std::isfinite(o.yarn_mscale_all_dim) || o.yarn_mscale_all_dim < 0.0f)) {
    return make_error("synth: yarn_orig_context {} must be in 1..{} and yarn_mscale_all_dim {} >= 0",
                      o.yarn_orig_context, int64_t{1} << 24, o.yarn_mscale_all_dim);
  }
  if (o.n_mtp != 0) return make_error("synth: n_mtp applies only to qwen35moe (arch is deepseek2)");
  return Status::Ok();
}

// Which rows of kDeepseek2Layer block il has: q_lora_rank picks the
// low-rank or the plain query, leading blocks are dense, the others MoE,
// and only sigmoid gating carries the selection bias.
bool deepseek2_has_tensor(const Options& o, int il, const TensorSpec& spec) {
  const std::string_view n = spec.name;
  const bool dense = il < o.n_dense_lead;
  if (n == "attn_q.weight") return o.q_lora_rank == 0;
  if (n.starts_with("attn_q_a") || n == "attn_q_b.weight") return o.q_lora_rank > 0;
  if (n == "ffn_gate.weight" || n == "ffn_up.weight" || n == "ffn_down.weight") return dense;
  if (n == "exp_probs_b.bias") return !dense && sigmoid_gating(o);
  if (n.starts_with("ffn_") && n != "ffn_norm.weight") return !dense;
  return true;
}

}  // namespace apex::synth
