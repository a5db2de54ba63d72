// What an architecture is, as data: the hyper-parameters read from a GGUF
// file's metadata and the per-architecture flags that make qwen2moe, qwen3moe,
// llama (dense or Mixtral-style MoE) and qwen35moe (Gated DeltaNet hybrid)
// differ. The forward passes (forward.cpp, forward_qwen35moe.cpp) interpret
// these; they never test an architecture's name.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::engine {

// How RoPE pairs the dimensions of a head: NORM rotates (x[2i], x[2i+1])
// (original llama), NEOX rotates (x[i], x[i + d/2]) (GPT-NeoX, Qwen).
// IMROPE (qwen35moe) pairs like NEOX over the first n_rot dimensions, each
// pair taking its angle from one of the t/h/w position components
// (interleaved by rope.dimension_sections); for text all three are the
// token position.
enum class RopeType { kNorm, kNeox, kImrope };

// Which forward function runs the model (forward.cpp dispatches on it).
enum class ForwardKind {
  kTransformer,     // attention + FFN blocks (llama, qwen2moe, qwen3moe)
  kDeltaNetHybrid,  // Gated DeltaNet blocks between gated full-attention blocks (qwen35moe)
  kMamba2Hybrid,    // Mamba-2, attention and MoE FFN blocks, one kind each (nemotron_h_moe)
  kGlm4Moe,         // leading dense blocks, sigmoid-routed experts + ungated shared expert (glm4moe)
  kWholeQkNorm,     // attention + MoE blocks, q/k RMS-normed over whole projections (minimax-m2, olmoe)
  kLatentAttention, // multi-head latent attention, dense lead + routed/shared experts (deepseek2)
  kGptOss,          // biased attention with sinks, alternating sliding window, biased experts (gpt-oss)
  kGemma4,          // sliding-window and global blocks, a dense FFN beside the experts (gemma4)
};

// RoPE scaling as llama_context derives it from rope.scaling.* and hands it
// to ggml_rope_ext (ops.h's rope_ext): ext_factor, attn_factor, beta_fast,
// beta_slow and the original context. ext_factor 0 is plain RoPE with only
// freq_scale (ModelConfig::rope_freq_scale) and attn_factor applied.
struct YarnParams {
  float ext_factor = 0.0f;    // 1 for rope.scaling.type "yarn"
  // cos and sin are scaled by this (times ggml's YaRN magnitude, which
  // llama_context cancels in it), times rope.scaling.attn_factor.
  float attn_factor = 1.0f;
  float beta_fast = 32.0f;    // llama.cpp's defaults; neither gpt-oss's nor
  float beta_slow = 1.0f;     // deepseek2's loader reads keys for them
  int64_t n_ctx_orig = 0;     // rope.scaling.original_context_length, else context_length
  // mscale_all_dim: deepseek2's rope.scaling.yarn_log_multiplier / 0.1 (0:
  // none); it enters attn_factor and deepseek2's attention scale.
  float log_mul = 0.0f;
};

// How router logits become expert probabilities (llama.cpp's
// expert_gating_func: 1 softmax, 2 sigmoid; 3 softmax-weight is gpt-oss's:
// the k largest raw logits are chosen and the softmax of those k weights them).
enum class ExpertGating { kSoftmax, kSigmoid, kSoftmaxWeight };

struct ModelConfig;
struct ModelWeights;
struct LayerWeights;

// One row per architecture: what llama.cpp's graph builder for it does
// (src/models/<arch>.cpp in the oracle's source).
struct ArchTraits {
  // kArchs rows (config.cpp) use designated initialisers and name only the
  // fields that differ from these defaults.
  std::string_view name;       // general.architecture; also the metadata key prefix
  RopeType rope = RopeType::kNorm;
  bool qkv_bias = false;       // attn_{q,k,v}.bias present (qwen2moe)
  bool qk_norm = false;        // RMS norm of each q and k head before RoPE (qwen3moe)
  bool requires_experts = false;  // the loader refuses n_expert == 0
  bool shared_expert = false;  // ffn_*_shexp gated by sigmoid(ffn_gate_inp_shexp . x) (qwen2moe)
  // After the softmax over all experts and the top-k pick, divide the k
  // weights by their sum. qwen2moe does not; qwen3moe and Mixtral do. The
  // default of ModelConfig::expert_weights_norm, which a reader may set from
  // the file's expert_weights_norm key.
  bool norm_topk_weights = false;
  ForwardKind forward = ForwardKind::kTransformer;
  // The FFN's input norm: "ffn_norm" or qwen35moe's "post_attention_norm".
  std::string_view ffn_norm_name = "ffn_norm";
  // attn_q is [n_embd, 2 * q_dim]: per head the query, then a gate whose
  // sigmoid scales that head's attention output (qwen35moe).
  bool gated_q = false;
  // rope.dimension_count may be below head_dim (only the first n_rot dims rotate).
  bool partial_rope = false;
  // Reads the keys only this architecture has (after the common ones, which
  // are already in c); the error names the missing or bad key. A new
  // architecture's reader lives in its own file next to its forward function.
  Status (*read_keys)(const gguf::File& f, const std::string& arch, ModelConfig& c) = nullptr;
  // Finds the tensors outside the blocks beyond token_embd, output_norm and
  // output (gemma4's rope_freqs); null: none. Runs before the blocks' loader.
  Status (*load_globals)(const gguf::File& f, const ModelConfig& c, ModelWeights& w) = nullptr;
  // attn_{q,k}_norm may be absent (glm4moe: GLM-4.5-Air has none); qk_norm
  // above makes them required.
  bool optional_qk_norm = false;
  // The shared expert's output is added as is: no ffn_gate_inp_shexp (glm4moe, deepseek2).
  bool ungated_shared_expert = false;
  // attn_q_norm / attn_k_norm gains span the whole q and k projections
  // (q_dim, kv_dim): one RMS over all heads of a token (minimax-m2, olmoe).
  bool qk_norm_whole = false;
  // blk.N.exp_probs_b.bias [n_expert] is added to the expert probabilities
  // to choose the top k, not to weight them (glm4moe, minimax-m2); the
  // loader requires it.
  bool expert_selection_bias = false;
  // Key and value widths may differ (deepseek2's multi-head latent
  // attention caches a latent row).
  bool latent_attention = false;
  // Finds block il's tensors instead of weights.cpp's generic lookup (the
  // common attention + FFN / Gated DeltaNet blocks), for architectures whose
  // blocks it does not know (nemotron_h_moe, deepseek2, gemma4; weights.h's
  // find_weight). Together with load_globals the one way an architecture
  // brings its own tensors.
  Status (*load_layer)(const gguf::File& f, const ModelConfig& c, int il, LayerWeights& l) = nullptr;
  // gpt-oss: attn_output.bias, attn_sinks, ffn_gate_inp.bias and the
  // per-expert ffn_{gate,up,down}_exps.bias are part of every block.
  bool oai_moe = false;
  // rope.scaling.type "yarn" is understood (YarnParams, gpt-oss and
  // deepseek2); other architectures refuse it.
  bool yarn = false;
};

// gpt-oss's own keys (forward_gptoss.cpp).
Status read_gptoss_keys(const gguf::File& f, const std::string& arch, ModelConfig& c);

// Null for an architecture the engine does not run.
const ArchTraits* find_arch_traits(std::string_view name);
std::string_view supported_arch_list();

struct ModelConfig {
  const ArchTraits* arch = nullptr;
  int n_layer = 0;
  int64_t n_embd = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int64_t head_dim = 0;        // attention.key_length, or n_embd / n_head
  int64_t n_vocab = 0;         // rows of token_embd
  int64_t n_ctx_train = 0;     // context_length
  int n_expert = 0;            // 0: dense FFN
  int n_expert_used = 0;
  float rms_eps = 1e-6f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
  float expert_weights_scale = 0.0f;  // expert_weights_scale (0 or 1: none)
  int64_t n_rot = 0;           // rotated dimensions per head (rope.dimension_count; head_dim)
  std::array<int, 4> rope_sections{};  // rope.dimension_sections (IMROPE)
  // Gated DeltaNet (ForwardKind::kDeltaNetHybrid): ssm.* keys.
  int64_t ssm_d_conv = 0;      // conv1d taps
  int64_t ssm_d_state = 0;     // key/value head width
  int64_t ssm_n_group = 0;     // key heads
  int64_t ssm_dt_rank = 0;     // value heads
  std::vector<uint8_t> recurrent;  // per layer: 1 = Gated DeltaNet block, 0 = attention
  // Sliding-window attention (gpt-oss, gemma4): blocks with swa[il] != 0
  // see only the last n_swa positions.
  int64_t n_swa = 0;
  std::vector<uint8_t> swa;
  YarnParams yarn;             // rope.scaling.* (rope_ext)
  // Vocabulary facts perplexity needs (tokenizer.ggml.*).
  int32_t bos_id = -1;
  bool add_bos = false;
  // Mamba-2 (ForwardKind::kMamba2Hybrid): value channels, heads x head width
  // (ssm.inner_size; 0 for Gated DeltaNet, whose value width is
  // ssm_d_state x ssm_dt_rank).
  int64_t ssm_d_inner = 0;
  std::vector<uint8_t> ffn_block;  // per layer: 1 = an FFN-only block (nemotron_h_moe "E")
  // Renormalise the top-k weights: ArchTraits::norm_topk_weights unless the
  // architecture's reader takes it from the expert_weights_norm key.
  bool expert_weights_norm = false;
  // The first n_dense_lead blocks have a dense FFN (leading_dense_block_count:
  // glm4moe, deepseek2).
  int n_dense_lead = 0;
  ExpertGating expert_gating = ExpertGating::kSoftmax;  // expert_gating_func (moe.h's RouterRule)
  // Multi-head latent attention (ArchTraits::latent_attention, deepseek2).
  int64_t head_dim_v = 0;      // attention.value_length when it differs from key_length
  int64_t q_lora_rank = 0;     // 0: a plain attn_q
  int64_t kv_lora_rank = 0;    // the latent: key_length = kv_lora_rank + n_rot, value_length = kv_lora_rank
  int64_t head_dim_k_mla = 0;  // key_length_mla: qk_nope + qk_rope per head
  int64_t head_dim_v_mla = 0;  // value_length_mla
  int n_expert_shared = 0;     // expert_shared_count
  int n_expert_groups = 0;     // expert_group_count
  int n_group_used = 0;        // expert_group_used_count

  int64_t kv_dim_v() const { return (head_dim_v > 0 ? head_dim_v : head_dim) * n_head_kv; }

  int64_t q_dim() const { return head_dim * n_head; }
  int64_t kv_dim() const { return head_dim * n_head_kv; }
  bool is_moe() const { return n_expert > 0; }
  bool is_moe_layer(int layer) const { return is_moe() && layer >= n_dense_lead; }
  bool is_recurrent(int layer) const {
    return !recurrent.empty() && recurrent[static_cast<size_t>(layer)] != 0;
  }
  bool is_swa(int layer) const { return !swa.empty() && swa[static_cast<size_t>(layer)] != 0; }
  int64_t ssm_key_dim() const { return ssm_d_state * ssm_n_group; }
  int64_t ssm_value_dim() const { return ssm_d_inner > 0 ? ssm_d_inner : ssm_d_state * ssm_dt_rank; }
  int64_t ssm_conv_dim() const { return 2 * ssm_key_dim() + ssm_value_dim(); }
  bool is_ffn_block(int layer) const {
    return !ffn_block.empty() && ffn_block[static_cast<size_t>(layer)] != 0;
  }
  // gemma4: sliding-window blocks have their own head width, KV heads and
  // RoPE base (head_dim, n_head_kv, rope_freq_base are the global blocks').
  int64_t head_dim_swa = 0;
  int n_head_kv_swa = 0;
  float rope_freq_base_swa = 10000.0f;
  float final_logit_softcap = 0.0f;  // > 0: logits = cap * tanh(logits / cap)
  int64_t cache_kv_dim = 0;      // > 0: the widest K/V row of any block (the cache's width)
};

// ArchTraits::read_keys of architectures whose reader lives beside their
// forward function: glm4moe (forward_glm4moe.cpp).
Status read_glm4moe_keys(const gguf::File& f, const std::string& arch, ModelConfig& c);

// Reads and checks the hyper-parameters; the error names the missing or bad
// key (or the unsupported architecture).
Result<ModelConfig> read_config(const gguf::File& file);

}  // namespace apex::engine
