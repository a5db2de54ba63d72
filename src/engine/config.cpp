#include "engine/config.h"

#include <cmath>

#include "engine/nemotron_h_moe.h"
#include "engine/forward_deepseek2.h"
#include "engine/gemma4.h"

namespace apex::engine {

// Per-architecture key readers that live beside their forward functions.
Status read_minimax_m2_keys(const gguf::File& f, const std::string& arch, ModelConfig& c);

namespace {

Status read_delta_net_keys(const gguf::File& f, const std::string& arch, ModelConfig& c);
Status read_rope_scaling(const gguf::File& f, const std::string& arch, ModelConfig& c);

// One row per architecture, each naming only what differs from ArchTraits'
// defaults (config.h).
constexpr ArchTraits kArchs[] = {
    {.name = "qwen2moe", .rope = RopeType::kNeox, .qkv_bias = true, .requires_experts = true,
     .shared_expert = true},
    {.name = "qwen3moe", .rope = RopeType::kNeox, .qk_norm = true, .requires_experts = true,
     .norm_topk_weights = true},
    {.name = "llama", .rope = RopeType::kNorm, .norm_topk_weights = true},
    // src/models/qwen35moe.cpp: softmax router with renormalised top-k,
    // shared expert gated by a sigmoid, the FFN normed by post_attention_norm.
    {.name = "qwen35moe", .rope = RopeType::kImrope, .qk_norm = true, .requires_experts = true,
     .shared_expert = true, .norm_topk_weights = true, .forward = ForwardKind::kDeltaNetHybrid,
     .ffn_norm_name = "post_attention_norm", .gated_q = true, .partial_rope = true,
     .read_keys = read_delta_net_keys},
    // src/models/nemotron-h.cpp: Mamba-2 / attention (no RoPE) / MoE blocks;
    // sigmoid router with a selection bias, relu^2 experts (forward_nemotron_h_moe.cpp).
    {.name = "nemotron_h_moe", .rope = RopeType::kNorm, .requires_experts = true,
     .forward = ForwardKind::kMamba2Hybrid, .read_keys = read_nemotron_h_keys,
     .load_layer = load_nemotron_h_layer},
    // src/models/glm4-moe.cpp (forward_glm4moe.cpp, which also reads its keys).
    {.name = "glm4moe", .rope = RopeType::kNeox, .qkv_bias = true, .requires_experts = true,
     .shared_expert = true, .forward = ForwardKind::kGlm4Moe, .ffn_norm_name = "post_attention_norm",
     .partial_rope = true, .read_keys = read_glm4moe_keys, .optional_qk_norm = true,
     .ungated_shared_expert = true, .expert_selection_bias = true},
    // src/models/minimax-m2.cpp: q/k norms over the whole projections,
    // partial NEOX RoPE, router by expert_gating_func (sigmoid) with a
    // selection bias, top-k renormalised, no shared expert.
    {.name = "minimax-m2", .rope = RopeType::kNeox, .qk_norm = true, .requires_experts = true,
     .norm_topk_weights = true, .forward = ForwardKind::kWholeQkNorm, .partial_rope = true,
     .read_keys = read_minimax_m2_keys, .qk_norm_whole = true, .expert_selection_bias = true},
    // src/models/olmoe.cpp: q/k norms over the whole projections, full NEOX
    // RoPE, softmax router without renormalising the top k.
    {.name = "olmoe", .rope = RopeType::kNeox, .qk_norm = true, .requires_experts = true,
     .forward = ForwardKind::kWholeQkNorm, .qk_norm_whole = true},
    // src/models/deepseek2.cpp (MLA files): latent attention with NORM RoPE
    // (YaRN-scaled) on the qk_rope dims, routing with expert groups and
    // ungated shared experts (forward_deepseek2.cpp, deepseek2_model.cpp).
    {.name = "deepseek2", .rope = RopeType::kNorm, .requires_experts = true,
     .forward = ForwardKind::kLatentAttention, .partial_rope = true,
     .read_keys = read_deepseek2_keys, .ungated_shared_expert = true, .latent_attention = true,
     .load_layer = load_deepseek2_layer, .yarn = true},
    // src/models/openai-moe.cpp: NEOX rope with YaRN, biased q/k/v/o,
    // attention sinks, sliding window on even blocks, top-k of the raw
    // router logits weighted by their softmax, clamped SwiGLU.
    {.name = "gpt-oss", .rope = RopeType::kNeox, .qkv_bias = true, .requires_experts = true,
     .forward = ForwardKind::kGptOss, .ffn_norm_name = "post_attention_norm",
     .read_keys = read_gptoss_keys, .oai_moe = true, .yarn = true},
    // src/models/gemma4.cpp: NEOX RoPE, q/k norms, softmax router with
    // renormalised top-k; keys and tensors in config_gemma4.cpp.
    {.name = "gemma4", .rope = RopeType::kNeox, .qk_norm = true, .norm_topk_weights = true,
     .forward = ForwardKind::kGemma4, .read_keys = read_gemma4_keys,
     .load_globals = load_gemma4_globals, .load_layer = load_gemma4_layer},
};

}  // namespace

const ArchTraits* find_arch_traits(std::string_view name) {
  for (const ArchTraits& a : kArchs) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string_view supported_arch_list() {
  return "qwen2moe, qwen3moe, llama, qwen35moe, nemotron_h_moe, glm4moe, minimax-m2, olmoe, deepseek2, gpt-oss, "
         "gemma4";
}

namespace {

// The ssm.* keys, rope sections and the recurrent-layer pattern of a Gated
// DeltaNet hybrid, as llama.cpp's qwen35moe loader reads them.
Status read_delta_net_keys(const gguf::File& f, const std::string& arch, ModelConfig& c) {
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  auto need = [&](const char* suffix, int64_t& out) -> Status {
    if (!f.get_int(key(suffix), out) || out <= 0) {
      return make_error("{}: missing or bad integer key {}", f.path(), key(suffix));
    }
    return {};
  };
  if (Status s = need("ssm.conv_kernel", c.ssm_d_conv); !s) return s;
  if (Status s = need("ssm.state_size", c.ssm_d_state); !s) return s;
  if (Status s = need("ssm.group_count", c.ssm_n_group); !s) return s;
  if (Status s = need("ssm.time_step_rank", c.ssm_dt_rank); !s) return s;
  int64_t inner = 0;
  if (Status s = need("ssm.inner_size", inner); !s) return s;
  if (inner != c.ssm_value_dim() || c.ssm_dt_rank % c.ssm_n_group != 0) {
    return make_error("{}: ssm.inner_size {} must be state_size {} x time_step_rank {}, a multiple "
                      "of group_count {}",
                      f.path(), inner, c.ssm_d_state, c.ssm_dt_rank, c.ssm_n_group);
  }
  c.recurrent.assign(static_cast<size_t>(c.n_layer), 0);
  if (const gguf::KeyValue* kv = f.find(key("attention.recurrent_layers"))) {
    const auto* arr = kv->value.get_if<gguf::Array>();
    // One flag per block, multi-token-prediction blocks included.
    if (arr == nullptr || arr->elems.size() < c.recurrent.size()) {
      return make_error("{}: {} must be an array of at least {} flags", f.path(),
                        key("attention.recurrent_layers"), c.n_layer);
    }
    for (size_t i = 0; i < c.recurrent.size(); ++i) {
      const bool* b = arr->elems[i].get_if<bool>();
      if (b == nullptr) {
        return make_error("{}: {} element {} is not a bool", f.path(),
                          key("attention.recurrent_layers"), i);
      }
      c.recurrent[i] = *b ? 1 : 0;
    }
  } else {
    int64_t interval = 4;  // llama.cpp's default
    if (f.get_int(key("full_attention_interval"), interval) && interval <= 0) {
      return make_error("{}: {} must be positive", f.path(), key("full_attention_interval"));
    }
    for (int il = 0; il < c.n_layer; ++il) c.recurrent[static_cast<size_t>(il)] = (il + 1) % interval != 0;
  }
  if (const gguf::KeyValue* kv = f.find(key("rope.dimension_sections"))) {
    const auto* arr = kv->value.get_if<gguf::Array>();
    if (arr == nullptr || arr->elems.size() > 4) {
      return make_error("{}: {} must be an array of at most 4 integers", f.path(),
                        key("rope.dimension_sections"));
    }
    for (size_t i = 0; i < arr->elems.size(); ++i) {
      int64_t v = 0;
      if (!arr->elems[i].as_int(v) || v < 0) {
        return make_error("{}: {} element {} is not a count", f.path(),
                          key("rope.dimension_sections"), i);
      }
      c.rope_sections[i] = static_cast<int>(v);
    }
  } else if (c.arch->rope == RopeType::kImrope) {
    return make_error("{}: missing key {}", f.path(), key("rope.dimension_sections"));
  }
  if (c.arch->rope == RopeType::kImrope &&
      c.rope_sections[0] + c.rope_sections[1] + c.rope_sections[2] + c.rope_sections[3] <= 0) {
    return make_error("{}: {} are all zero", f.path(), key("rope.dimension_sections"));
  }
  return {};
}

// llama_context's get_mscale: YaRN's attention magnitude for a context
// `scale` times the original.
float yarn_mscale(float scale, float mscale) {
  return scale <= 1.0f ? 1.0f : 0.1f * mscale * std::log(scale) + 1.0f;
}

// rope.scaling.* as llama.cpp turns them into the context's RoPE parameters
// (llama_model::load_hparams, then llama_context's set-up), with no user
// overrides: the type ("none" never scales), the factor, and for YaRN the
// original context and the attention factor.
Status read_rope_scaling(const gguf::File& f, const std::string& arch, ModelConfig& c) {
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  std::string scaling = "linear";
  if (f.get_string(key("rope.scaling.type"), scaling) && scaling != "none" &&
      scaling != "linear" && !(scaling == "yarn" && c.arch->yarn)) {
    return make_error("{}: rope scaling '{}' is not supported", f.path(), scaling);
  }
  double d = 0;
  if (f.get_float(key("rope.scaling.factor"), d) && d > 0) {
    c.rope_freq_scale = static_cast<float>(1.0 / d);
  }
  if (scaling == "none") c.rope_freq_scale = 1.0f;
  int64_t v = 0;
  c.yarn.n_ctx_orig = c.n_ctx_train;
  if (f.get_int(key("rope.scaling.original_context_length"), v)) {
    if (v <= 0) {
      return make_error("{}: {} must be positive", f.path(), key("rope.scaling.original_context_length"));
    }
    c.yarn.n_ctx_orig = v;
  }
  float attn = 1.0f;
  if (scaling == "yarn") {
    c.yarn.ext_factor = 1.0f;
    const float factor = 1.0f / c.rope_freq_scale;
    if (c.yarn.log_mul != 0.0f) {
      // llama_context takes mscale = mscale_all_dim for deepseek2 (the only
      // reader of yarn_log_multiplier here) when the latter is not 1.
      const float all_dims = c.yarn.log_mul;
      const float mscale = all_dims != 1.0f ? all_dims : 1.0f;
      attn = yarn_mscale(factor, mscale) / yarn_mscale(factor, all_dims);
    } else {
      attn = yarn_mscale(factor, 1.0f);
    }
    // ggml's rope multiplies by 1 + 0.1 ln(factor) again; cancelled here.
    attn *= 1.0f / (1.0f + 0.1f * std::log(factor));
  }
  if (f.get_float(key("rope.scaling.attn_factor"), d)) attn *= static_cast<float>(d);
  c.yarn.attn_factor = attn;
  return {};
}

}  // namespace

Result<ModelConfig> read_config(const gguf::File& f) {
  ModelConfig c;
  std::string arch;
  if (!f.get_string("general.architecture", arch)) {
    return make_error("{}: no general.architecture key", f.path());
  }
  c.arch = find_arch_traits(arch);
  if (c.arch == nullptr) {
    return make_error("{}: architecture '{}' is not supported by the engine (supported: {})",
                      f.path(), arch, supported_arch_list());
  }
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  auto need_int = [&](const char* suffix, int64_t& out) -> Status {
    if (!f.get_int(key(suffix), out) || out < 0) {
      return make_error("{}: missing or bad integer key {}", f.path(), key(suffix));
    }
    return {};
  };
  int64_t v = 0;
  if (Status s = need_int("block_count", v); !s) return s.error();
  c.n_layer = static_cast<int>(v);
  // Converters append multi-token-prediction blocks after the trunk and
  // count them in block_count (Qwen3.5's converter does by default); llama.cpp
  // loads them but its main graph runs only the first block_count - nextn.
  int64_t nextn = 0;
  if (f.get_int(key("nextn_predict_layers"), nextn) && nextn > 0) {
    if (nextn >= c.n_layer) {
      return make_error("{}: {} {} leaves no trunk blocks of {}", f.path(),
                        key("nextn_predict_layers"), nextn, c.n_layer);
    }
    c.n_layer -= static_cast<int>(nextn);
  }
  if (Status s = need_int("embedding_length", c.n_embd); !s) return s.error();
  if (Status s = need_int("attention.head_count", v); !s) return s.error();
  c.n_head = static_cast<int>(v);
  c.n_head_kv = c.n_head;
  if (f.get_int(key("attention.head_count_kv"), v)) c.n_head_kv = static_cast<int>(v);
  if (c.n_head <= 0 || c.n_head_kv <= 0 || c.n_head % c.n_head_kv != 0) {
    return make_error("{}: head counts {} / {} (kv) are not usable", f.path(), c.n_head,
                      c.n_head_kv);
  }
  c.head_dim = c.n_embd / c.n_head;
  if (f.get_int(key("attention.key_length"), v)) c.head_dim = v;
  int64_t v_len = c.head_dim;
  if (f.get_int(key("attention.value_length"), v_len) && v_len != c.head_dim &&
      c.arch->latent_attention) {
    c.head_dim_v = v_len;
  } else if (v_len != c.head_dim) {
    return make_error("{}: key_length {} != value_length {} is not supported", f.path(),
                      c.head_dim, v_len);
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) {
    return make_error("{}: head dimension {} must be positive and even", f.path(), c.head_dim);
  }
  c.n_rot = c.head_dim;
  if (f.get_int(key("rope.dimension_count"), v) && v != c.head_dim) {
    if (!c.arch->partial_rope) {
      return make_error("{}: partial RoPE ({} of {} dims) is not supported for {}", f.path(), v,
                        c.head_dim, arch);
    }
    if (v <= 0 || v % 2 != 0 || v > c.head_dim) {
      return make_error("{}: rope.dimension_count {} must be even and at most {}", f.path(), v,
                        c.head_dim);
    }
    c.n_rot = v;
  }
  c.n_ctx_train = 4096;
  if (f.get_int(key("context_length"), v)) c.n_ctx_train = v;
  double d = 0;
  // nemotron_h's loader falls back to the LayerNorm epsilon (its converter
  // may write only that one).
  if (!f.get_float(key("attention.layer_norm_rms_epsilon"), d) &&
      !(c.arch->forward == ForwardKind::kMamba2Hybrid &&
        f.get_float(key("attention.layer_norm_epsilon"), d))) {
    return make_error("{}: missing key {}", f.path(), key("attention.layer_norm_rms_epsilon"));
  }
  c.rms_eps = static_cast<float>(d);
  if (f.get_float(key("rope.freq_base"), d)) c.rope_freq_base = static_cast<float>(d);
  if (f.get_int(key("expert_count"), v)) c.n_expert = static_cast<int>(v);
  if (f.get_int(key("expert_used_count"), v)) c.n_expert_used = static_cast<int>(v);
  if (f.get_float(key("expert_weights_scale"), d)) c.expert_weights_scale = static_cast<float>(d);
  if (c.arch->requires_experts && c.n_expert == 0) {
    return make_error("{}: {} needs {}", f.path(), arch, key("expert_count"));
  }
  if (c.n_expert > 0 && (c.n_expert_used <= 0 || c.n_expert_used > c.n_expert)) {
    return make_error("{}: expert_used_count {} must be in 1..{}", f.path(), c.n_expert_used,
                      c.n_expert);
  }
  c.expert_weights_norm = c.arch->norm_topk_weights;
  if (c.arch->read_keys != nullptr) {
    if (Status s = c.arch->read_keys(f, arch, c); !s) return s.error();
  }
  // After read_keys: deepseek2's reader sets yarn.log_mul, which YaRN's
  // attention factor depends on.
  if (Status s = read_rope_scaling(f, arch, c); !s) return s.error();
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->ne.size() < 2) {
    return make_error("{}: missing tensor token_embd.weight", f.path());
  }
  c.n_vocab = embd->ne[1];
  if (f.get_int("tokenizer.ggml.bos_token_id", v)) c.bos_id = static_cast<int32_t>(v);
  if (const gguf::KeyValue* kv = f.find("tokenizer.ggml.add_bos_token")) {
    if (const bool* b = kv->value.get_if<bool>()) c.add_bos = *b;
  }
  return c;
}

}  // namespace apex::engine
