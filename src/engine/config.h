// What an architecture is, as data: the hyper-parameters read from a GGUF
// file's metadata and the per-architecture flags that make qwen2moe, qwen3moe
// and llama (dense or Mixtral-style MoE) differ. The forward pass
// (forward.cpp) interprets these; it never tests an architecture's name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::engine {

// How RoPE pairs the dimensions of a head: NORM rotates (x[2i], x[2i+1])
// (original llama), NEOX rotates (x[i], x[i + d/2]) (GPT-NeoX, Qwen).
enum class RopeType { kNorm, kNeox };

// One row per architecture: what llama.cpp's graph builder for it does
// (src/models/<arch>.cpp in the oracle's source).
struct ArchTraits {
  std::string_view name;       // general.architecture; also the metadata key prefix
  RopeType rope;
  bool qkv_bias;               // attn_{q,k,v}.bias present (qwen2moe)
  bool qk_norm;                // RMS norm of each q and k head before RoPE (qwen3moe)
  bool requires_experts;       // the loader refuses n_expert == 0
  bool shared_expert;          // ffn_*_shexp gated by sigmoid(ffn_gate_inp_shexp . x) (qwen2moe)
  // After the softmax over all experts and the top-k pick, divide the k
  // weights by their sum. qwen2moe does not; qwen3moe and Mixtral do.
  bool norm_topk_weights;
};

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
  // Vocabulary facts perplexity needs (tokenizer.ggml.*).
  int32_t bos_id = -1;
  bool add_bos = false;

  int64_t q_dim() const { return head_dim * n_head; }
  int64_t kv_dim() const { return head_dim * n_head_kv; }
  bool is_moe() const { return n_expert > 0; }
};

// Reads and checks the hyper-parameters; the error names the missing or bad
// key (or the unsupported architecture).
Result<ModelConfig> read_config(const gguf::File& file);

}  // namespace apex::engine
