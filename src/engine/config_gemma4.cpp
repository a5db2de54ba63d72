// Gemma 4's hyper-parameters and tensors, as llama.cpp's gemma4 loader
// (load_arch_hparams / load_arch_tensors) reads them.
#include <fmt/format.h>

#include <algorithm>

#include "engine/gemma4.h"
#include "engine/weights.h"

namespace apex::engine {

Status read_gemma4_keys(const gguf::File& f, const std::string& arch, ModelConfig& c) {
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  int64_t v = 0;
  // Gemma 4 E2B/E4B feed every block a slice of a second embedding table.
  if (f.get_int(key("embedding_length_per_layer_input"), v) && v > 0) {
    return make_error("{}: gemma4: per-layer embeddings not implemented ({} = {})", f.path(),
                      key("embedding_length_per_layer_input"), v);
  }
  if (f.get_int(key("attention.shared_kv_layers"), v) && v > 0) {
    return make_error("{}: gemma4: shared KV layers not implemented ({} = {})", f.path(),
                      key("attention.shared_kv_layers"), v);
  }
  const gguf::KeyValue* pattern = f.find(key("attention.sliding_window_pattern"));
  const auto* flags = pattern != nullptr ? pattern->value.get_if<gguf::Array>() : nullptr;
  if (flags == nullptr || flags->elems.size() < static_cast<size_t>(c.n_layer)) {
    return make_error("{}: missing key {} (an array of {} bools)", f.path(),
                      key("attention.sliding_window_pattern"), c.n_layer);
  }
  c.swa.assign(static_cast<size_t>(c.n_layer), 0);
  for (int il = 0; il < c.n_layer; ++il) {
    const bool* b = flags->elems[static_cast<size_t>(il)].get_if<bool>();
    if (b == nullptr) {
      return make_error("{}: {} element {} is not a bool", f.path(),
                        key("attention.sliding_window_pattern"), il);
    }
    c.swa[static_cast<size_t>(il)] = *b ? 1 : 0;
  }
  if (!f.get_int(key("attention.sliding_window"), c.n_swa) || c.n_swa <= 0) {
    return make_error("{}: missing or bad integer key {}", f.path(), key("attention.sliding_window"));
  }
  c.head_dim_swa = c.head_dim;
  f.get_int(key("attention.key_length_swa"), c.head_dim_swa);
  int64_t v_swa = c.head_dim_swa;
  f.get_int(key("attention.value_length_swa"), v_swa);
  if (v_swa != c.head_dim_swa || c.head_dim_swa <= 0 || c.head_dim_swa % 2 != 0) {
    return make_error("{}: {} {} and {} {} must be equal, positive and even", f.path(),
                      key("attention.key_length_swa"), c.head_dim_swa,
                      key("attention.value_length_swa"), v_swa);
  }
  if (f.get_int(key("rope.dimension_count_swa"), v) && v != c.head_dim_swa) {
    return make_error("{}: partial RoPE ({} = {} of {}) is not supported", f.path(),
                      key("rope.dimension_count_swa"), v, c.head_dim_swa);
  }
  double d = 0;
  if (f.get_float(key("rope.freq_base_swa"), d)) c.rope_freq_base_swa = static_cast<float>(d);
  // llama.cpp soft-caps at 30 when the key is absent; 0 turns it off.
  c.final_logit_softcap = 30.0f;
  if (f.get_float(key("final_logit_softcapping"), d)) c.final_logit_softcap = static_cast<float>(d);
  // KV heads: one count, or one per block (the 26B: 8 in sliding blocks,
  // 2 in global ones); each kind must have a single count.
  c.n_head_kv_swa = c.n_head_kv;
  if (const gguf::KeyValue* kv = f.find(key("attention.head_count_kv"))) {
    if (const auto* arr = kv->value.get_if<gguf::Array>()) {
      if (arr->elems.size() < static_cast<size_t>(c.n_layer)) {
        return make_error("{}: {} has {} entries for {} blocks", f.path(),
                          key("attention.head_count_kv"), arr->elems.size(), c.n_layer);
      }
      int heads[2] = {0, 0};  // [global, sliding]
      for (int il = 0; il < c.n_layer; ++il) {
        int64_t h = 0;
        if (!arr->elems[static_cast<size_t>(il)].as_int(h) || h <= 0) {
          return make_error("{}: {} element {} is not a head count", f.path(),
                            key("attention.head_count_kv"), il);
        }
        int& kind = heads[c.is_swa(il) ? 1 : 0];
        if (kind != 0 && kind != h) {
          return make_error("{}: {}: blocks of one kind with different KV head counts are not supported",
                            f.path(), key("attention.head_count_kv"));
        }
        kind = static_cast<int>(h);
      }
      if (heads[0] > 0) c.n_head_kv = heads[0];
      if (heads[1] > 0) c.n_head_kv_swa = heads[1];
    }
  }
  for (int h : {c.n_head_kv, c.n_head_kv_swa}) {
    if (h <= 0 || c.n_head % h != 0) {
      return make_error("{}: {} KV heads do not divide {} heads", f.path(), h, c.n_head);
    }
  }
  c.cache_kv_dim = std::max(c.head_dim * c.n_head_kv, c.head_dim_swa * c.n_head_kv_swa);
  return {};
}

Status load_gemma4_globals(const gguf::File& f, const ModelConfig& c, ModelWeights& w) {
  bool any_global = false;
  for (int il = 0; il < c.n_layer; ++il) any_global = any_global || !c.is_swa(il);
  if (any_global) {
    APEX_ASSIGN_OR_RETURN(w.rope_freqs, find_weight_f32(f, "rope_freqs.weight", c.head_dim / 2));
  }
  return {};
}

Status load_gemma4_layer(const gguf::File& f, const ModelConfig& c, int il, LayerWeights& l) {
  const int64_t E = c.n_embd;
  auto n = [&](const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); };
  const bool swa = c.is_swa(il);
  const int64_t hd = swa ? c.head_dim_swa : c.head_dim;
  const int64_t qd = hd * c.n_head, kvd = hd * (swa ? c.n_head_kv_swa : c.n_head_kv);
  APEX_ASSIGN_OR_RETURN(l.attn_norm, find_weight_f32(f, n("attn_norm.weight"), E));
  APEX_ASSIGN_OR_RETURN(l.wq, find_weight(f, n("attn_q.weight"), {E, qd}));
  APEX_ASSIGN_OR_RETURN(l.wk, find_weight(f, n("attn_k.weight"), {E, kvd}));
  // Without attn_v (attention_k_eq_v), V is the K projection.
  APEX_ASSIGN_OR_RETURN(l.wv, find_weight(f, n("attn_v.weight"), {E, kvd}, false));
  APEX_ASSIGN_OR_RETURN(l.wo, find_weight(f, n("attn_output.weight"), {qd, E}));
  APEX_ASSIGN_OR_RETURN(l.q_norm, find_weight_f32(f, n("attn_q_norm.weight"), hd));
  APEX_ASSIGN_OR_RETURN(l.k_norm, find_weight_f32(f, n("attn_k_norm.weight"), hd));
  APEX_ASSIGN_OR_RETURN(l.post_attn_norm, find_weight_f32(f, n("post_attention_norm.weight"), E));
  APEX_ASSIGN_OR_RETURN(l.out_scale, find_weight_f32(f, n("layer_output_scale.weight"), 1, false));
  APEX_ASSIGN_OR_RETURN(l.ffn_norm, find_weight_f32(f, n("ffn_norm.weight"), E));
  const gguf::TensorInfo* up = f.find_tensor(n("ffn_up.weight"));
  if (up == nullptr || up->ne.size() < 2) {
    return make_error("{}: missing tensor {}", f.path(), n("ffn_up.weight"));
  }
  const int64_t ff = up->ne[1];
  APEX_ASSIGN_OR_RETURN(l.ffn_gate, find_weight(f, n("ffn_gate.weight"), {E, ff}));
  APEX_ASSIGN_OR_RETURN(l.ffn_up, find_weight(f, n("ffn_up.weight"), {E, ff}));
  APEX_ASSIGN_OR_RETURN(l.ffn_down, find_weight(f, n("ffn_down.weight"), {ff, E}));
  APEX_ASSIGN_OR_RETURN(l.post_ffw_norm, find_weight_f32(f, n("post_ffw_norm.weight"), E));
  // As in llama.cpp, a block is MoE when it has a router.
  if (c.n_expert == 0 || f.find_tensor(n("ffn_gate_inp.weight")) == nullptr) return {};
  const int64_t X = c.n_expert;
  APEX_ASSIGN_OR_RETURN(l.router, find_weight(f, n("ffn_gate_inp.weight"), {E, X}));
  APEX_ASSIGN_OR_RETURN(l.router_scale, find_weight_f32(f, n("ffn_gate_inp.scale"), E));
  APEX_ASSIGN_OR_RETURN(l.pre_ffw_norm_2, find_weight_f32(f, n("pre_ffw_norm_2.weight"), E));
  APEX_ASSIGN_OR_RETURN(l.post_ffw_norm_1, find_weight_f32(f, n("post_ffw_norm_1.weight"), E));
  APEX_ASSIGN_OR_RETURN(l.post_ffw_norm_2, find_weight_f32(f, n("post_ffw_norm_2.weight"), E));
  const gguf::TensorInfo* down = f.find_tensor(n("ffn_down_exps.weight"));
  if (down == nullptr || down->ne.size() < 3) {
    return make_error("{}: missing tensor {}", f.path(), n("ffn_down_exps.weight"));
  }
  const int64_t ffx = down->ne[0];
  APEX_ASSIGN_OR_RETURN(l.down_exps, find_weight(f, n("ffn_down_exps.weight"), {ffx, E, X}));
  APEX_ASSIGN_OR_RETURN(l.gate_up_exps, find_weight(f, n("ffn_gate_up_exps.weight"), {E, 2 * ffx, X}, false));
  if (!l.gate_up_exps) {
    APEX_ASSIGN_OR_RETURN(l.gate_exps, find_weight(f, n("ffn_gate_exps.weight"), {E, ffx, X}));
    APEX_ASSIGN_OR_RETURN(l.up_exps, find_weight(f, n("ffn_up_exps.weight"), {E, ffx, X}));
  }
  APEX_ASSIGN_OR_RETURN(l.down_exps_scale, find_weight_f32(f, n("ffn_down_exps.scale"), X, false));
  return {};
}

}  // namespace apex::engine
