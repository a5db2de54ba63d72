#include "convert/hf_config.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <initializer_list>

namespace apex::convert {
namespace {

using json = nlohmann::json;

// The converter takes the first key of each list that config.json has
// (TextModel.find_hparam); a JSON null counts as absent.
const json* find_key(const json& c, std::initializer_list<const char*> keys, std::string* found = nullptr) {
  for (const char* k : keys) {
    auto it = c.find(k);
    if (it != c.end() && !it->is_null()) {
      if (found) *found = k;
      return &*it;
    }
  }
  return nullptr;
}

struct Reader {
  const std::string& path;
  const json& c;

  Result<std::optional<int64_t>> opt_int(std::initializer_list<const char*> keys, int64_t min_value) const {
    std::string key;
    const json* v = find_key(c, keys, &key);
    if (v == nullptr) return std::optional<int64_t>{};
    if (!v->is_number_integer()) return make_error("{}: '{}' must be an integer (got {})", path, key, v->dump());
    const int64_t x = v->get<int64_t>();
    if (x < min_value || x > (int64_t{1} << 31)) {
      return make_error("{}: '{}' = {} out of range {}..{}", path, key, x, min_value, int64_t{1} << 31);
    }
    return std::optional<int64_t>{x};
  }
  Result<int64_t> req_int(std::initializer_list<const char*> keys, int64_t min_value) const {
    APEX_ASSIGN_OR_RETURN(auto v, opt_int(keys, min_value));
    if (!v) return make_error("{}: missing '{}'", path, *keys.begin());
    return *v;
  }
  Result<std::optional<double>> opt_float(const json& obj, std::initializer_list<const char*> keys) const {
    std::string key;
    const json* v = find_key(obj, keys, &key);
    if (v == nullptr) return std::optional<double>{};
    if (!v->is_number()) return make_error("{}: '{}' must be a number (got {})", path, key, v->dump());
    const double x = v->get<double>();
    if (!std::isfinite(x) || x <= 0) return make_error("{}: '{}' = {} must be a positive number", path, key, x);
    return std::optional<double>{x};
  }
};

Result<json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("{}: cannot open (a Hugging Face checkpoint needs config.json)", path);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error("{}: not a JSON object", path);
  return j;
}

std::string supported_hf_list() {
  std::string s;
  for (const char* arch : {"qwen2moe", "qwen3moe", "qwen35moe"}) {
    const ArchNames* a = find_arch_names(arch);
    s += fmt::format("{}{} ({})", s.empty() ? "" : ", ", a->hf_architecture, a->arch);
    if (!a->hf_architecture_alt.empty()) s += fmt::format(", {} ({})", a->hf_architecture_alt, a->arch);
  }
  return s;
}

// A float as JSON the way Python prints it: the shortest text that reads back
// as the same float, so 1e-6f appears as 1e-06 rather than 9.99999997e-07.
json float_json(float f) { return json::parse(fmt::format("{}", f)); }

// Qwen3.5's Gated DeltaNet fields, checked against each other the way
// llama.cpp's loader and transformers' config use them.
Status read_linear_attention(const Reader& r, const json& c, const json& rope, HfHparams& h) {
  const std::string& path = r.path;
  HfHparams::Linear l;
  APEX_ASSIGN_OR_RETURN(l.conv_kernel, r.req_int({"linear_conv_kernel_dim"}, 1));
  APEX_ASSIGN_OR_RETURN(l.k_dim, r.req_int({"linear_key_head_dim"}, 1));
  APEX_ASSIGN_OR_RETURN(l.v_dim, r.req_int({"linear_value_head_dim"}, 1));
  APEX_ASSIGN_OR_RETURN(l.k_heads, r.req_int({"linear_num_key_heads"}, 1));
  APEX_ASSIGN_OR_RETURN(l.v_heads, r.req_int({"linear_num_value_heads"}, 1));
  APEX_ASSIGN_OR_RETURN(auto interval, r.opt_int({"full_attention_interval"}, 1));
  if (interval) l.interval = *interval;
  APEX_ASSIGN_OR_RETURN(auto n_mtp, r.opt_int({"mtp_num_hidden_layers"}, 0));
  if (n_mtp) l.n_mtp = *n_mtp;
  if (l.v_heads % l.k_heads != 0) {
    return make_error("{}: 'linear_num_value_heads' = {} is not a multiple of 'linear_num_key_heads' = {}", path,
                      l.v_heads, l.k_heads);
  }
  // llama.cpp keeps one ssm.state_size for key and value heads.
  if (l.v_dim != l.k_dim) {
    return make_error("{}: 'linear_value_head_dim' = {} differs from 'linear_key_head_dim' = {} (qwen35moe has one "
                      "head width)",
                      path, l.v_dim, l.k_dim);
  }
  if (l.n_mtp > 1) return make_error("{}: 'mtp_num_hidden_layers' = {}: llama.cpp runs one MTP block", path, l.n_mtp);
  if (const json* types = find_key(c, {"layer_types"})) {
    if (!types->is_array() || static_cast<int64_t>(types->size()) != h.n_layer) {
      return make_error("{}: 'layer_types' must list {} entries (num_hidden_layers)", path, h.n_layer);
    }
    for (int64_t il = 0; il < h.n_layer; ++il) {
      const json& t = (*types)[static_cast<size_t>(il)];
      const char* want = l.recurrent(il, h.n_layer) ? "linear_attention" : "full_attention";
      if (!t.is_string() || t.get<std::string>() != want) {
        return make_error("{}: 'layer_types'[{}] = {}, but full_attention_interval {} makes block {} {}", path, il,
                          t.dump(), l.interval, il, want);
      }
    }
    l.layer_types = true;
  }
  // Rotated dimensions: head_dim * partial_rotary_factor (default 0.25),
  // truncated as the converter's int() does.
  const json* prf = find_key(rope, {"partial_rotary_factor"});
  if (prf == nullptr) prf = find_key(c, {"partial_rotary_factor", "rope_pct", "rope_percent"});
  double factor = 0.25;
  if (prf != nullptr) {
    if (!prf->is_number() || prf->get<double>() <= 0 || prf->get<double>() > 1) {
      return make_error("{}: 'partial_rotary_factor' = {} must be in (0, 1]", path, prf->dump());
    }
    factor = prf->get<double>();
  }
  const int64_t hd = h.head_dim ? *h.head_dim : h.n_embd / h.n_head;
  l.rope_dim = static_cast<int64_t>(static_cast<double>(hd) * factor);
  if (const json* ms = find_key(rope, {"mrope_section"})) {
    if (!ms->is_array() || ms->empty()) return make_error("{}: 'mrope_section' must be a list of integers", path);
    for (const json& v : *ms) {
      if (!v.is_number_integer()) return make_error("{}: 'mrope_section' must be a list of integers", path);
      l.sections.push_back(v.get<int32_t>());
    }
    l.sections_given = true;
  } else {
    l.sections = {11, 11, 10};
  }
  l.sections.resize(std::max<size_t>(l.sections.size(), 4), 0);
  l.sections.resize(4);
  h.linear = l;
  return Status::Ok();
}

// Qwen3_5MoeTextConfig's fields from the qwen35moe keys: the Gated DeltaNet
// sizes, the MTP block count (block_count includes it, num_hidden_layers
// does not) and rope_parameters with the partial, multi-section RoPE.
// layer_types is left out: transformers derives it from
// full_attention_interval, and the converter then writes no recurrent_layers.
Status add_linear_attention_config(const gguf::File& f, const std::string& a, int64_t default_head_dim, json& c) {
  auto req = [&](const char* suffix) -> Result<int64_t> {
    int64_t v = 0;
    if (!f.get_int(a + "." + suffix, v)) return make_error("{}: missing {}.{}", f.path(), a, suffix);
    return v;
  };
  APEX_ASSIGN_OR_RETURN(int64_t conv, req("ssm.conv_kernel"));
  APEX_ASSIGN_OR_RETURN(int64_t state, req("ssm.state_size"));
  APEX_ASSIGN_OR_RETURN(int64_t groups, req("ssm.group_count"));
  APEX_ASSIGN_OR_RETURN(int64_t heads, req("ssm.time_step_rank"));
  APEX_ASSIGN_OR_RETURN(int64_t inner, req("ssm.inner_size"));
  APEX_ASSIGN_OR_RETURN(int64_t interval, req("full_attention_interval"));
  APEX_ASSIGN_OR_RETURN(int64_t rope_dim, req("rope.dimension_count"));
  APEX_ASSIGN_OR_RETURN(int64_t n_layer, req("block_count"));
  int64_t n_mtp = 0;
  f.get_int(a + ".nextn_predict_layers", n_mtp);
  if (heads <= 0 || inner != heads * state || groups <= 0 || heads % groups != 0) {
    return make_error("{}: {}.ssm.inner_size {} is not ssm.time_step_rank {} x ssm.state_size {} (or the value heads "
                      "are not a multiple of ssm.group_count {})",
                      f.path(), a, inner, heads, state, groups);
  }
  int64_t hd = default_head_dim;
  f.get_int(a + ".attention.key_length", hd);
  c["num_hidden_layers"] = n_layer - n_mtp;
  c["linear_conv_kernel_dim"] = conv;
  c["linear_key_head_dim"] = state;
  c["linear_value_head_dim"] = inner / heads;
  c["linear_num_key_heads"] = groups;
  c["linear_num_value_heads"] = heads;
  c["full_attention_interval"] = interval;
  if (n_mtp > 0) c["mtp_num_hidden_layers"] = n_mtp;
  // The smallest factor whose product with head_dim truncates to rope_dim.
  double factor = static_cast<double>(rope_dim) / static_cast<double>(hd);
  while (static_cast<int64_t>(static_cast<double>(hd) * factor) < rope_dim) factor = std::nextafter(factor, 2.0);
  json rope = json::object();
  rope["rope_type"] = "default";
  double theta = 0;
  if (f.get_float(a + ".rope.freq_base", theta)) rope["rope_theta"] = float_json(static_cast<float>(theta));
  rope["partial_rotary_factor"] = factor;
  rope["mrope_interleaved"] = true;
  const gguf::KeyValue* kv = f.find(a + ".rope.dimension_sections");
  if (kv != nullptr) {
    const auto* arr = std::get_if<gguf::Array>(&kv->value.data);
    if (arr == nullptr) return make_error("{}: {}.rope.dimension_sections is not an array", f.path(), a);
    json sec = json::array();
    for (const gguf::Value& v : arr->elems) {
      int64_t x = 0;
      if (!v.as_int(x)) return make_error("{}: {}.rope.dimension_sections holds a non-integer", f.path(), a);
      sec.push_back(x);
    }
    // transformers lists three sections; the converter pads to four.
    while (sec.size() > 3 && sec.back() == 0) sec.erase(sec.size() - 1);
    rope["mrope_section"] = sec;
  }
  c["rope_parameters"] = rope;
  return Status::Ok();
}

}  // namespace

Result<HfHparams> read_hf_config(const std::string& path) {
  APEX_ASSIGN_OR_RETURN(json c, read_json_file(path));
  // Multimodal wrappers keep the language model's fields in text_config; the
  // converter lifts them to the top level.
  if (c.contains("text_config") && c["text_config"].is_object()) {
    for (auto& [k, v] : c["text_config"].items()) c[k] = v;
  }
  HfHparams h;
  const json* archs = find_key(c, {"architectures"});
  if (archs == nullptr || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    return make_error("{}: no 'architectures' entry (supported: {})", path, supported_hf_list());
  }
  const std::string hf_arch = (*archs)[0].get<std::string>();
  h.names = find_arch_names_by_hf(hf_arch);
  if (h.names == nullptr) {
    return make_error("{}: architecture '{}' is not supported (supported: {})", path, hf_arch, supported_hf_list());
  }
  const Reader r{path, c};
  APEX_ASSIGN_OR_RETURN(h.n_layer, r.req_int({"n_layers", "num_hidden_layers", "n_layer", "num_layers"}, 1));
  APEX_ASSIGN_OR_RETURN(h.n_ctx, r.opt_int({"max_position_embeddings", "n_ctx", "n_positions", "max_length",
                                            "max_sequence_length", "model_max_length"},
                                           1));
  APEX_ASSIGN_OR_RETURN(h.n_embd, r.req_int({"hidden_size", "n_embd", "dim"}, 1));
  APEX_ASSIGN_OR_RETURN(h.n_ff, r.opt_int({"prefix_dense_intermediate_size", "dense_intermediate_size",
                                           "intermediate_size", "n_inner", "hidden_dim"},
                                          1));
  APEX_ASSIGN_OR_RETURN(h.n_head, r.req_int({"num_attention_heads", "n_head", "n_heads"}, 1));
  APEX_ASSIGN_OR_RETURN(h.n_head_kv, r.opt_int({"num_key_value_heads", "n_kv_heads"}, 1));
  APEX_ASSIGN_OR_RETURN(h.head_dim, r.opt_int({"head_dim"}, 1));
  APEX_ASSIGN_OR_RETURN(h.n_expert, r.req_int({"num_local_experts", "num_experts", "n_routed_experts"}, 1));
  APEX_ASSIGN_OR_RETURN(h.n_expert_used,
                        r.req_int({"num_experts_per_tok", "num_experts_per_token", "top_k_experts"}, 1));
  APEX_ASSIGN_OR_RETURN(h.n_ff_exp, r.opt_int({"moe_intermediate_size"}, 1));
  APEX_ASSIGN_OR_RETURN(h.n_ff_shexp, r.opt_int({"shared_expert_intermediate_size"}, 1));
  APEX_ASSIGN_OR_RETURN(h.n_vocab, r.opt_int({"vocab_size"}, 1));
  if (h.n_expert_used > h.n_expert) {
    return make_error("{}: 'num_experts_per_tok' = {} exceeds 'num_experts' = {}", path, h.n_expert_used, h.n_expert);
  }
  if (h.n_head_kv && h.n_head % *h.n_head_kv != 0) {
    return make_error("{}: 'num_attention_heads' = {} is not a multiple of 'num_key_value_heads' = {}", path,
                      h.n_head, *h.n_head_kv);
  }
  if (!h.head_dim && h.n_embd % h.n_head != 0) {
    return make_error("{}: 'hidden_size' = {} is not a multiple of 'num_attention_heads' = {} and no 'head_dim'",
                      path, h.n_embd, h.n_head);
  }
  // Every block must be a MoE block: the GGUF architectures have no dense
  // FFN blocks in between.
  if (const json* step = find_key(c, {"decoder_sparse_step"}); step && !(step->is_number_integer() && *step == 1)) {
    return make_error("{}: 'decoder_sparse_step' = {} is not supported (only 1: every block MoE)", path, step->dump());
  }
  if (const json* dense = find_key(c, {"mlp_only_layers"}); dense && !(dense->is_array() && dense->empty())) {
    return make_error("{}: 'mlp_only_layers' = {} is not supported (dense blocks)", path, dense->dump());
  }
  if (const json* tie = find_key(c, {"tie_word_embeddings"})) {
    if (!tie->is_boolean()) return make_error("{}: 'tie_word_embeddings' must be true or false", path);
    h.tie_word_embeddings = tie->get<bool>();
  }
  if (const json* n = find_key(c, {"_name_or_path"}); n && n->is_string()) h.name_or_path = n->get<std::string>();

  // RoPE: rope_parameters (newer transformers) or rope_scaling, with the
  // top-level rope_theta mirrored into it as the converter does.
  json rope = json::object();
  if (const json* rp = find_key(c, {"rope_parameters", "rope_scaling"}); rp && rp->is_object()) rope = *rp;
  if (rope.contains("full_attention") && rope["full_attention"].is_object()) rope = rope["full_attention"];
  APEX_ASSIGN_OR_RETURN(h.rope_theta, r.opt_float(rope, {"rope_theta"}));
  if (!h.rope_theta) {
    APEX_ASSIGN_OR_RETURN(h.rope_theta, r.opt_float(c, {"global_rope_theta", "rope_global_theta",
                                                       "rope_theta_global", "rope_theta", "rotary_emb_base"}));
  }
  APEX_ASSIGN_OR_RETURN(h.rms_eps, r.opt_float(c, {"rms_norm_eps", "norm_eps"}));
  const json* rope_type = find_key(rope, {"rope_type", "type"});
  if (rope_type && rope_type->is_string()) {
    const std::string t = rope_type->get<std::string>();
    APEX_ASSIGN_OR_RETURN(h.rope_scaling_factor, r.opt_float(rope, {"factor"}));
    if ((t == "linear" || t == "yarn") && h.rope_scaling_factor) {
      h.rope_scaling_type = t;
      if (t == "yarn") {
        const json* orig = find_key(rope, {"original_max_position_embeddings"});
        if (orig == nullptr || !orig->is_number_integer()) {
          return make_error("{}: yarn rope scaling needs 'original_max_position_embeddings'", path);
        }
        h.rope_scaling_orig_ctx = orig->get<int64_t>();
      }
    }
  }
  if (h.names->arch == "qwen35moe") APEX_RETURN_IF_ERROR(read_linear_attention(r, c, rope, h));
  return h;
}

void add_gguf_hparams(const HfHparams& h, uint32_t file_type, gguf::Layout& l) {
  const std::string a(h.names->arch);
  auto u32 = [](int64_t v) { return gguf::Value(static_cast<uint32_t>(v)); };
  auto f32 = [](double v) { return gguf::Value(static_cast<float>(v)); };
  auto key = [&](const char* suffix) { return a + "." + suffix; };
  l.set(key("block_count"), u32(h.n_layer + (h.linear ? h.linear->n_mtp : 0)));
  if (h.n_ctx) l.set(key("context_length"), u32(*h.n_ctx));
  l.set(key("embedding_length"), u32(h.n_embd));
  if (h.n_ff) l.set(key("feed_forward_length"), u32(*h.n_ff));
  l.set(key("attention.head_count"), u32(h.n_head));
  if (h.n_head_kv) l.set(key("attention.head_count_kv"), u32(*h.n_head_kv));
  if (!h.rope_scaling_type.empty()) {
    l.set(key("rope.scaling.type"), gguf::Value(h.rope_scaling_type));
    l.set(key("rope.scaling.factor"), f32(*h.rope_scaling_factor));
    if (h.rope_scaling_orig_ctx) l.set(key("rope.scaling.original_context_length"), u32(*h.rope_scaling_orig_ctx));
  }
  auto sections = [&] {
    gguf::Array a{gguf::ValueType::INT32, {}};
    for (int32_t v : h.linear->sections) a.elems.emplace_back(v);
    l.set(key("rope.dimension_sections"), gguf::Value(std::move(a)));
  };
  if (h.linear && h.linear->sections_given) sections();
  if (h.rope_theta) l.set(key("rope.freq_base"), f32(*h.rope_theta));
  if (h.rms_eps) l.set(key("attention.layer_norm_rms_epsilon"), f32(*h.rms_eps));
  l.set(key("expert_count"), u32(h.n_expert));
  l.set(key("expert_used_count"), u32(h.n_expert_used));
  if (h.head_dim) {
    l.set(key("attention.key_length"), u32(*h.head_dim));
    l.set(key("attention.value_length"), u32(*h.head_dim));
  }
  l.set("general.file_type", gguf::Value(file_type));
  // Qwen2MoeModel.set_gguf_parameters (Qwen3-MoE inherits it).
  if (h.n_ff_exp) l.set(key("expert_feed_forward_length"), u32(*h.n_ff_exp));
  if (h.n_ff_shexp) l.set(key("expert_shared_feed_forward_length"), u32(*h.n_ff_shexp));
  if (!h.linear) return;
  // Qwen3NextModel / Qwen3_5MoeTextModel.set_gguf_parameters, in order.
  const HfHparams::Linear& x = *h.linear;
  if (x.n_mtp > 0) l.set(key("nextn_predict_layers"), u32(x.n_mtp));
  l.set(key("ssm.conv_kernel"), u32(x.conv_kernel));
  l.set(key("ssm.state_size"), u32(x.k_dim));
  l.set(key("ssm.group_count"), u32(x.k_heads));
  l.set(key("ssm.time_step_rank"), u32(x.v_heads));
  l.set(key("ssm.inner_size"), u32(x.v_dim * x.v_heads));
  if (x.layer_types) {
    gguf::Array a{gguf::ValueType::BOOL, {}};
    for (int64_t il = 0; il < h.n_layer + x.n_mtp; ++il) a.elems.emplace_back(x.recurrent(il, h.n_layer));
    l.set(key("attention.recurrent_layers"), gguf::Value(std::move(a)));
  }
  l.set(key("full_attention_interval"), u32(x.interval));
  l.set(key("rope.dimension_count"), u32(x.rope_dim));
  if (!x.sections_given) sections();
}

Result<json> hf_config_from_gguf(const gguf::File& f, const ArchNames& names, const std::string& torch_dtype) {
  const std::string a(names.arch);
  auto get_int = [&](const std::string& suffix, bool required) -> Result<std::optional<int64_t>> {
    int64_t v = 0;
    if (f.get_int(a + "." + suffix, v)) return std::optional<int64_t>{v};
    if (required) return make_error("{}: missing {}.{}", f.path(), a, suffix);
    return std::optional<int64_t>{};
  };
  auto get_float = [&](const std::string& suffix) -> std::optional<float> {
    double v = 0;
    if (f.get_float(a + "." + suffix, v)) return static_cast<float>(v);
    return std::nullopt;
  };
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->ne.size() != 2) return make_error("{}: no 2-D tensor token_embd.weight", f.path());

  APEX_ASSIGN_OR_RETURN(auto n_layer, get_int("block_count", true));
  APEX_ASSIGN_OR_RETURN(auto n_embd, get_int("embedding_length", true));
  APEX_ASSIGN_OR_RETURN(auto n_head, get_int("attention.head_count", true));
  APEX_ASSIGN_OR_RETURN(auto n_head_kv, get_int("attention.head_count_kv", false));
  APEX_ASSIGN_OR_RETURN(auto n_ctx, get_int("context_length", false));
  APEX_ASSIGN_OR_RETURN(auto n_ff, get_int("feed_forward_length", false));
  APEX_ASSIGN_OR_RETURN(auto n_expert, get_int("expert_count", true));
  APEX_ASSIGN_OR_RETURN(auto n_expert_used, get_int("expert_used_count", true));
  APEX_ASSIGN_OR_RETURN(auto n_ff_exp, get_int("expert_feed_forward_length", false));
  APEX_ASSIGN_OR_RETURN(auto n_ff_shexp, get_int("expert_shared_feed_forward_length", false));
  APEX_ASSIGN_OR_RETURN(auto key_length, get_int("attention.key_length", false));

  json c = json::object();
  c["architectures"] = json::array({std::string(names.hf_architecture)});
  c["model_type"] = std::string(names.hf_model_type);
  c["hidden_act"] = "silu";
  c["hidden_size"] = *n_embd;
  if (n_ff) c["intermediate_size"] = *n_ff;
  if (n_ff_exp) c["moe_intermediate_size"] = *n_ff_exp;
  if (n_ff_shexp) c["shared_expert_intermediate_size"] = *n_ff_shexp;
  c["num_hidden_layers"] = *n_layer;
  c["num_attention_heads"] = *n_head;
  c["num_key_value_heads"] = n_head_kv ? *n_head_kv : *n_head;
  if (key_length) c["head_dim"] = *key_length;
  c["num_experts"] = *n_expert;
  c["num_experts_per_tok"] = *n_expert_used;
  if (n_ctx) c["max_position_embeddings"] = *n_ctx;
  if (auto eps = get_float("attention.layer_norm_rms_epsilon")) c["rms_norm_eps"] = float_json(*eps);
  if (names.arch == "qwen35moe") {
    APEX_RETURN_IF_ERROR(add_linear_attention_config(f, a, *n_embd / *n_head, c));
  } else {
    // Qwen3-MoE renormalises the selected experts' weights, Qwen2-MoE does
    // not (llama.cpp hard-codes the same per architecture).
    c["norm_topk_prob"] = names.arch == "qwen3moe";
    c["decoder_sparse_step"] = 1;
    c["mlp_only_layers"] = json::array();
    if (auto theta = get_float("rope.freq_base")) c["rope_theta"] = float_json(*theta);
  }
  c["vocab_size"] = embd->ne[1];
  c["tie_word_embeddings"] = f.find_tensor("output.weight") == nullptr;
  if (names.arch == "qwen3moe" || names.arch == "qwen35moe") c["attention_bias"] = false;
  int64_t id = 0;
  if (f.get_int("tokenizer.ggml.bos_token_id", id)) c["bos_token_id"] = id;
  if (f.get_int("tokenizer.ggml.eos_token_id", id)) c["eos_token_id"] = id;
  c["torch_dtype"] = torch_dtype;
  c["use_cache"] = true;
  return c;
}

}  // namespace apex::convert
