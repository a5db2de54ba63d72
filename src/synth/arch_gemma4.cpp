// Gemma 4's keys, option checks and per-block tensor choice (the table is in
// arch_gemma4.h). Keys and values follow llama.cpp's Gemma 4 converter
// (conversion/gemma.py, Gemma4Model.set_gguf_parameters).
#include "synth/arch_gemma4.h"

#include <cmath>
#include <string>
#include <string_view>

#include "synth/synth.h"

namespace apex::synth::gemma4 {
namespace {

int64_t head_dim(const Options& o) { return o.head_dim > 0 ? o.head_dim : o.n_embd / o.n_head; }
int64_t head_dim_swa(const Options& o) { return o.head_dim_swa > 0 ? o.head_dim_swa : head_dim(o); }
int kv_heads_swa(const Options& o) { return o.n_head_kv_swa > 0 ? o.n_head_kv_swa : o.n_head_kv; }

// Gemma 4's layer_types: every full_attention_interval-th block is global.
bool is_global(const Options& o, int il) { return (il + 1) % o.full_attention_interval == 0; }

bool uses(const TensorSpec& s, std::initializer_list<Dim> dims) {
  for (Dim d : s.ne) {
    for (Dim x : dims) {
      if (d == x) return true;
    }
  }
  return false;
}

}  // namespace

void metadata(const Options& o, gguf::Layout& l) {
  auto u32 = [](int64_t v) { return gguf::Value(static_cast<uint32_t>(v)); };
  auto key = [](const char* suffix) { return std::string("gemma4.") + suffix; };
  // feed_forward_length is the dense FFN; the experts' width has its own key.
  l.set(key("feed_forward_length"), u32(o.n_ff_dense > 0 ? o.n_ff_dense : 2 * o.n_ff));
  if (kv_heads_swa(o) != o.n_head_kv) {
    gguf::Array kv{gguf::ValueType::INT32, {}};
    for (int il = 0; il < o.n_layer; ++il) {
      kv.elems.emplace_back(static_cast<int32_t>(is_global(o, il) ? o.n_head_kv : kv_heads_swa(o)));
    }
    l.set(key("attention.head_count_kv"), gguf::Value(std::move(kv)));
  }
  gguf::Array swa{gguf::ValueType::BOOL, {}};
  for (int il = 0; il < o.n_layer; ++il) swa.elems.emplace_back(!is_global(o, il));
  l.set(key("attention.sliding_window_pattern"), gguf::Value(std::move(swa)));
  l.set(key("attention.sliding_window"), u32(o.sliding_window));
  l.set(key("attention.shared_kv_layers"), u32(0));
  l.set(key("embedding_length_per_layer_input"), u32(o.n_embd_per_layer));
  l.set(key("attention.key_length_swa"), u32(head_dim_swa(o)));
  l.set(key("attention.value_length_swa"), u32(head_dim_swa(o)));
  // Global blocks rotate all head_dim dimensions as far as ggml knows;
  // rope_freqs stops the pairs past rope_dim from turning.
  l.set(key("rope.dimension_count_swa"), u32(head_dim_swa(o)));
  l.set(key("rope.freq_base_swa"), gguf::Value(o.rope_freq_base_swa));
  // Written even when 0 (none): without the key llama.cpp caps at 30.
  l.set(key("final_logit_softcapping"), gguf::Value(o.final_logit_softcapping));
}

Status validate(const Options& o) {
  if (o.full_attention_interval < 1 || o.full_attention_interval > o.n_layer) {
    // llama.cpp's loader needs rope_freqs to belong to a global block.
    return make_error("synth: full_attention_interval {} must be in 1..n_layer ({}) so that gemma4 "
                      "has a global block",
                      o.full_attention_interval, o.n_layer);
  }
  if (o.head_dim_swa < 0 || o.head_dim_swa % 2 != 0 || o.head_dim_swa > (int64_t{1} << 16)) {
    return make_error("synth: head_dim_swa {} must be even (0: head_dim)", o.head_dim_swa);
  }
  const int kvs = kv_heads_swa(o);
  if (o.n_head_kv_swa < 0 || kvs > o.n_head || o.n_head % kvs != 0) {
    return make_error("synth: n_head_kv_swa {} must divide n_head {}", kvs, o.n_head);
  }
  if (o.n_ff_dense < 0 || o.n_ff_dense > (int64_t{1} << 20)) {
    return make_error("synth: n_ff_dense {} out of range 0..{}", o.n_ff_dense, int64_t{1} << 20);
  }
  if (o.sliding_window < 1) return make_error("synth: sliding_window {} must be >= 1", o.sliding_window);
  if (!(o.rope_freq_base_swa > 0.0f) || !std::isfinite(o.rope_freq_base_swa)) {
    return make_error("synth: rope_freq_base_swa {} must be a positive number", o.rope_freq_base_swa);
  }
  if (!(o.final_logit_softcapping >= 0.0f) || !std::isfinite(o.final_logit_softcapping)) {
    return make_error("synth: final_logit_softcapping {} must be >= 0", o.final_logit_softcapping);
  }
  const int64_t rd = o.rope_dim > 0 ? o.rope_dim : head_dim(o) / 4;
  if (rd < 2 || rd % 2 != 0 || rd > head_dim(o)) {
    return make_error("synth: rope_dim {} must be even and in 2..head_dim ({})", rd, head_dim(o));
  }
  if (o.n_embd_per_layer < 0 || o.n_embd_per_layer > 4096) {
    return make_error("synth: n_embd_per_layer {} out of range 0..4096", o.n_embd_per_layer);
  }
  return Status::Ok();
}

bool has_global_tensor(const Options& o, const TensorSpec& s) { return has_tensor(o, -1, s); }

// il = -1: a head or tail tensor.
bool has_tensor(const Options& o, int il, const TensorSpec& s) {
  const std::string_view name = s.name;
  const bool per_layer_embd = uses(s, {Dim::kPerLayer, Dim::kPerLayerAll}) ||
                              name == "post_norm.weight";
  if (per_layer_embd) return o.n_embd_per_layer > 0;
  if (il < 0) return true;  // head and tail tensors
  const bool global = is_global(o, il);
  if (uses(s, {Dim::kQ, Dim::kKV, Dim::kHeadDim}) && !global) return false;
  if (uses(s, {Dim::kQSwa, Dim::kKVSwa, Dim::kHeadDimSwa}) && global) return false;
  if (name == "attn_v.weight" && global && o.k_eq_v) return false;
  if (name == "ffn_gate_up_exps.weight") return o.fused_gate_up;
  if (name == "ffn_gate_exps.weight" || name == "ffn_up_exps.weight") return !o.fused_gate_up;
  if (name == "ffn_down_exps.scale") return o.expert_down_scale;
  return true;
}

}  // namespace apex::synth::gemma4
