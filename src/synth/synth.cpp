#include "synth/synth.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "quant/float_types.h"
#include "synth/arch.h"
#include "synth/hf_tokenizer.h"
#include "synth/random.h"
#include "synth/vocab.h"
#include "util/check.h"

namespace apex::synth {
namespace {

// Hard limits of the llama.cpp build we target (llama-hparams.h).
constexpr int kMaxLayers = 512;
constexpr int kMaxExperts = 1024;
// Elements generated per work item. Fixed (not derived from the thread
// count) only for memory and scheduling reasons: values never depend on it.
constexpr int64_t kSlabElements = int64_t{1} << 20;

struct Dims {
  int64_t embd, vocab, q, kv, head_dim, ff, ff_shared, expert;
  int64_t conv_kernel, ssm_state, ssm_heads, ssm_groups;
  int64_t mamba_inner = 0;
  int64_t n_head = 0;
  int64_t ff_dense = 0, ff_shexp = 0;
  int64_t q_lora = 0, kv_lora = 0, rope = 0, v_head = 0;
  // gemma4's sliding-window blocks and per-layer embeddings.
  int64_t head_dim_swa = 0, kv_heads_swa = 0, per_layer = 0, n_layer = 0;

  int64_t resolve(Dim d) const {
    switch (d) {
      case Dim::kNone: return 1;
      case Dim::kEmbd: return embd;
      case Dim::kVocab: return vocab;
      case Dim::kQ: return q;
      case Dim::kKV: return kv;
      case Dim::kHeadDim: return head_dim;
      case Dim::kFF: return ff;
      case Dim::kFFShared: return ff_shared;
      case Dim::kExpert: return expert;
      case Dim::kQGate: return 2 * q;
      case Dim::kConvKernel: return conv_kernel;
      case Dim::kConvDim: return 2 * ssm_groups * ssm_state + ssm_heads * ssm_state;
      case Dim::kSsmInner: return ssm_heads * ssm_state;
      case Dim::kSsmHeads: return ssm_heads;
      case Dim::kSsmState: return ssm_state;
      case Dim::kEmbd2: return 2 * embd;
      case Dim::kOne: return 1;
      case Dim::kMambaInProj: return 2 * mamba_inner + 2 * ssm_groups * ssm_state + ssm_heads;
      case Dim::kMambaConv: return mamba_inner + 2 * ssm_groups * ssm_state;
      case Dim::kMambaInner: return mamba_inner;
      case Dim::kMambaNormGroup: return mamba_inner / ssm_groups;
      case Dim::kSsmGroups: return ssm_groups;
      case Dim::kNHead: return n_head;
      case Dim::kQLora: return q_lora;
      case Dim::kKVLora: return kv_lora;
      case Dim::kKVLoraRope: return kv_lora + rope;
      case Dim::kQkNope: return head_dim - rope;
      case Dim::kVHead: return v_head;
      case Dim::kOutMla: return n_head * v_head;
      case Dim::kFFDense: return ff_dense;
      case Dim::kFFShexp: return ff_shexp;
      case Dim::kQSwa: return head_dim_swa * n_head;
      case Dim::kKVSwa: return head_dim_swa * kv_heads_swa;
      case Dim::kHeadDimSwa: return head_dim_swa;
      case Dim::kFF2: return 2 * ff;
      case Dim::kHalfHeadDim: return head_dim / 2;
      case Dim::kPerLayerAll: return per_layer * n_layer;
      case Dim::kPerLayer: return per_layer;
    }
    return 1;
  }
};

int64_t resolved_head_dim(const Options& o) {
  return o.head_dim > 0 ? o.head_dim : (o.n_head > 0 ? o.n_embd / o.n_head : 0);
}

int64_t resolved_rope_dim(const Options& o) {
  return o.rope_dim > 0 ? o.rope_dim : resolved_head_dim(o) / 4;
}

Dims make_dims(const Options& o) {
  const int64_t hd = resolved_head_dim(o);
  Dims d{o.n_embd, o.n_vocab,      hd * o.n_head,
         hd * o.n_head_kv, hd, o.n_ff, o.n_ff_shared > 0 ? o.n_ff_shared : o.n_ff,
         o.n_expert, o.ssm_d_conv, o.ssm_d_state, o.ssm_dt_rank, o.ssm_n_group,
         o.ssm_d_inner > 0 ? o.ssm_d_inner : 2 * o.n_embd, o.n_head,
         o.n_ff_dense > 0 ? o.n_ff_dense : 2 * o.n_ff, o.n_ff * o.n_expert_shared};
  d.q_lora = o.q_lora_rank, d.kv_lora = o.kv_lora_rank, d.rope = resolved_rope_dim(o);
  d.v_head = o.v_head_dim > 0 ? o.v_head_dim : hd - d.rope;
  d.head_dim_swa = o.head_dim_swa > 0 ? o.head_dim_swa : hd;
  d.kv_heads_swa = o.n_head_kv_swa > 0 ? o.n_head_kv_swa : o.n_head_kv;
  d.per_layer = o.n_embd_per_layer;
  d.n_layer = o.n_layer;
  return d;
}

// llama.cpp's rule (qwen35moe load_arch_hparams): block il is recurrent
// unless il + 1 is a multiple of the interval.
bool is_recurrent_layer(const Options& o, const ArchSpec& arch, int il) {
  return arch.delta_net_hybrid && (il + 1) % o.full_attention_interval != 0;
}

// One tensor to write: its info plus how its values are drawn.
struct TensorPlan {
  gguf::TensorInfo info;
  uint64_t seed = 0;
  float offset = 0.0f;  // value = offset + scale * approx_normal
  float scale = 1.0f;
  int64_t rotated = -1;  // Init::kRopeFreqs: elements below it are 1, the others 1e30
};

uint64_t tensor_seed(uint64_t seed, std::string_view name) {
  return splitmix64(splitmix64(seed) ^ fnv1a64(name));
}

void value_law(Init init, int64_t fan_in, int n_layer, float& offset, float& scale) {
  const float inv_sqrt_fan_in = 1.0f / std::sqrt(static_cast<float>(fan_in));
  switch (init) {
    case Init::kEmbedding:
      offset = 0.0f, scale = 1.0f;
      return;
    case Init::kMatrix:
    case Init::kRouter:
      offset = 0.0f, scale = inv_sqrt_fan_in;
      return;
    case Init::kOutProj:
      // Each block adds two such outputs to the residual stream; shrinking
      // them keeps its scale near 1 however many blocks there are (the
      // GPT-2 initialisation rule).
      offset = 0.0f, scale = inv_sqrt_fan_in / std::sqrt(2.0f * static_cast<float>(n_layer));
      return;
    case Init::kNorm:
      offset = 1.0f, scale = 0.1f;
      return;
    case Init::kBias:
      offset = 0.0f, scale = 0.02f;
      return;
    case Init::kSsmA:
      // The converter stores -exp(A_log); about -1 keeps the per-token
      // decay exp(A * softplus(.)) near 0.5, so the state neither vanishes
      // nor grows (tails stop at -1 +- 0.35).
      offset = -1.0f, scale = 0.1f;
      return;
    case Init::kConv:
      offset = 0.0f, scale = inv_sqrt_fan_in;
      return;
    case Init::kSink:
      // A sink competes with the scaled q.k scores (about unit size here):
      // large enough that attention visibly leaks into it.
      offset = 0.0f, scale = 1.0f;
      return;
    case Init::kExpertBias:
      offset = 0.0f, scale = 0.1f;
      return;
    case Init::kRopeFreqs:
      offset = 1.0f, scale = 0.0f;  // fill_values writes the fixed pattern
      return;
  }
}

uint64_t row_bytes(quant::TypeId type, int64_t n) {
  switch (type) {
    case quant::TypeId::F32: return static_cast<uint64_t>(n) * 4;
    case quant::TypeId::F16:
    case quant::TypeId::BF16: return static_cast<uint64_t>(n) * 2;
    default: APEX_CHECK(false, "synth writes only F32/F16/BF16, got type {}", static_cast<int>(type));
  }
  return 0;
}

std::vector<TensorPlan> make_plan(const Options& o, const ArchSpec& arch) {
  const Dims dims = make_dims(o);
  const bool moe = o.n_expert > 0;
  std::vector<TensorPlan> plan;
  auto add = [&](const TensorSpec& spec, const std::string& name) {
    TensorPlan p;
    p.info.name = name;
    for (Dim d : spec.ne) {
      if (d != Dim::kNone) p.info.ne.push_back(dims.resolve(d));
    }
    const quant::TypeId type = spec.f32 ? quant::TypeId::F32 : o.weight_type;
    p.info.type = static_cast<int32_t>(type);
    p.info.nbytes = row_bytes(type, p.info.n_elements());
    p.seed = tensor_seed(o.seed, name);
    value_law(spec.init, p.info.ne[0], o.n_layer, p.offset, p.scale);
    if (spec.init == Init::kRopeFreqs) p.rotated = resolved_rope_dim(o) / 2;
    plan.push_back(std::move(p));
  };
  auto wanted = [&](const TensorSpec& s) {
    return arch.has_global_tensor == nullptr || arch.has_global_tensor(o, s);
  };
  for (const TensorSpec& s : arch.head) {
    if (wanted(s)) add(s, s.name);
  }
  for (int il = 0; il < o.n_layer + o.n_mtp; ++il) {
    const bool mtp = il >= o.n_layer;
    for (const TensorSpec& s : arch.layer) {
      if ((s.when == When::kDense && moe) || (s.when == When::kMoe && !moe)) continue;
      const bool recurrent = !mtp && is_recurrent_layer(o, arch, il);
      if ((s.when == When::kRecurrent && !recurrent) || (s.when == When::kFullAttn && recurrent)) {
        continue;
      }
      if (s.when == When::kMtp && !mtp) continue;
      if (arch.has_tensor != nullptr && !arch.has_tensor(o, il, s)) continue;
      add(s, fmt::format("blk.{}.{}", il, s.name));
    }
  }
  for (const TensorSpec& s : arch.tail) {
    if (wanted(s)) add(s, s.name);
  }
  return plan;
}

void fill_values(const TensorPlan& p, int64_t begin, std::span<float> out) {
  if (p.rotated >= 0) {
    // Gemma 4's converter turns partial rotation into a frequency divisor
    // so large that the unrotated pairs never turn.
    for (size_t k = 0; k < out.size(); ++k) out[k] = begin + static_cast<int64_t>(k) < p.rotated ? 1.0f : 1e30f;
    return;
  }
  for (size_t k = 0; k < out.size(); ++k) {
    const uint64_t r = random_word(p.seed, static_cast<uint64_t>(begin) + k);
    out[k] = p.offset + p.scale * approx_normal(r);
  }
}

// Converts floats to the tensor's storage type, appending to `out`.
void encode(quant::TypeId type, std::span<const float> v, std::vector<uint8_t>& out) {
  switch (type) {
    case quant::TypeId::F32:
      out.resize(v.size() * 4);
      std::memcpy(out.data(), v.data(), out.size());
      return;
    case quant::TypeId::F16:
    case quant::TypeId::BF16: {
      // The quantizer's row conversion: SIMD, same bits as fp16.h's scalar one.
      out.resize(v.size() * 2);
      const int64_t n = static_cast<int64_t>(v.size());
      if (type == quant::TypeId::F16) {
        quant::quantize_f16(v.data(), out.data(), 1, n, nullptr);
      } else {
        quant::quantize_bf16(v.data(), out.data(), 1, n, nullptr);
      }
      return;
    }
    default: APEX_CHECK(false, "unexpected storage type {}", static_cast<int>(type));
  }
}

uint32_t file_type_of(quant::TypeId t) {
  // llama_ftype values: ALL_F32 0, MOSTLY_F16 1, MOSTLY_BF16 32.
  switch (t) {
    case quant::TypeId::F32: return 0;
    case quant::TypeId::F16: return 1;
    case quant::TypeId::BF16: return 32;
    default: return 0;
  }
}

void add_metadata(const Options& o, const ArchSpec& arch, const Vocab& vocab, const HfVocab* hf,
                  gguf::Layout& l) {
  const std::string a(arch.name);
  auto u32 = [](int64_t v) { return gguf::Value(static_cast<uint32_t>(v)); };
  auto key = [&](const char* suffix) { return a + "." + suffix; };
  const int64_t hd = resolved_head_dim(o);
  // Key order follows llama.cpp's converter: general keys, hyper-parameters,
  // file type, expert keys, quantization version, tokenizer.
  l.set("general.architecture", gguf::Value(a));
  l.set("general.type", gguf::Value(std::string("model")));
  l.set("general.name", gguf::Value(o.name.empty() ? "apex-synth-" + a : o.name));
  l.set(key("block_count"), u32(o.n_layer + o.n_mtp));
  l.set(key("context_length"), u32(o.context_length));
  l.set(key("embedding_length"), u32(o.n_embd));
  l.set(key("feed_forward_length"), u32(o.n_ff));
  l.set(key("attention.head_count"), u32(o.n_head));
  l.set(key("attention.head_count_kv"), u32(o.n_head_kv));
  l.set(key("rope.freq_base"), gguf::Value(o.rope_freq_base));
  l.set(key("attention.layer_norm_rms_epsilon"), gguf::Value(o.rms_eps));
  if (o.n_expert > 0) l.set(key("expert_used_count"), u32(o.n_expert_used));
  if (arch.free_head_dim) {
    l.set(key("attention.key_length"), u32(hd));
    l.set(key("attention.value_length"), u32(hd));
  }
  if (arch.vocab_size_key) l.set(key("vocab_size"), u32(o.n_vocab));
  if (arch.rope_dim_key) {
    l.set(key("rope.dimension_count"), u32(arch.delta_net_hybrid ? resolved_rope_dim(o) : hd));
  }
  if (arch.delta_net_hybrid) {
    // Interleaved multi-section RoPE: the rotated pairs split between the
    // t/h/w position components as Qwen's [11, 11, 10] splits 32 (for text
    // all three are the token position).
    const int64_t pairs = resolved_rope_dim(o) / 2;
    gguf::Array sections{gguf::ValueType::INT32, {}};
    for (int64_t v : {(pairs + 2) / 3, (pairs + 1) / 3, pairs / 3, int64_t{0}}) {
      sections.elems.emplace_back(static_cast<int32_t>(v));
    }
    l.set(key("rope.dimension_sections"), gguf::Value(std::move(sections)));
    l.set(key("ssm.conv_kernel"), u32(o.ssm_d_conv));
    l.set(key("ssm.state_size"), u32(o.ssm_d_state));
    l.set(key("ssm.group_count"), u32(o.ssm_n_group));
    l.set(key("ssm.time_step_rank"), u32(o.ssm_dt_rank));
    l.set(key("ssm.inner_size"), u32(o.ssm_d_state * o.ssm_dt_rank));
    l.set(key("full_attention_interval"), u32(o.full_attention_interval));
    if (o.n_mtp > 0) l.set(key("nextn_predict_layers"), u32(o.n_mtp));
  }
  if (arch.metadata != nullptr) arch.metadata(o, l);
  l.set("general.file_type", u32(file_type_of(o.weight_type)));
  if (o.n_expert > 0) l.set(key("expert_count"), u32(o.n_expert));
  if (arch.expert_ff_key) l.set(key("expert_feed_forward_length"), u32(o.n_ff));
  if (arch.shared_expert) {
    l.set(key("expert_shared_feed_forward_length"),
          u32(o.n_ff_shared > 0 ? o.n_ff_shared : o.n_ff));
  }
  l.set("general.quantization_version", u32(2));

  if (hf != nullptr) {
    add_hf_vocab_metadata(*hf, l);
    return;
  }
  // Converter order: model, pre, tokens, scores, types, merges, special ids, flags.
  l.set("tokenizer.ggml.model", gguf::Value(vocab.model));
  if (!vocab.pre.empty()) l.set("tokenizer.ggml.pre", gguf::Value(vocab.pre));
  gguf::Array tokens{gguf::ValueType::STRING, {}}, scores{gguf::ValueType::FLOAT32, {}},
      types{gguf::ValueType::INT32, {}};
  tokens.elems.reserve(vocab.tokens.size());
  scores.elems.reserve(vocab.scores.size());
  types.elems.reserve(vocab.tokens.size());
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    tokens.elems.emplace_back(vocab.tokens[i]);
    types.elems.emplace_back(vocab.types[i]);
  }
  for (const float s : vocab.scores) scores.elems.emplace_back(s);
  l.set("tokenizer.ggml.tokens", gguf::Value(std::move(tokens)));
  if (!vocab.scores.empty()) l.set("tokenizer.ggml.scores", gguf::Value(std::move(scores)));
  l.set("tokenizer.ggml.token_type", gguf::Value(std::move(types)));
  if (!vocab.merges.empty()) {
    gguf::Array merges{gguf::ValueType::STRING, {}};
    merges.elems.reserve(vocab.merges.size());
    for (const std::string& m : vocab.merges) merges.elems.emplace_back(m);
    l.set("tokenizer.ggml.merges", gguf::Value(std::move(merges)));
  }
  for (const auto& [suffix, id] : vocab.special_ids) {
    l.set("tokenizer.ggml." + suffix + "_token_id", u32(id));
  }
  if (vocab.write_add_space_prefix) l.set("tokenizer.ggml.add_space_prefix", gguf::Value(false));
  l.set("tokenizer.ggml.add_bos_token", gguf::Value(vocab.add_bos));
  l.set("tokenizer.ggml.add_eos_token", gguf::Value(false));
}

struct Model {
  gguf::Layout layout;
  std::vector<TensorPlan> plan;  // same order as layout.tensors
};

Result<Model> make_model(const Options& opts) {
  Options o = opts;
  std::optional<HfVocab> hf;
  if (!o.tokenizer_json.empty()) {
    APEX_ASSIGN_OR_RETURN(hf, load_hf_tokenizer(o.tokenizer_json, o.tokenizer_config_json));
    o.n_vocab = static_cast<int64_t>(hf->tokens.size());
  }
  APEX_RETURN_IF_ERROR(validate(o));
  const ArchSpec* arch = find_arch(o.arch);
  APEX_CHECK(arch != nullptr);
  Vocab vocab;
  if (!hf) {
    // The family's own vocabulary kind unless asked for the SentencePiece one.
    if (arch->tokenizer != nullptr && !o.spm_vocab) {
      APEX_ASSIGN_OR_RETURN(vocab, make_bpe_vocab(o.n_vocab, *arch->tokenizer));
    } else {
      APEX_ASSIGN_OR_RETURN(vocab, make_spm_vocab(o.n_vocab));
    }
  }
  Model m;
  m.plan = make_plan(o, *arch);
  add_metadata(o, *arch, vocab, hf ? &*hf : nullptr, m.layout);
  for (const TensorPlan& p : m.plan) m.layout.tensors.push_back(p.info);
  m.layout.assign_offsets();
  for (size_t i = 0; i < m.plan.size(); ++i) m.plan[i].info = m.layout.tensors[i];
  return m;
}

}  // namespace

Status validate(const Options& o) {
  const ArchSpec* arch = find_arch(o.arch);
  if (arch == nullptr) {
    return make_error("synth: unknown architecture '{}' (known: {})", o.arch, arch_name_list());
  }
  if (o.n_layer < 1 || o.n_layer > kMaxLayers) {
    return make_error("synth: n_layer {} out of range 1..{}", o.n_layer, kMaxLayers);
  }
  constexpr int64_t kMaxDim = int64_t{1} << 20;
  auto in_range = [&](int64_t v, int64_t lo, const char* what) -> Status {
    if (v < lo || v > kMaxDim) return make_error("synth: {} {} out of range {}..{}", what, v, lo, kMaxDim);
    return Status::Ok();
  };
  APEX_RETURN_IF_ERROR(in_range(o.n_embd, 1, "n_embd"));
  APEX_RETURN_IF_ERROR(in_range(o.n_head, 1, "n_head"));
  APEX_RETURN_IF_ERROR(in_range(o.n_head_kv, 1, "n_head_kv"));
  APEX_RETURN_IF_ERROR(in_range(o.n_ff, 1, "n_ff"));
  APEX_RETURN_IF_ERROR(in_range(o.context_length, 1, "context_length"));
  if (o.n_head_kv > o.n_head || o.n_head % o.n_head_kv != 0) {
    return make_error("synth: n_head_kv {} must divide n_head {} (grouped-query attention)",
                      o.n_head_kv, o.n_head);
  }
  if (o.head_dim < 0 || o.head_dim > kMaxDim) {
    return make_error("synth: head_dim {} out of range 0..{}", o.head_dim, kMaxDim);
  }
  if (o.head_dim == 0 && o.n_embd % o.n_head != 0) {
    return make_error("synth: n_embd {} is not a multiple of n_head {}; set head_dim", o.n_embd,
                      o.n_head);
  }
  const int64_t hd = resolved_head_dim(o);
  if (!arch->free_head_dim && hd * o.n_head != o.n_embd) {
    return make_error("synth: {} needs head_dim * n_head == n_embd ({} * {} != {})", o.arch, hd,
                      o.n_head, o.n_embd);
  }
  if (hd % 2 != 0) return make_error("synth: head_dim {} must be even (rotary embedding)", hd);
  if (hd * o.n_head > kMaxDim) {
    return make_error("synth: head_dim * n_head = {} is too large", hd * o.n_head);
  }
  if (o.n_expert < 0 || o.n_expert > kMaxExperts) {
    return make_error("synth: n_expert {} out of range 0..{}", o.n_expert, kMaxExperts);
  }
  if (arch->requires_experts && o.n_expert < 1) {
    return make_error("synth: {} needs n_expert >= 1", o.arch);
  }
  if (o.n_expert > 0 && (o.n_expert_used < 1 || o.n_expert_used > o.n_expert)) {
    return make_error("synth: n_expert_used {} out of range 1..n_expert ({})", o.n_expert_used,
                      o.n_expert);
  }
  if (o.n_ff_shared < 0 || o.n_ff_shared > kMaxDim) {
    return make_error("synth: n_ff_shared {} out of range 0..{}", o.n_ff_shared, kMaxDim);
  }
  if (o.n_ff_shared > 0 && !arch->shared_expert) {
    return make_error("synth: n_ff_shared applies only to qwen2moe and qwen35moe (arch is {})",
                      o.arch);
  }
  if (o.n_mtp != 0 && !arch->delta_net_hybrid && !arch->mtp_blocks) {
    return make_error("synth: n_mtp applies only to qwen35moe and glm4moe (arch is {})", o.arch);
  }
  if (arch->delta_net_hybrid) {
    if (o.ssm_d_conv < 2 || o.ssm_d_conv > 64) {
      return make_error("synth: ssm_d_conv {} out of range 2..64", o.ssm_d_conv);
    }
    APEX_RETURN_IF_ERROR(in_range(o.ssm_d_state, 1, "ssm_d_state"));
    if (o.ssm_n_group < 1 || o.ssm_dt_rank < 1 || o.ssm_dt_rank % o.ssm_n_group != 0) {
      return make_error("synth: ssm_dt_rank {} (value heads) must be a positive multiple of "
                        "ssm_n_group {} (key heads)",
                        o.ssm_dt_rank, o.ssm_n_group);
    }
    if (o.ssm_d_state * (2 * o.ssm_n_group + o.ssm_dt_rank) > kMaxDim) {
      return make_error("synth: ssm channels are too many");
    }
    if (o.full_attention_interval < 1 || o.full_attention_interval > kMaxLayers) {
      return make_error("synth: full_attention_interval {} out of range 1..{}",
                        o.full_attention_interval, kMaxLayers);
    }
    if (o.n_mtp < 0 || o.n_mtp > 1) {
      return make_error("synth: n_mtp {} out of range 0..1 (llama.cpp runs one MTP block)", o.n_mtp);
    }
    const int64_t rd = resolved_rope_dim(o);
    if (rd < 2 || rd % 2 != 0 || rd > resolved_head_dim(o)) {
      return make_error("synth: rope_dim {} must be even and in 2..head_dim ({})", rd,
                        resolved_head_dim(o));
    }
  }
  if (o.n_vocab < kMinVocab || o.n_vocab > (int64_t{1} << 24)) {
    return make_error("synth: n_vocab {} out of range {}..{}", o.n_vocab, kMinVocab,
                      int64_t{1} << 24);
  }
  if (o.weight_type != quant::TypeId::F32 && o.weight_type != quant::TypeId::F16 &&
      o.weight_type != quant::TypeId::BF16) {
    return make_error("synth: weight type must be F32, F16 or BF16 (got type id {})",
                      static_cast<int>(o.weight_type));
  }
  if (!(o.rms_eps > 0.0f) || !std::isfinite(o.rms_eps)) {
    return make_error("synth: rms_eps {} must be a positive number", o.rms_eps);
  }
  if (!(o.rope_freq_base > 0.0f) || !std::isfinite(o.rope_freq_base)) {
    return make_error("synth: rope_freq_base {} must be a positive number", o.rope_freq_base);
  }
  if (o.n_threads < 0) return make_error("synth: n_threads {} must be >= 0", o.n_threads);
  if (arch->validate != nullptr) return arch->validate(o);
  return Status::Ok();
}

Result<gguf::Layout> make_layout(const Options& opts) {
  APEX_ASSIGN_OR_RETURN(Model m, make_model(opts));
  return std::move(m.layout);
}

Status tensor_values(const Options& opts, std::string_view tensor_name, int64_t begin,
                     std::span<float> out) {
  APEX_RETURN_IF_ERROR(validate(opts));
  const std::vector<TensorPlan> plan = make_plan(opts, *find_arch(opts.arch));
  for (const TensorPlan& p : plan) {
    if (p.info.name != tensor_name) continue;
    if (begin < 0 || begin + static_cast<int64_t>(out.size()) > p.info.n_elements()) {
      return make_error("synth: elements [{}, {}) out of range for {} ({} elements)", begin,
                        begin + static_cast<int64_t>(out.size()), tensor_name,
                        p.info.n_elements());
    }
    fill_values(p, begin, out);
    return Status::Ok();
  }
  return make_error("synth: the {} model has no tensor '{}'", opts.arch, tensor_name);
}

Status write_model(const Options& opts, const std::string& out_path, const ProgressFn& progress) {
  APEX_ASSIGN_OR_RETURN(Model model, make_model(opts));
  const std::vector<TensorPlan>& plan = model.plan;

  // Work items: slabs of tensors in file order. Workers fill a ring of
  // slots; this thread writes them strictly in order, so generation of the
  // next slabs overlaps with writing the current one.
  struct Item {
    size_t tensor;
    int64_t begin, count;
    bool last;  // last slab of its tensor
  };
  std::vector<Item> items;
  uint64_t total_bytes = 0;
  for (size_t t = 0; t < plan.size(); ++t) {
    const int64_t n = plan[t].info.n_elements();
    for (int64_t b = 0; b < n; b += kSlabElements) {
      const int64_t c = std::min(kSlabElements, n - b);
      items.push_back({t, b, c, b + c == n});
    }
    total_bytes += plan[t].info.nbytes;
  }

  APEX_ASSIGN_OR_RETURN(std::unique_ptr<gguf::Writer> writer,
                        gguf::Writer::create(out_path, std::move(model.layout)));

  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t n_workers =
      std::min<size_t>(opts.n_threads > 0 ? static_cast<size_t>(opts.n_threads) : hw, items.size());
  const size_t n_slots = 2 * std::max<size_t>(n_workers, 1);
  struct Slot {
    std::vector<uint8_t> bytes;
    size_t item = SIZE_MAX;  // index of the item it holds, once filled
  };
  std::vector<Slot> slots(n_slots);
  std::mutex mu;
  std::condition_variable filled, freed;
  size_t consumed = 0;  // items written so far
  bool abort = false;
  std::atomic<size_t> next{0};

  auto worker = [&] {
    std::vector<float> values;
    for (;;) {
      const size_t k = next.fetch_add(1);
      if (k >= items.size()) return;
      {
        // Slot k % n_slots is free once item k - n_slots has been written.
        std::unique_lock lock(mu);
        freed.wait(lock, [&] { return abort || k < consumed + n_slots; });
        if (abort) return;
      }
      const Item& it = items[k];
      const TensorPlan& p = plan[it.tensor];
      values.resize(static_cast<size_t>(it.count));
      fill_values(p, it.begin, values);
      Slot& s = slots[k % n_slots];
      encode(static_cast<quant::TypeId>(p.info.type), values, s.bytes);
      {
        std::lock_guard lock(mu);
        s.item = k;
      }
      filled.notify_all();
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n_workers; ++i) threads.emplace_back(worker);

  Status status;
  uint64_t done_bytes = 0;
  for (size_t k = 0; k < items.size() && status.ok(); ++k) {
    Slot& s = slots[k % n_slots];
    {
      std::unique_lock lock(mu);
      filled.wait(lock, [&] { return s.item == k; });
    }
    status = writer->write(s.bytes);
    if (status.ok() && items[k].last) status = writer->end_tensor();
    done_bytes += s.bytes.size();
    {
      std::lock_guard lock(mu);
      consumed = k + 1;
      if (!status.ok()) abort = true;
    }
    freed.notify_all();
    if (status.ok() && progress) progress(done_bytes, total_bytes, plan[items[k].tensor].info.name);
  }
  for (std::thread& t : threads) t.join();
  if (!status.ok()) return status;
  return writer->finish();
}

}  // namespace apex::synth
