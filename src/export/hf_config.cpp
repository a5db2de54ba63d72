#include "export/hf_config.h"

#include <string>

namespace apex::xport {

namespace {

struct Reader {
  const gguf::File& f;
  std::string prefix;  // "<arch>."
  Result<int64_t> count(const char* key) const {
    int64_t v = 0;
    if (!f.get_int(prefix + key, v)) return make_error("{}: missing key {}{}", f.path(), prefix, key);
    if (v <= 0 || v > (int64_t{1} << 40)) {
      return make_error("{}: key {}{} = {} is out of range", f.path(), prefix, key, v);
    }
    return v;
  }
  std::optional<int64_t> opt_count(const char* key) const {
    int64_t v = 0;
    if (!f.get_int(prefix + key, v) || v <= 0) return std::nullopt;
    return v;
  }
  std::optional<double> opt_float(const char* key) const {
    double v = 0;
    if (!f.get_float(prefix + key, v)) return std::nullopt;
    return v;
  }
};

}  // namespace

Result<nlohmann::ordered_json> hf_config_from_gguf(const gguf::File& file, const ArchTensors& arch) {
  const Reader r{file, std::string(arch.arch) + "."};
  APEX_ASSIGN_OR_RETURN(const int64_t n_layer, r.count("block_count"));
  APEX_ASSIGN_OR_RETURN(const int64_t n_embd, r.count("embedding_length"));
  APEX_ASSIGN_OR_RETURN(const int64_t n_head, r.count("attention.head_count"));
  APEX_ASSIGN_OR_RETURN(const int64_t n_expert, r.count("expert_count"));
  APEX_ASSIGN_OR_RETURN(const int64_t n_expert_used, r.count("expert_used_count"));
  const int64_t n_head_kv = r.opt_count("attention.head_count_kv").value_or(n_head);
  const int64_t head_dim = r.opt_count("attention.key_length").value_or(n_embd / n_head);
  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->ne.size() != 2) {
    return make_error("{}: tensor token_embd.weight missing or not 2-D", file.path());
  }
  const int64_t n_vocab = embd->ne[1];
  // The expert FFN width: the key if written, else the expert stacks' shape.
  int64_t n_ff_exp = r.opt_count("expert_feed_forward_length").value_or(0);
  if (n_ff_exp == 0) {
    const gguf::TensorInfo* gate = file.find_tensor("blk.0.ffn_gate_exps.weight");
    if (gate == nullptr || gate->ne.size() < 2) {
      return make_error("{}: no {}expert_feed_forward_length and no blk.0.ffn_gate_exps.weight",
                        file.path(), r.prefix);
    }
    n_ff_exp = gate->ne[1];
  }

  nlohmann::ordered_json c;
  c["architectures"] = {std::string(arch.hf_architecture)};
  c["model_type"] = std::string(arch.hf_model_type);
  c["vocab_size"] = n_vocab;
  c["hidden_size"] = n_embd;
  c["intermediate_size"] = r.opt_count("feed_forward_length").value_or(n_ff_exp);
  c["num_hidden_layers"] = n_layer;
  c["num_attention_heads"] = n_head;
  c["num_key_value_heads"] = n_head_kv;
  if (arch.arch == "qwen3moe") c["head_dim"] = head_dim;
  c["hidden_act"] = "silu";
  c["max_position_embeddings"] = r.opt_count("context_length").value_or(32768);
  c["rms_norm_eps"] = r.opt_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  c["rope_theta"] = r.opt_float("rope.freq_base").value_or(10000.0);
  c["rope_scaling"] = nullptr;
  c["attention_bias"] = arch.arch == "qwen2moe";
  c["attention_dropout"] = 0.0;
  c["num_experts"] = n_expert;
  c["num_experts_per_tok"] = n_expert_used;
  c["moe_intermediate_size"] = n_ff_exp;
  if (arch.arch == "qwen2moe") {
    c["shared_expert_intermediate_size"] =
        r.opt_count("expert_shared_feed_forward_length").value_or(n_ff_exp);
  }
  // llama.cpp renormalises the top-k router weights for qwen3moe and not for
  // qwen2moe, as the two transformers configs default.
  c["norm_topk_prob"] = arch.arch == "qwen3moe";
  c["decoder_sparse_step"] = 1;
  c["mlp_only_layers"] = nlohmann::ordered_json::array();
  c["output_router_logits"] = false;
  c["router_aux_loss_coef"] = 0.001;
  c["use_sliding_window"] = false;
  c["sliding_window"] = nullptr;
  c["tie_word_embeddings"] = file.find_tensor("output.weight") == nullptr;
  int64_t id = 0;
  if (file.get_int("tokenizer.ggml.bos_token_id", id)) c["bos_token_id"] = id;
  if (file.get_int("tokenizer.ggml.eos_token_id", id)) c["eos_token_id"] = id;
  c["torch_dtype"] = "bfloat16";
  c["use_cache"] = true;
  c["initializer_range"] = 0.02;
  return c;
}

}  // namespace apex::xport
