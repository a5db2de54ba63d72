// The weight registry: every tensor the forward pass needs, found by name in
// the mmapped GGUF file and checked for shape, as views into the mapping (no
// copies). Expert tensors are 3-D: [n_in, n_out, n_expert], expert e's matrix
// starts e * n_out rows in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "gguf/gguf.h"
#include "quant/type_id.h"
#include "util/status.h"

namespace apex::engine {

// A matrix (or stack of matrices) in its stored type: rows of n_in elements,
// row_bytes each. Null data means "absent" for optional tensors.
struct Weight {
  const uint8_t* data = nullptr;
  quant::TypeId type = quant::TypeId::F32;
  int64_t n_in = 0;       // ne0: elements per row
  int64_t n_out = 0;      // ne1: rows per matrix
  int64_t n_mat = 1;      // ne2: matrices (experts)
  size_t row_bytes = 0;
  std::string name;

  explicit operator bool() const { return data != nullptr; }
  const uint8_t* row(int64_t r, int64_t mat = 0) const {
    return data + (static_cast<size_t>(mat) * n_out + r) * row_bytes;
  }
  // F32 vectors (norm gains, biases) as floats.
  const float* f32() const { return reinterpret_cast<const float*>(data); }
};

struct LayerWeights {
  Weight attn_norm;                  // [n_embd] F32
  Weight wq, wk, wv, wo;             // [n_embd, q_dim], [n_embd, kv_dim] x2, [q_dim, n_embd]
  Weight bq, bk, bv;                 // biases (qkv_bias)
  Weight q_norm, k_norm;             // [head_dim] (qk_norm)
  Weight ffn_norm;                   // [n_embd]
  Weight ffn_gate, ffn_up, ffn_down; // dense FFN
  Weight router;                     // ffn_gate_inp [n_embd, n_expert]
  Weight gate_exps, up_exps, down_exps;  // [n_embd, n_ff, n_expert], [n_ff, n_embd, n_expert]
  Weight shexp_gate_inp;             // [n_embd] F32
  Weight gate_shexp, up_shexp, down_shexp;
  // Gated DeltaNet blocks (ModelConfig::is_recurrent), instead of wq..wo.
  Weight ssm_qkv;                    // attn_qkv [n_embd, conv_dim]: q, k, v channels
  Weight ssm_z;                      // attn_gate [n_embd, value_dim]: the output gate z
  Weight ssm_conv1d;                 // [d_conv, conv_dim] F32
  Weight ssm_dt;                     // ssm_dt.bias [n_v_heads] F32
  Weight ssm_a;                      // [n_v_heads] F32: -exp(A_log)
  Weight ssm_beta, ssm_alpha;        // [n_embd, n_v_heads]
  Weight ssm_norm;                   // [d_state] F32
  Weight ssm_out;                    // [value_dim, n_embd]
  // Mamba-2 blocks (nemotron_h_moe): ssm_in [n_embd, 2 d_inner + 2 groups
  // d_state + heads], conv bias, ssm_a / ssm_d [1, heads], ssm_norm
  // [d_inner / groups, groups]; MoE blocks: the expert-selection bias.
  Weight ssm_in, ssm_conv1d_b, ssm_d;
  Weight exp_probs_b;                // [n_expert] F32
  // Multi-head latent attention (deepseek2): wq_a -> q_a_norm -> wq_b, or wq.
  Weight wq_a, q_a_norm, wq_b;       // [n_embd, q_lora], [q_lora], [q_lora, n_head * k_mla]
  Weight wkv_a_mqa, kv_a_norm;       // [n_embd, kv_lora + n_rot], [kv_lora]
  Weight wk_b, wv_b;                 // [qk_nope, kv_lora, n_head], [kv_lora, v_mla, n_head]
  // gpt-oss (ArchTraits::oai_moe), all F32.
  Weight bo;                         // attn_output.bias [n_embd]
  Weight attn_sinks;                 // [n_head]: one extra softmax logit per head
  Weight router_b;                   // ffn_gate_inp.bias [n_expert]
  Weight gate_exps_b, up_exps_b;     // [n_ff, n_expert]
  Weight down_exps_b;                // [n_embd, n_expert]
  // gemma4.
  Weight post_attn_norm, post_ffw_norm;  // post_attention_norm, post_ffw_norm [n_embd]
  Weight pre_ffw_norm_2, post_ffw_norm_1, post_ffw_norm_2;  // MoE blocks [n_embd]
  Weight router_scale;               // ffn_gate_inp.scale [n_embd] F32
  Weight gate_up_exps;               // [n_embd, 2 n_ff, n_expert]: per expert the gate rows, then up
  Weight down_exps_scale;            // ffn_down_exps.scale [n_expert] F32
  Weight out_scale;                  // layer_output_scale [1] F32
};

struct ModelWeights {
  Weight token_embd;   // [n_embd, n_vocab]
  Weight output_norm;  // [n_embd]
  Weight output;       // [n_embd, n_vocab] (token_embd when tied)
  std::vector<LayerWeights> layers;
  Weight rope_freqs;   // gemma4: [head_dim / 2] RoPE frequency divisors of global blocks
};

// A loaded model: the mapping, its config and the registry.
struct Model {
  std::unique_ptr<gguf::File> file;
  ModelConfig config;
  ModelWeights weights;
};

// For per-architecture loaders (ArchTraits::load_layer): tensor `name`
// checked against `shape` (ggml order) and the engine's types; the error
// names the file and tensor.
Result<Weight> load_weight(const gguf::File& f, const std::string& name, std::vector<int64_t> shape);

// Opens the file, reads the config and finds every tensor; the error names
// the first missing tensor, bad shape or type the engine cannot multiply.
Result<std::unique_ptr<Model>> load_model(const std::string& path);

// For ArchTraits::load_layer: tensor `name` checked against the ggml-order
// shape (an absent optional one is an empty Weight), or an F32 vector.
Result<Weight> find_weight(const gguf::File& f, const std::string& name, std::vector<int64_t> shape,
                           bool required = true);
Result<Weight> find_weight_f32(const gguf::File& f, const std::string& name, int64_t n,
                               bool required = true);

}  // namespace apex::engine
