#include "engine/config.h"

#include <cmath>

namespace apex::engine {
namespace {

constexpr ArchTraits kArchs[] = {
    // name       rope              bias   qknorm experts shexp  norm_topk
    {"qwen2moe", RopeType::kNeox, true, false, true, true, false},
    {"qwen3moe", RopeType::kNeox, false, true, true, false, true},
    {"llama", RopeType::kNorm, false, false, false, false, true},
};

}  // namespace

const ArchTraits* find_arch_traits(std::string_view name) {
  for (const ArchTraits& a : kArchs) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string_view supported_arch_list() { return "qwen2moe, qwen3moe, llama"; }

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
  if (f.get_int(key("attention.value_length"), v_len) && v_len != c.head_dim) {
    return make_error("{}: key_length {} != value_length {} is not supported", f.path(),
                      c.head_dim, v_len);
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) {
    return make_error("{}: head dimension {} must be positive and even", f.path(), c.head_dim);
  }
  if (f.get_int(key("rope.dimension_count"), v) && v != c.head_dim) {
    return make_error("{}: partial RoPE ({} of {} dims) is not supported", f.path(), v,
                      c.head_dim);
  }
  c.n_ctx_train = 4096;
  if (f.get_int(key("context_length"), v)) c.n_ctx_train = v;
  double d = 0;
  if (!f.get_float(key("attention.layer_norm_rms_epsilon"), d)) {
    return make_error("{}: missing key {}", f.path(), key("attention.layer_norm_rms_epsilon"));
  }
  c.rms_eps = static_cast<float>(d);
  if (f.get_float(key("rope.freq_base"), d)) c.rope_freq_base = static_cast<float>(d);
  std::string scaling;
  if (f.get_string(key("rope.scaling.type"), scaling) && scaling != "none" &&
      scaling != "linear") {
    return make_error("{}: rope scaling '{}' is not supported", f.path(), scaling);
  }
  if (f.get_float(key("rope.scaling.factor"), d) && d > 0) {
    c.rope_freq_scale = static_cast<float>(1.0 / d);
  }
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
