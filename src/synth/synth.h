// `apex synth`: deterministic random-weight models in the exact GGUF shape
// llama.cpp loads for an architecture (tensor names, ggml-order shapes,
// metadata keys, a small vocabulary of the family's tokenizer kind: byte-level
// BPE, gemma4's BPE or SentencePiece, see tokenizer_specs.h). They exercise the
// quantizer and the oracle at any size without downloading weights.
//
// Values are random but not arbitrary: matrices are ~N(0, 1/fan_in) so that
// activations keep unit scale through the layers, norms are ~1, biases small,
// routers random (so every expert gets tokens). Everything is a pure function
// of (seed, tensor name, element index), so the bytes do not depend on the
// thread count and a tensor does not change when unrelated options do.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "quant/type_id.h"
#include "util/status.h"

namespace apex::synth {

struct Options {
  std::string arch = "qwen3moe";  // "qwen2moe", "qwen3moe", "llama" or "qwen35moe"
  int n_layer = 2;
  int64_t n_embd = 256;
  int n_head = 4;
  int n_head_kv = 2;
  // Routed experts. qwen2moe/qwen3moe need >= 1; llama with 0 is a dense
  // model, with > 0 a Mixtral-style MoE.
  int n_expert = 8;
  int n_expert_used = 2;
  int64_t n_ff = 256;         // expert FFN width (dense FFN width for dense llama)
  int64_t n_ff_shared = 0;    // qwen2moe/qwen35moe shared-expert FFN width; 0 = n_ff
  int64_t n_vocab = 1024;     // >= 259: 3 special + 256 byte tokens + pieces
  int64_t head_dim = 0;       // 0 = n_embd / n_head (qwen2moe requires exactly that)
  quant::TypeId weight_type = quant::TypeId::F16;  // F32, F16 or BF16 for matrices
  uint64_t seed = 42;
  int64_t context_length = 4096;
  float rms_eps = 1e-6f;
  float rope_freq_base = 10000.0f;
  // Gated DeltaNet hybrids (qwen35moe) only. Qwen3.5-35B-A3B has
  // conv 4, state 128, 16 key groups, 32 value heads, interval 4 and rotates
  // 64 of its 256 head dimensions.
  int ssm_d_conv = 4;                // ssm.conv_kernel
  int64_t ssm_d_state = 32;          // ssm.state_size: key and value head width
  int ssm_n_group = 2;               // ssm.group_count: key heads
  int ssm_dt_rank = 4;               // ssm.time_step_rank: value heads (multiple of the groups)
  int full_attention_interval = 4;   // every n-th block is full attention
  int64_t rope_dim = 0;              // rope.dimension_count; 0 = head_dim / 4
  // Multi-token-prediction blocks after the n_layer trunk blocks
  // (nextn_predict_layers; block_count counts them). llama.cpp loads but
  // does not run them in its main graph.
  int n_mtp = 0;
  std::string name;           // general.name; empty = "apex-synth-<arch>"
  int n_threads = 0;          // generator threads; 0 = hardware concurrency
  // A Hugging Face tokenizer.json to take the vocabulary from (written as
  // llama.cpp's converter would, see hf_tokenizer.h) instead of the built-in
  // SentencePiece-style one; n_vocab then follows the tokenizer (make_layout
  // and write_model; tensor_values still uses n_vocab as given).
  std::string tokenizer_json;
  std::string tokenizer_config_json;  // empty: tokenizer_config.json beside it, if any
  // Write the built-in SentencePiece vocabulary even for architectures whose
  // real files carry a BPE one (ArchSpec::tokenizer).
  bool spm_vocab = false;
  // nemotron_h_moe (Nemotron-H MoE / Nemotron-3 Nano) only. The block
  // pattern, one letter per block as the converter's hybrid_override_pattern
  // spells it: M = Mamba-2, * = attention, E = MoE FFN; empty = "MEMEM*E"
  // repeated (Nemotron-3 Nano's rhythm). The Mamba-2 blocks use ssm_d_conv,
  // ssm_d_state, ssm_n_group and ssm_dt_rank (heads) above.
  std::string layer_pattern;
  int64_t ssm_d_inner = 0;            // ssm.inner_size: heads x head width; 0 = 2 * n_embd
  float expert_weights_scale = 0.0f;  // routed_scaling_factor (Nano: 2.5); 0 = none
  bool expert_weights_norm = true;    // norm_topk_prob: renormalise the top-k weights
  // gpt-oss only: attention.sliding_window (the real model's is 128; every
  // even block attends to the last sliding_window positions).
  int64_t sliding_window = 128;
  // YaRN rope scaling (gpt-oss, deepseek2) when yarn_factor > 0: rope.scaling
  // type "yarn", factor and original_context_length; gpt-oss's converter
  // adds beta_fast / beta_slow, deepseek2's yarn_log_multiplier =
  // 0.1 * mscale_all_dim. gpt-oss: 32 over 4096, betas 32 and 1;
  // DeepSeek-V3: 40 over 4096, mscale_all_dim 1.
  float yarn_factor = 0.0f;
  int64_t yarn_orig_context = 4096;
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  float yarn_mscale_all_dim = 1.0f;
  // glm4moe (GLM-4.5/4.6/4.7) only. GLM-4.5-Air: 1 dense block of width
  // 10944, experts of 1408, one shared expert, no q/k norms (the 355B model
  // has them); with expert_weights_scale 2.5 and expert_weights_norm above.
  int n_dense_lead = 1;               // leading_dense_block_count
  // feed_forward_length of the dense blocks (glm4moe, deepseek2) or of the
  // dense FFN beside the experts (gemma4); 0 = 2 * n_ff.
  int64_t n_ff_dense = 0;
  int n_expert_shared = 1;            // expert_shared_count (shared width n_ff * count)
  bool qk_norm = true;                // attn_q_norm / attn_k_norm per block
  // deepseek2 (DeepSeek-V3 / Kimi-K2 multi-head latent attention) only.
  // head_dim is key_length_mla (qk_nope + qk_rope per head), rope_dim the
  // rotated part qk_rope_head_dim (0: head_dim / 4). head_count_kv is
  // written as 1 whatever n_head_kv says: MLA caches one latent "head".
  int64_t q_lora_rank = 48;        // attention.q_lora_rank; 0: a plain attn_q
  int64_t kv_lora_rank = 32;       // attention.kv_lora_rank
  int64_t v_head_dim = 0;          // attention.value_length_mla; 0: head_dim - rope_dim
  int expert_gating_func = 2;      // 1 softmax, 2 sigmoid (adds exp_probs_b, as V3 does)
  // (expert_weights_scale / expert_weights_norm above apply too.)
  int n_expert_groups = 0;         // expert_group_count (n_group); 0: key not written
  int n_group_used = 0;            // expert_group_used_count (topk_group)
  // (YaRN: the yarn_* options above.)
  // gemma4 (Gemma 4) only. Sliding-window blocks alternate with global
  // ones: block il is global when (il + 1) % full_attention_interval == 0
  // (Gemma 4 26B-A4B: 5 sliding, 1 global). head_dim, n_head_kv and
  // rope_freq_base describe the global blocks, these the sliding ones; rope_dim
  // is how many of a global head's dimensions rotate (0: head_dim / 4, the
  // 26B's partial_rotary_factor), written as the rope_freqs tensor.
  int64_t head_dim_swa = 0;          // attention.key_length_swa; 0 = head_dim
  int n_head_kv_swa = 0;             // KV heads of sliding blocks; 0 = n_head_kv
  // (n_ff_dense below is the dense FFN next to the experts.)
  // attention.sliding_window: gpt-oss's sliding_window above.
  float rope_freq_base_swa = 10000.0f;
  float final_logit_softcapping = 30.0f;  // 0: none
  bool fused_gate_up = true;         // ffn_gate_up_exps (as the 26B's converter writes) or gate/up
  bool k_eq_v = true;                // global blocks have no attn_v (V is K), as in the 26B
  bool expert_down_scale = true;     // per-expert ffn_down_exps.scale
  int64_t n_embd_per_layer = 0;      // per-layer embeddings (E2B/E4B); 0 = none (26B)
};

// Checks the options against what llama.cpp accepts for the architecture;
// the error names the offending option.
Status validate(const Options& opts);

// The file's metadata and tensor infos (offsets assigned, no data): what
// write_model() writes, for planning and tests.
Result<gguf::Layout> make_layout(const Options& opts);

// Called from the writing thread after each slab: bytes of tensor data
// written so far, total tensor bytes, and the tensor being written.
using ProgressFn = std::function<void(uint64_t done, uint64_t total, std::string_view tensor)>;

// Writes the model to out_path (through a temp file renamed at the end).
Status write_model(const Options& opts, const std::string& out_path,
                   const ProgressFn& progress = {});

// The float values of one tensor of the model (before conversion to the
// tensor's storage type), elements [begin, begin + out.size()). For tests
// and tools that want the source values without reading the file back.
Status tensor_values(const Options& opts, std::string_view tensor_name, int64_t begin,
                     std::span<float> out);

}  // namespace apex::synth
