// config.json of a Hugging Face MoE checkpoint <-> the GGUF hyper-parameter
// keys, both directions:
//  - read_hf_config: the fields llama.cpp's converter reads for qwen2moe /
//    qwen3moe (find_hparam's first-found key lists, narrowed to what these
//    families use), checked for presence and range with errors naming
//    config.json and the key;
//  - add_gguf_hparams: the keys the converter writes from them, in its order
//    and with its value types (u32 counts, f32 floats);
//  - hf_config_from_gguf: the config.json transformers needs to load a GGUF
//    model of these families as a checkpoint.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "convert/hf_names.h"
#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::convert {

struct HfHparams {
  const ArchNames* names = nullptr;
  int64_t n_layer = 0;
  std::optional<int64_t> n_ctx;          // max_position_embeddings
  int64_t n_embd = 0;                    // hidden_size
  std::optional<int64_t> n_ff;           // intermediate_size
  int64_t n_head = 0;                    // num_attention_heads
  std::optional<int64_t> n_head_kv;      // num_key_value_heads
  std::optional<int64_t> head_dim;       // head_dim (Qwen3)
  int64_t n_expert = 0;                  // num_experts
  int64_t n_expert_used = 0;             // num_experts_per_tok
  std::optional<int64_t> n_ff_exp;       // moe_intermediate_size
  std::optional<int64_t> n_ff_shexp;     // shared_expert_intermediate_size (Qwen2-MoE)
  std::optional<int64_t> n_vocab;        // vocab_size
  std::optional<double> rope_theta;
  std::optional<double> rms_eps;         // rms_norm_eps
  // rope scaling as the converter writes it ("linear" / "yarn"), if any.
  std::string rope_scaling_type;
  std::optional<double> rope_scaling_factor;
  std::optional<int64_t> rope_scaling_orig_ctx;
  bool tie_word_embeddings = false;
  std::optional<std::string> name_or_path;  // "_name_or_path"
  // Gated DeltaNet hybrids (Qwen3.5 MoE; Qwen3_5MoeTextConfig's fields).
  struct Linear {
    int64_t conv_kernel = 0;   // linear_conv_kernel_dim
    int64_t k_dim = 0;         // linear_key_head_dim (= linear_value_head_dim)
    int64_t k_heads = 0;       // linear_num_key_heads
    int64_t v_heads = 0;       // linear_num_value_heads
    int64_t v_dim = 0;         // linear_value_head_dim
    int64_t interval = 4;      // full_attention_interval
    bool layer_types = false;  // config.json lists layer_types (written as recurrent_layers)
    int64_t n_mtp = 0;         // mtp_num_hidden_layers
    int64_t rope_dim = 0;      // head_dim * partial_rotary_factor
    std::vector<int32_t> sections;  // rope mrope_section, padded to 4
    bool sections_given = false;    // else the converter's default [11, 11, 10, 0]
    // Block il < n_layer is linear attention (llama.cpp's and transformers' rule).
    bool recurrent(int64_t il, int64_t n_layer) const { return il < n_layer && (il + 1) % interval != 0; }
  };
  std::optional<Linear> linear;
};

// Reads and checks config.json (`path` names it in every error).
Result<HfHparams> read_hf_config(const std::string& path);

// The converter's hyper-parameter keys (block_count ... file_type, then the
// expert FFN widths), set on `layout` in that order.
void add_gguf_hparams(const HfHparams& h, uint32_t file_type, gguf::Layout& layout);

// config.json for a GGUF model of a family with a name table; torch_dtype
// is "bfloat16", "float16" or "float32". Errors name the GGUF file and key.
Result<nlohmann::json> hf_config_from_gguf(const gguf::File& file, const ArchNames& names,
                                           const std::string& torch_dtype);

}  // namespace apex::convert
