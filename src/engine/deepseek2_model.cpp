// deepseek2's keys and tensors (see forward_deepseek2.h). Only MLA files
// are run: those without key_length_mla / value_length_mla carry the
// unsplit attn_kv_b of older converters, which the engine refuses by name
// (quantize and plan still handle them).
#include <fmt/format.h>

#include "engine/forward_deepseek2.h"
#include "engine/weights.h"

namespace apex::engine {

Status read_deepseek2_keys(const gguf::File& f, const std::string& arch, ModelConfig& c) {
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  auto opt = [&](const char* suffix, int64_t& out, int64_t lo) -> Status {
    if (f.find(key(suffix)) != nullptr && (!f.get_int(key(suffix), out) || out < lo)) {
      return make_error("{}: bad integer key {}", f.path(), key(suffix));
    }
    return {};
  };
  int64_t v = 0;
  if (Status s = opt("leading_dense_block_count", v, 0); !s) return s;
  if (v > c.n_layer) {
    return make_error("{}: {} {} exceeds the {} blocks", f.path(), key("leading_dense_block_count"), v, c.n_layer);
  }
  c.n_dense_lead = static_cast<int>(v);
  if (Status s = opt("attention.q_lora_rank", c.q_lora_rank, 0); !s) return s;
  if (!f.get_int(key("attention.kv_lora_rank"), c.kv_lora_rank) || c.kv_lora_rank <= 0) {
    return make_error("{}: missing or bad integer key {}", f.path(), key("attention.kv_lora_rank"));
  }
  if (!f.get_int(key("attention.key_length_mla"), c.head_dim_k_mla) ||
      !f.get_int(key("attention.value_length_mla"), c.head_dim_v_mla)) {
    return make_error("{}: deepseek2: attention without {} / value_length_mla (an unsplit "
                      "attn_kv_b, not attn_k_b / attn_v_b) is not implemented",
                      f.path(), key("attention.key_length_mla"));
  }
  // The absorbed form caches one latent "head": K = [kv_lora | rope], V = kv_lora.
  const int64_t v_len = c.head_dim_v > 0 ? c.head_dim_v : c.head_dim;
  if (c.n_head_kv != 1 || c.head_dim != c.kv_lora_rank + c.n_rot || v_len != c.kv_lora_rank) {
    return make_error("{}: deepseek2: head_count_kv {}, key_length {}, value_length {} are not the "
                      "MLA layout (1, kv_lora_rank + rope.dimension_count = {}, kv_lora_rank = {})",
                      f.path(), c.n_head_kv, c.head_dim, v_len, c.kv_lora_rank + c.n_rot, c.kv_lora_rank);
  }
  if (c.n_rot >= c.head_dim_k_mla || c.head_dim_v_mla <= 0) {
    return make_error("{}: deepseek2: key_length_mla {} must exceed rope.dimension_count {}, "
                      "value_length_mla {} be positive",
                      f.path(), c.head_dim_k_mla, c.n_rot, c.head_dim_v_mla);
  }
  if (!f.get_int(key("expert_shared_count"), v) || v < 0) {
    return make_error("{}: missing or bad integer key {}", f.path(), key("expert_shared_count"));
  }
  c.n_expert_shared = static_cast<int>(v);
  if (const gguf::KeyValue* kv = f.find(key("expert_weights_norm"))) {
    const bool* b = kv->value.get_if<bool>();
    if (b == nullptr) return make_error("{}: {} is not a bool", f.path(), key("expert_weights_norm"));
    c.expert_weights_norm = *b;
  }
  int64_t gating = 0;  // 0 (absent): softmax, as for DeepSeek-V2 files
  if (Status s = opt("expert_gating_func", gating, 0); !s) return s;
  if (gating > 2) {
    return make_error("{}: deepseek2: {} {} is not implemented (1 softmax, 2 sigmoid)", f.path(),
                      key("expert_gating_func"), gating);
  }
  c.expert_gating = gating == 2 ? ExpertGating::kSigmoid : ExpertGating::kSoftmax;
  v = 0;
  if (Status s = opt("expert_group_count", v, 0); !s) return s;
  c.n_expert_groups = static_cast<int>(v);
  v = 0;
  if (Status s = opt("expert_group_used_count", v, 0); !s) return s;
  c.n_group_used = static_cast<int>(v);
  if (c.n_expert_groups > 1 &&
      (c.n_expert % c.n_expert_groups != 0 || c.n_group_used < 1 || c.n_group_used >= c.n_expert_groups)) {
    return make_error("{}: {} {} / {} {} do not split {} experts", f.path(), key("expert_group_count"),
                      c.n_expert_groups, key("expert_group_used_count"), c.n_group_used, c.n_expert);
  }
  double d = 0;
  if (f.get_float(key("attention.temperature_scale"), d) && d != 0.0) {
    return make_error("{}: deepseek2: attention temperature scaling ({}) is not implemented",
                      f.path(), key("attention.temperature_scale"));
  }
  // deepseek2's loader alone reads this; the converter writes
  // 0.1 * mscale_all_dim and llama.cpp divides it back. read_config's rope
  // scaling reader (after this one) turns it into YaRN's attention factor.
  if (f.get_float(key("rope.scaling.yarn_log_multiplier"), d)) {
    c.yarn.log_mul = static_cast<float>(d) / 0.1f;
  }
  return {};
}

Status load_deepseek2_layer(const gguf::File& f, const ModelConfig& c, int il, LayerWeights& l) {
  auto n = [&](const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); };
  const int64_t E = c.n_embd, H = c.n_head, kv = c.kv_lora_rank, rope = c.n_rot;
  const int64_t k_mla = c.head_dim_k_mla, v_mla = c.head_dim_v_mla, nope = k_mla - rope;
#define APEX_DS2_GET(dst, expr)              \
  do {                                       \
    auto r_ = (expr);                        \
    if (!r_) return r_.error();              \
    dst = std::move(*r_);                    \
  } while (0)
  APEX_DS2_GET(l.attn_norm, find_weight_f32(f, n("attn_norm.weight"), E));
  if (c.q_lora_rank > 0) {
    APEX_DS2_GET(l.wq_a, find_weight(f, n("attn_q_a.weight"), {E, c.q_lora_rank}));
    APEX_DS2_GET(l.q_a_norm, find_weight_f32(f, n("attn_q_a_norm.weight"), c.q_lora_rank));
    APEX_DS2_GET(l.wq_b, find_weight(f, n("attn_q_b.weight"), {c.q_lora_rank, H * k_mla}));
  } else {
    APEX_DS2_GET(l.wq, find_weight(f, n("attn_q.weight"), {E, H * k_mla}));
  }
  APEX_DS2_GET(l.wkv_a_mqa, find_weight(f, n("attn_kv_a_mqa.weight"), {E, kv + rope}));
  APEX_DS2_GET(l.kv_a_norm, find_weight_f32(f, n("attn_kv_a_norm.weight"), kv));
  APEX_DS2_GET(l.wk_b, find_weight(f, n("attn_k_b.weight"), {nope, kv, H}));
  APEX_DS2_GET(l.wv_b, find_weight(f, n("attn_v_b.weight"), {kv, v_mla, H}));
  APEX_DS2_GET(l.wo, find_weight(f, n("attn_output.weight"), {H * v_mla, E}));
  APEX_DS2_GET(l.ffn_norm, find_weight_f32(f, n("ffn_norm.weight"), E));
  auto rows_of = [&](const std::string& name) -> int64_t {
    const gguf::TensorInfo* t = f.find_tensor(name);
    return t != nullptr && t->ne.size() >= 2 ? t->ne[1] : -1;
  };
  if (il < c.n_dense_lead) {
    const int64_t ff = rows_of(n("ffn_up.weight"));
    if (ff <= 0) return make_error("{}: missing tensor {}", f.path(), n("ffn_up.weight"));
    APEX_DS2_GET(l.ffn_gate, find_weight(f, n("ffn_gate.weight"), {E, ff}));
    APEX_DS2_GET(l.ffn_up, find_weight(f, n("ffn_up.weight"), {E, ff}));
    APEX_DS2_GET(l.ffn_down, find_weight(f, n("ffn_down.weight"), {ff, E}));
    return {};
  }
  if (c.n_expert <= 0) return make_error("{}: deepseek2 block {} needs experts", f.path(), il);
  if (f.find_tensor(n("ffn_gate_up_exps.weight")) != nullptr) {
    return make_error("{}: deepseek2: fused {} is not implemented", f.path(), n("ffn_gate_up_exps.weight"));
  }
  const int64_t ff = rows_of(n("ffn_up_exps.weight"));
  if (ff <= 0) return make_error("{}: missing tensor {}", f.path(), n("ffn_up_exps.weight"));
  APEX_DS2_GET(l.router, find_weight(f, n("ffn_gate_inp.weight"), {E, c.n_expert}));
  APEX_DS2_GET(l.exp_probs_b, find_weight_f32(f, n("exp_probs_b.bias"), c.n_expert, false));
  APEX_DS2_GET(l.gate_exps, find_weight(f, n("ffn_gate_exps.weight"), {E, ff, c.n_expert}));
  APEX_DS2_GET(l.up_exps, find_weight(f, n("ffn_up_exps.weight"), {E, ff, c.n_expert}));
  APEX_DS2_GET(l.down_exps, find_weight(f, n("ffn_down_exps.weight"), {ff, E, c.n_expert}));
  if (c.n_expert_shared > 0) {
    const int64_t sh = rows_of(n("ffn_up_shexp.weight"));
    if (sh <= 0) return make_error("{}: missing tensor {}", f.path(), n("ffn_up_shexp.weight"));
    APEX_DS2_GET(l.gate_shexp, find_weight(f, n("ffn_gate_shexp.weight"), {E, sh}));
    APEX_DS2_GET(l.up_shexp, find_weight(f, n("ffn_up_shexp.weight"), {E, sh}));
    APEX_DS2_GET(l.down_shexp, find_weight(f, n("ffn_down_shexp.weight"), {sh, E}));
  }
#undef APEX_DS2_GET
  return {};
}

}  // namespace apex::engine
