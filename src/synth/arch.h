// Architectures synth can write, as data: which hyper-parameter keys each
// carries and which tensors (name pattern, ggml-order shape in symbolic
// dimensions, how its values are drawn, whether it stays F32). The tables
// follow what llama.cpp's loader creates for the architecture
// (src/models/<arch>.cpp load_arch_tensors): a file must hold exactly those
// tensors, no more, or the loader refuses it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "gguf/gguf.h"
#include "util/status.h"

namespace apex::synth {

struct Options;
struct TokenizerSpec;

// Symbolic tensor dimensions, resolved from the options.
enum class Dim : uint8_t {
  kNone,      // unused trailing dimension
  kEmbd,      // n_embd
  kVocab,     // n_vocab
  kQ,         // head_dim * n_head
  kKV,        // head_dim * n_head_kv
  kHeadDim,   // head_dim
  kFF,        // n_ff (expert FFN, or the dense FFN)
  kFFShared,  // n_ff_shared
  kExpert,    // n_expert
  kQGate,     // 2 * head_dim * n_head: a query and its output gate per head (qwen35moe)
  kConvKernel,  // ssm_d_conv: taps of the short causal convolution
  kConvDim,   // 2 * ssm_n_group * ssm_d_state + ssm_dt_rank * ssm_d_state: q, k and v channels
  kSsmInner,  // ssm_dt_rank * ssm_d_state: value channels of the linear attention
  kSsmHeads,  // ssm_dt_rank: value heads (one decay and one beta each)
  kSsmState,  // ssm_d_state: key/value head width
  kEmbd2,     // 2 * n_embd: the MTP block's [embedding | hidden state] input
  kOne,       // a written dimension of 1 (nemotron_h_moe's ssm_a / ssm_d are [1, n_head])
  kMambaInProj,  // 2 * ssm_d_inner + 2 * ssm_n_group * ssm_d_state + ssm_dt_rank: z, x, B, C, dt
  kMambaConv,    // ssm_d_inner + 2 * ssm_n_group * ssm_d_state: the x, B and C channels
  kMambaInner,   // ssm_d_inner: Mamba-2 value channels (heads x head width)
  kMambaNormGroup,  // ssm_d_inner / ssm_n_group: width of one grouped-RMS-norm group
  kSsmGroups,    // ssm_n_group
  kNHead,     // n_head: one value per query head (gpt-oss attention sinks)
  kFFDense,   // n_ff_dense: FFN width of the dense blocks (glm4moe, deepseek2) or of the dense FFN beside the experts (gemma4)
  kFFShexp,   // n_ff * n_expert_shared: shared-expert width counted in experts (glm4moe)
  // deepseek2 multi-head latent attention and its FFN widths.
  kQLora,       // q_lora_rank
  kKVLora,      // kv_lora_rank
  kKVLoraRope,  // kv_lora_rank + rope_dim: the compressed KV and the shared rotated key
  kQkNope,      // head_dim - rope_dim: the unrotated part of a query/key head
  kVHead,       // v_head_dim
  kOutMla,      // n_head * v_head_dim
  // gemma4: sliding-window blocks have their own head width and KV heads.
  kQSwa,          // head_dim_swa * n_head
  kKVSwa,         // head_dim_swa * n_head_kv_swa
  kHeadDimSwa,    // head_dim_swa
  kFF2,           // 2 * n_ff: fused gate and up expert projections
  kHalfHeadDim,   // head_dim / 2: one RoPE frequency factor per pair
  kPerLayerAll,   // n_embd_per_layer * n_layer
  kPerLayer,      // n_embd_per_layer
};

// How a tensor's values are drawn.
enum class Init : uint8_t {
  kEmbedding,  // token embeddings: unit scale
  kMatrix,     // input-side projections: N(0, 1/ne0)
  kOutProj,    // projections back into the residual stream: N(0, 1/ne0) / sqrt(2 n_layer)
  kNorm,       // RMS-norm gains: 1 + small noise
  kBias,       // small noise
  kRouter,     // expert router / shared-expert gate: N(0, 1/ne0), kept F32
  kSsmA,       // Gated DeltaNet decay rate A = -exp(A_log): about -1, always negative
  kConv,       // causal conv1d taps: N(0, 1/ne0), kept F32
  kSink,       // attention-sink logits (gpt-oss): N(0, 1), as large as a q.k score
  kExpertBias, // expert-selection bias (exp_probs_b): N(0, 0.1^2), big enough to change picks
  kRopeFreqs,  // gemma4 rope_freqs: 1 for the rotated pairs, 1e30 (no turn) for the rest
};

// When a per-layer tensor exists. kRecurrent / kFullAttn split hybrid
// models (qwen35moe): every full_attention_interval-th block is ordinary
// attention, the others are Gated DeltaNet linear attention.
// kMtp tensors exist only in the multi-token-prediction blocks appended
// after the trunk (Options::n_mtp), which are full-attention blocks.
enum class When : uint8_t { kAlways, kDense, kMoe, kRecurrent, kFullAttn, kMtp };

struct TensorSpec {
  const char* name;  // "blk.%d." is prepended for per-layer tensors
  Dim ne[3];
  Init init;
  bool f32;          // stored F32 whatever the weight type (norms, biases, routers)
  When when = When::kAlways;
};

// Rows (kArchs in arch.cpp, k*Arch in arch_<name>.cpp) use designated
// initialisers and name only the fields that differ from these defaults.
struct ArchSpec {
  std::string_view name;
  bool requires_experts = false;  // the loader refuses n_expert == 0
  bool free_head_dim = false;     // q/o projections may be wider than n_embd
  bool expert_ff_key = false;     // writes <arch>.expert_feed_forward_length
  bool shared_expert = false;     // writes <arch>.expert_shared_feed_forward_length
  bool vocab_size_key = false;    // writes <arch>.vocab_size (llama's converter does)
  bool rope_dim_key = false;      // writes <arch>.rope.dimension_count
  // Gated DeltaNet hybrid (qwen35moe): writes the ssm.* keys,
  // full_attention_interval, rope.dimension_sections and a partial
  // rope.dimension_count; layers follow kRecurrent / kFullAttn.
  bool delta_net_hybrid = false;
  std::span<const TensorSpec> head;    // before the blocks
  std::span<const TensorSpec> layer;   // per block
  std::span<const TensorSpec> tail;    // after the blocks
  // Optional per-architecture hooks, so that a new architecture is a new
  // file (its tensor table and these functions) plus one row in kArchs:
  //  - metadata: writes the keys only this architecture has (called after
  //    the common hyper-parameters, before general.file_type);
  //  - validate: refuses options llama.cpp would not load (after the common
  //    checks); the error names the option;
  //  - has_tensor: whether per-layer tensor `spec` exists in block il, on
  //    top of spec.when (layer patterns: sliding-window layers, leading
  //    dense blocks, Mamba/attention/MoE block kinds).
  void (*metadata)(const Options& o, gguf::Layout& l) = nullptr;
  Status (*validate)(const Options& o) = nullptr;
  bool (*has_tensor)(const Options& o, int il, const TensorSpec& spec) = nullptr;
  // Accepts Options::n_mtp (multi-token-prediction blocks after the trunk)
  // outside the Gated DeltaNet hybrids; the hooks write and check the rest.
  bool mtp_blocks = false;
  // Whether head or tail tensor `spec` exists (optional global tensors:
  // gemma4's per-layer embeddings); null: all of them.
  bool (*has_global_tensor)(const Options& o, const TensorSpec& spec) = nullptr;
  // The vocabulary kind real files of this family carry (tokenizer_specs.h);
  // null: the built-in SentencePiece one.
  const TokenizerSpec* tokenizer = nullptr;
};

// Architectures whose table and hooks live in their own file (arch_<name>.cpp).
extern const ArchSpec kNemotronHMoeArch;
extern const ArchSpec kGlm4MoeArch;

// Null when the name is not a known architecture.
const ArchSpec* find_arch(std::string_view name);
std::string_view arch_name_list();

}  // namespace apex::synth
