#include "plan/llama_rules.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <numeric>
#include <variant>

#include "quant/type_table.h"
#include "util/check.h"

namespace apex::plan {
namespace {

using quant::TypeId;

// ---------------------------------------------------------------------------
// Step 1: eligibility
// ---------------------------------------------------------------------------

// Name fragments of weights llama.cpp never quantizes: norms, the MoE router
// (its logits pick experts, so small errors change routing), integer routing
// tables, and families of tensors that are tiny or precision-sensitive
// (Gemma-3n altup/laurel, SSM/RWKV/conv mixers, T5 relative bias, MiniMax
// indexer, vision and audio front ends).
constexpr std::string_view kNeverQuantizedFragments[] = {
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
};

// Whole names never quantized: learned positions and BERT token types are
// looked up row by row and are small.
constexpr std::string_view kNeverQuantizedNames[] = {
    "position_embd.weight",
    "token_types.weight",
};

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// ggml_n_dims: trailing dimensions of extent 1 do not count, so a [4096, 1]
// "matrix" is 1-D and stays unquantized.
int effective_dims(const std::vector<int64_t>& ne) {
  for (int i = static_cast<int>(ne.size()) - 1; i >= 1; --i) {
    if (ne[static_cast<size_t>(i)] > 1) return i + 1;
  }
  return 1;
}

// ---------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------

struct CategoryPattern {
  bool whole_name;  // exact name, else a fragment anywhere in the name
  std::string_view text;
  TensorCategory category;
};

// First match wins; the order matters only where fragments overlap.
constexpr CategoryPattern kCategoryPatterns[] = {
    {true, "output.weight", TensorCategory::kOutput},
    {true, "token_embd.weight", TensorCategory::kTokenEmbd},
    {true, "per_layer_token_embd.weight", TensorCategory::kTokenEmbd},
    {false, "attn_qkv.weight", TensorCategory::kAttnQkv},
    {false, "attn_kv_b.weight", TensorCategory::kAttnKvB},
    {false, "attn_v.weight", TensorCategory::kAttnV},
    {false, "attn_k.weight", TensorCategory::kAttnK},
    {false, "attn_q.weight", TensorCategory::kAttnQ},
    {false, "attn_output.weight", TensorCategory::kAttnOutput},
    {false, "ffn_up", TensorCategory::kFfnUp},
    {false, "ffn_gate", TensorCategory::kFfnGate},
    {false, "ffn_down", TensorCategory::kFfnDown},
};

// attn_v and the tensors that contain it (fused qkv, MLA kv_b) share rules
// and one counter: they are smaller than attn_q (grouped KV heads) and the
// model is most sensitive to their error.
bool is_attn_v_like(TensorCategory c) {
  return c == TensorCategory::kAttnV || c == TensorCategory::kAttnQkv ||
         c == TensorCategory::kAttnKvB;
}

// ---------------------------------------------------------------------------
// Step 3: the mixture rules, as tables
// ---------------------------------------------------------------------------

// Ftype sets as bit masks over the ftype values (all below 64).
using FtypeSet = uint64_t;
constexpr FtypeSet set_of(std::initializer_list<Ftype> ftypes) {
  FtypeSet s = 0;
  for (Ftype f : ftypes) s |= FtypeSet{1} << static_cast<int>(f);
  return s;
}
constexpr bool in_set(FtypeSet s, Ftype f) {
  const int v = static_cast<int>(f);
  return v >= 0 && v < 64 && ((s >> v) & 1) != 0;
}
constexpr FtypeSet kAnyFtype = ~FtypeSet{0};

// The 1- and 2-bit mixes have their own rule set: their default types are so
// coarse that most upgrades go to Q2_K/IQ3_S/Q4_K rather than one step up.
constexpr FtypeSet kLowBitMixes = set_of({Ftype::IQ2_XXS, Ftype::IQ2_XS, Ftype::IQ1_S,
                                          Ftype::IQ2_S, Ftype::IQ2_M, Ftype::IQ1_M});
// Which low-bit mixes upgrade to IQ3_S (they already use IQ2_S/XS grids)
// rather than to Q2_K.
constexpr FtypeSet kLowBitToIq3s = set_of({Ftype::IQ2_S, Ftype::IQ2_M});
constexpr FtypeSet kLowBitToQ2k =
    set_of({Ftype::IQ2_XXS, Ftype::IQ2_XS, Ftype::IQ1_S, Ftype::IQ1_M});

// Conditions a rule may add to its ftype set; all listed must hold. "pos" and
// "n" are the tensor's position and the count it is measured against, which
// depend on the category (see Position below).
enum When : uint32_t {
  kAlways = 0,
  kGqa4 = 1u << 0,         // n_gqa >= 4: attn_v is at most a quarter of attn_q
  kExperts4 = 1u << 1,     // n_expert >= 4
  kExperts8 = 1u << 2,     // n_expert == 8 (Mixtral-like)
  kNotExperts8 = 1u << 3,
  kFalcon = 1u << 4,       // architecture "falcon"
  kNotFalcon = 1u << 5,
  kImatrix = 1u << 6,      // an imatrix was given
  kNoImatrix = 1u << 7,
  kFirst8th = 1u << 8,     // pos < n/8
  kFirst16th = 1u << 9,    // pos < n/16
  kMoreBits = 1u << 10,    // first and last eighth, and every third in between
  kMiddle = 1u << 11,      // n/8 <= pos < 7n/8
  kPosBelow2 = 1u << 12,   // pos < 2
  kPosBelow4 = 1u << 13,   // pos < 4
};

struct Rule {
  FtypeSet ftypes;
  uint32_t when;  // When flags
  TypeId type;
};

// Everything a condition looks at.
struct RuleContext {
  Ftype ftype;
  const ModelFacts& model;
  bool falcon;
  bool has_imatrix;
  int pos = 0;
  int n = 0;
};

// llama.cpp's use_more_bits: spend bits on the first and last eighth of the
// layers, where errors hurt most, and on every third layer in between.
bool use_more_bits(int pos, int n) {
  return pos < n / 8 || pos >= 7 * n / 8 || (pos - n / 8) % 3 == 2;
}

bool holds(uint32_t when, const RuleContext& c) {
  const uint32_t gqa = c.model.n_gqa();
  const uint32_t n_expert = c.model.n_expert;
  const std::pair<uint32_t, bool> checks[] = {
      {kGqa4, gqa >= 4},
      {kExperts4, n_expert >= 4},
      {kExperts8, n_expert == 8},
      {kNotExperts8, n_expert != 8},
      {kFalcon, c.falcon},
      {kNotFalcon, !c.falcon},
      {kImatrix, c.has_imatrix},
      {kNoImatrix, !c.has_imatrix},
      {kFirst8th, c.pos < c.n / 8},
      {kFirst16th, c.pos < c.n / 16},
      {kMoreBits, use_more_bits(c.pos, c.n)},
      {kMiddle, c.pos >= c.n / 8 && c.pos < 7 * c.n / 8},
      {kPosBelow2, c.pos < 2},
      {kPosBelow4, c.pos < 4},
  };
  for (const auto& [flag, ok] : checks) {
    if ((when & flag) != 0 && !ok) return false;
  }
  return true;
}

// The first rule whose ftype set and conditions match decides; no match
// keeps `current`. Upstream each ftype appears in at most one branch of a
// category's if/else chain, so "first matching rule" is the same decision.
TypeId apply_rules(std::span<const Rule> rules, const RuleContext& c, TypeId current) {
  for (const Rule& r : rules) {
    if (in_set(r.ftypes, c.ftype) && holds(r.when, c)) return r.type;
  }
  return current;
}

// --- token_embd (when not tied to output): it is only gathered row by row,
// so the low-bit mixes still give it a few more bits than their default.
constexpr Rule kTokenEmbdRules[] = {
    {kLowBitToQ2k, kAlways, TypeId::Q2_K},
    {set_of({Ftype::IQ2_S, Ftype::IQ2_M, Ftype::IQ3_XXS}), kAlways, TypeId::IQ3_S},
    {set_of({Ftype::TQ1_0, Ftype::TQ2_0, Ftype::Q2_0}), kAlways, TypeId::Q4_K},
};

// --- The low-bit mixes. pos for attn_v is its ordinal among attn_v-like
// tensors; for ffn_down it is its ordinal among ffn_down tensors (not its
// layer, even in MoE models), measured against the block count.
constexpr Rule kLowBitAttnV[] = {
    {kLowBitMixes, kGqa4, TypeId::Q4_K},
    {kLowBitMixes, kExperts4, TypeId::Q4_K},
    {kLowBitToIq3s, kAlways, TypeId::IQ3_S},
    {kLowBitToQ2k, kAlways, TypeId::Q2_K},
};
constexpr Rule kLowBitAttnK[] = {
    {kLowBitMixes, kExperts8, TypeId::Q4_K},
};
constexpr Rule kLowBitFfnDown[] = {
    {kLowBitToIq3s, kFirst8th, TypeId::IQ3_S},
    {kLowBitToQ2k, kFirst8th, TypeId::Q2_K},
};
constexpr Rule kLowBitAttnOutput[] = {
    {kLowBitMixes, kExperts8, TypeId::Q5_K},
    {set_of({Ftype::IQ1_S, Ftype::IQ1_M}), kAlways, TypeId::IQ2_XXS},
    {kLowBitToIq3s, kAlways, TypeId::IQ3_S},
};

// --- Every other mix. attn_v: pos is the ordinal among attn_v-like tensors
// (n = their count). After these rules, 70B models lift Q3_K/Q4_K to Q5_K and
// 8-expert models use Q8_0 (see attn_v_type).
constexpr Rule kAttnV[] = {
    {set_of({Ftype::Q2_K}), kGqa4, TypeId::Q4_K},
    {set_of({Ftype::Q2_K}), kAlways, TypeId::Q3_K},
    {set_of({Ftype::Q2_K_S}), kGqa4, TypeId::Q4_K},
    {set_of({Ftype::IQ3_XXS}), kGqa4, TypeId::Q4_K},
    {set_of({Ftype::IQ3_XXS}), kNoImatrix, TypeId::IQ3_S},
    {set_of({Ftype::IQ3_XXS}), kAlways, TypeId::IQ3_XXS},
    {set_of({Ftype::IQ3_XS, Ftype::IQ3_S}), kGqa4, TypeId::Q4_K},
    {set_of({Ftype::IQ3_M}), kAlways, TypeId::Q4_K},
    {set_of({Ftype::Q3_K_M}), kPosBelow2, TypeId::Q5_K},
    {set_of({Ftype::Q3_K_M}), kAlways, TypeId::Q4_K},
    {set_of({Ftype::Q3_K_L}), kAlways, TypeId::Q5_K},
    {set_of({Ftype::IQ4_NL, Ftype::IQ4_XS}), kGqa4, TypeId::Q5_K},
    {set_of({Ftype::Q4_K_M, Ftype::Q5_K_M}), kMoreBits, TypeId::Q6_K},
    {set_of({Ftype::Q4_K_S}), kPosBelow4, TypeId::Q5_K},
};

constexpr Rule kAttnK[] = {
    {kAnyFtype, kExperts8, TypeId::Q8_0},
    {set_of({Ftype::IQ3_XS}), kAlways, TypeId::IQ3_XXS},
    {set_of({Ftype::IQ3_XXS}), kAlways, TypeId::IQ2_S},
};
constexpr Rule kAttnQ[] = {
    {set_of({Ftype::IQ3_XS}), kAlways, TypeId::IQ3_XXS},
    {set_of({Ftype::IQ3_XXS}), kAlways, TypeId::IQ2_S},
};

// ffn_down: pos is the layer (from the name in MoE models, the ordinal among
// ffn_down tensors in dense ones), n the block count. The first layers'
// ffn_down are the most sensitive tensors of a model.
constexpr Rule kFfnDown[] = {
    {set_of({Ftype::Q2_K}), kAlways, TypeId::Q3_K},
    {set_of({Ftype::Q2_K_S}), kFirst8th, TypeId::Q4_K},
    {set_of({Ftype::IQ3_XXS}), kNoImatrix | kFirst8th, TypeId::Q4_K},
    {set_of({Ftype::IQ3_XXS}), kNoImatrix, TypeId::Q3_K},
    {set_of({Ftype::Q3_K_M}), kFirst16th, TypeId::Q5_K},
    {set_of({Ftype::Q3_K_M}), kNotFalcon, TypeId::Q4_K},
    {set_of({Ftype::Q3_K_M}), kMoreBits, TypeId::Q4_K},
    {set_of({Ftype::IQ3_M}), kFirst8th, TypeId::Q4_K},
    {set_of({Ftype::IQ3_M}), kExperts8 | kMoreBits, TypeId::Q4_K},
    {set_of({Ftype::Q3_K_L}), kFalcon, TypeId::Q4_K},
    {set_of({Ftype::Q3_K_L}), kAlways, TypeId::Q5_K},
    {set_of({Ftype::Q4_K_M}), kFalcon | kFirst16th, TypeId::Q6_K},
    {set_of({Ftype::Q4_K_M}), kFalcon | kMoreBits, TypeId::Q5_K},
    {set_of({Ftype::Q4_K_M}), kFalcon, TypeId::Q4_K},
    {set_of({Ftype::Q4_K_M}), kMoreBits, TypeId::Q6_K},
    {set_of({Ftype::IQ4_NL, Ftype::IQ4_XS}), kFirst8th | kNoImatrix, TypeId::Q5_K},
    {set_of({Ftype::Q5_K_M}), kMoreBits, TypeId::Q6_K},
    {set_of({Ftype::Q4_K_S}), kNotFalcon | kFirst8th, TypeId::Q5_K},
    // Only with an imatrix, so that quantizing without one still gives the
    // historical Q4_0/Q5_0 files.
    {set_of({Ftype::Q4_0}), kImatrix | kFirst8th, TypeId::Q4_1},
    {set_of({Ftype::Q5_0}), kImatrix | kFirst8th, TypeId::Q5_1},
};

constexpr FtypeSet kAttnOutputQ5kWith8Experts =
    set_of({Ftype::Q2_K, Ftype::IQ3_XS, Ftype::IQ3_XXS, Ftype::Q3_K_S, Ftype::Q3_K_M,
            Ftype::IQ4_NL, Ftype::Q4_K_S, Ftype::Q4_K_M, Ftype::IQ3_S, Ftype::IQ3_M,
            Ftype::IQ4_XS});
constexpr Rule kAttnOutput[] = {
    {kAttnOutputQ5kWith8Experts, kNotFalcon | kExperts8, TypeId::Q5_K},
    {set_of({Ftype::Q2_K}), kNotFalcon | kNotExperts8, TypeId::Q3_K},
    {set_of({Ftype::IQ3_XXS}), kNotFalcon | kNotExperts8, TypeId::IQ3_S},
    {set_of({Ftype::Q3_K_M}), kNotFalcon | kNotExperts8, TypeId::Q4_K},
    {set_of({Ftype::Q3_K_L}), kNotFalcon | kNotExperts8, TypeId::Q5_K},
    {set_of({Ftype::IQ3_M}), kNotFalcon | kNotExperts8, TypeId::Q4_K},
    {set_of({Ftype::Q3_K_L}), kFalcon, TypeId::Q4_K},
};

// ffn_gate / ffn_up: IQ3_XS drops the middle layers to IQ3_XXS (pos as for
// ffn_down, each with its own counter).
constexpr Rule kFfnGateUp[] = {
    {set_of({Ftype::IQ3_XS}), kMiddle, TypeId::IQ3_XXS},
};

// Upstream also has rules for fused attn_qkv (Q3_K_M/L, IQ3_M -> Q4_K, Q4_K_M
// -> Q5_K, Q5_K_M -> Q6_K) but tests attn_v-like categories first, so they
// never apply; attn_qkv follows the attn_v rules here as it does there.

// Tensors that change shape class once 70B-scale models share 8 query heads
// per KV head: attn_v is 8x smaller than attn_q, so Q5_K costs little there.
TypeId bump_for_70b(TypeId t) {
  return (t == TypeId::Q3_K || t == TypeId::Q4_K) ? TypeId::Q5_K : t;
}

// ---------------------------------------------------------------------------
// Step 4: fallback for rows that do not fit the block size
// ---------------------------------------------------------------------------

struct Fallback {
  TypeId from;
  TypeId to;
};
// 256-element-block types fall back to a 32-block type of similar quality.
constexpr Fallback kFallbacks[] = {
    {TypeId::IQ1_S, TypeId::IQ4_NL},   {TypeId::IQ1_M, TypeId::IQ4_NL},
    {TypeId::IQ2_XXS, TypeId::IQ4_NL}, {TypeId::IQ2_XS, TypeId::IQ4_NL},
    {TypeId::IQ2_S, TypeId::IQ4_NL},   {TypeId::IQ3_XXS, TypeId::IQ4_NL},
    {TypeId::IQ3_S, TypeId::IQ4_NL},   {TypeId::IQ4_XS, TypeId::IQ4_NL},
    {TypeId::Q2_0, TypeId::Q4_0},      {TypeId::Q2_K, TypeId::Q4_0},
    {TypeId::Q3_K, TypeId::Q4_0},      {TypeId::TQ1_0, TypeId::Q4_0},
    {TypeId::TQ2_0, TypeId::Q4_0},     {TypeId::Q4_K, TypeId::Q5_0},
    {TypeId::Q5_K, TypeId::Q5_1},      {TypeId::Q6_K, TypeId::Q8_0},
};

int64_t block_of(TypeId t) { return quant::traits(t).block_size; }

Result<TypeId> fit_row_length(TypeId type, const TensorDesc& t) {
  const int64_t ncols = t.ne.empty() ? 1 : t.ne[0];
  if (ncols % block_of(type) == 0) return type;
  std::optional<TypeId> to;
  for (const Fallback& f : kFallbacks) {
    if (f.from == type) to = f.to;
  }
  if (!to) {
    // A 32-block type has nothing smaller to fall back to: F16 below.
    if (block_of(type) > 32) {
      return make_error(
          "tensor '{}': rows of {} elements do not fit type {} (blocks of {}) and llama.cpp "
          "defines no fallback for it",
          t.name, ncols, quant::type_name(type), block_of(type));
    }
    to = type;
  }
  // Rows not even a multiple of 32 (rare) can only be stored unquantized.
  if (ncols % block_of(*to) != 0) to = TypeId::F16;
  return *to;
}

// ---------------------------------------------------------------------------
// The per-run state and the mixture dispatch
// ---------------------------------------------------------------------------

struct Counters {
  int n_attn_v = 0;  // attn_v-like tensors in the whole list
  int attn_v = 0;    // ordinals of tensors that reached the mixture rules
  int ffn_down = 0;
  int ffn_gate = 0;
  int ffn_up = 0;
};

class Mixer {
 public:
  Mixer(const ModelFacts& model, const QuantizeOptions& options, TypeId default_type,
        bool tied_embeddings, int n_attn_v)
      : model_(model),
        options_(options),
        default_type_(default_type),
        tied_(tied_embeddings),
        falcon_(model.arch == "falcon") {
    counters_.n_attn_v = n_attn_v;
  }

  // The mixture's type for an eligible tensor that no explicit option named.
  Result<TypeId> choose(const TensorDesc& t, TensorCategory cat) {
    const Ftype ftype = options_.ftype;
    // output.weight, and token_embd when it doubles as the output matrix.
    if (cat == TensorCategory::kOutput || (tied_ && cat == TensorCategory::kTokenEmbd)) {
      return output_type(t);
    }
    if (ftype == Ftype::MXFP4_MOE) return mxfp4_moe_type(t, cat);
    RuleContext c = context();
    if (cat == TensorCategory::kTokenEmbd) return apply_rules(kTokenEmbdRules, c, default_type_);
    if (in_set(kLowBitMixes, ftype)) return low_bit_type(cat, c);
    return regular_type(t, cat, c);
  }

 private:
  RuleContext context() const {
    return RuleContext{options_.ftype, model_, falcon_, options_.has_imatrix};
  }

  TypeId output_type(const TensorDesc& t) const {
    // Only reachable for a tied token_embd: output.weight itself returns
    // earlier when --output-tensor-type is given.
    if (options_.output_tensor_type) return *options_.output_tensor_type;
    const Ftype ftype = options_.ftype;
    const int64_t nx = t.ne.empty() ? 1 : t.ne[0];
    if (ftype == Ftype::MXFP4_MOE) return TypeId::Q8_0;
    if (falcon_ || nx % block_of(default_type_) != 0) return TypeId::Q8_0;
    constexpr FtypeSet kQ5kOutput = kLowBitMixes | set_of({Ftype::IQ3_XXS});
    if (in_set(kQ5kOutput, ftype)) return TypeId::Q5_K;
    return default_type_ == TypeId::Q8_0 ? TypeId::Q8_0 : TypeId::Q6_K;
  }

  // MXFP4 is meant for expert weights (3-D, one matrix per expert); every
  // other tensor gets Q8_0. bailingmoe3 also has 3-D attention projections,
  // so there only the ffn roles count as experts.
  TypeId mxfp4_moe_type(const TensorDesc& t, TensorCategory cat) const {
    const bool three_d = t.ne.size() > 2 && t.ne[2] > 1;
    const bool ffn = cat == TensorCategory::kFfnUp || cat == TensorCategory::kFfnGate ||
                     cat == TensorCategory::kFfnDown;
    if (three_d && (model_.arch != "bailingmoe3" || ffn)) return TypeId::MXFP4;
    return TypeId::Q8_0;
  }

  TypeId low_bit_type(TensorCategory cat, RuleContext c) {
    if (is_attn_v_like(cat)) {
      c.pos = counters_.attn_v++;
      c.n = counters_.n_attn_v;
      return apply_rules(kLowBitAttnV, c, default_type_);
    }
    switch (cat) {
      case TensorCategory::kAttnK:
        return apply_rules(kLowBitAttnK, c, default_type_);
      case TensorCategory::kFfnDown:
        c.pos = counters_.ffn_down++;
        c.n = static_cast<int>(model_.n_layer);
        return apply_rules(kLowBitFfnDown, c, default_type_);
      case TensorCategory::kAttnOutput:
        return apply_rules(kLowBitAttnOutput, c, default_type_);
      default:
        return default_type_;
    }
  }

  Result<TypeId> regular_type(const TensorDesc& t, TensorCategory cat, RuleContext c) {
    if (is_attn_v_like(cat)) {
      c.pos = counters_.attn_v++;
      c.n = counters_.n_attn_v;
      TypeId type = apply_rules(kAttnV, c, default_type_);
      if (model_.is_70b) type = bump_for_70b(type);
      // Mixtral-like models: attn_v is tiny next to the experts, so Q8_0
      // costs little.
      if (model_.n_expert == 8) type = TypeId::Q8_0;
      return type;
    }
    switch (cat) {
      case TensorCategory::kAttnK:
        return apply_rules(kAttnK, c, default_type_);
      case TensorCategory::kAttnQ:
        return apply_rules(kAttnQ, c, default_type_);
      case TensorCategory::kAttnOutput:
        return apply_rules(kAttnOutput, c, default_type_);
      case TensorCategory::kFfnDown:
        return ffn_type(t, counters_.ffn_down, kFfnDown, c);
      case TensorCategory::kFfnGate:
        return ffn_type(t, counters_.ffn_gate, kFfnGateUp, c);
      case TensorCategory::kFfnUp:
        return ffn_type(t, counters_.ffn_up, kFfnGateUp, c);
      default:
        return default_type_;
    }
  }

  // The layer of an ffn tensor: in MoE models experts of one layer need not
  // be adjacent, so it is read from the name; dense models count tensors.
  Result<TypeId> ffn_type(const TensorDesc& t, int& counter, std::span<const Rule> rules,
                          RuleContext c) {
    const int n_layer = static_cast<int>(model_.n_layer);
    int layer = counter;
    if (model_.n_expert > 1) {
      const std::optional<int> parsed = layer_of(t.name);
      if (!parsed) {
        return make_error("tensor '{}': cannot tell its layer (expected a name like blk.N.*)",
                          t.name);
      }
      if (*parsed < 0 || *parsed >= n_layer) {
        return make_error("tensor '{}': layer {} is outside the model's {} blocks", t.name,
                          *parsed, n_layer);
      }
      layer = *parsed;
    }
    c.pos = layer;
    c.n = n_layer;
    const TypeId type = apply_rules(rules, c, default_type_);
    ++counter;
    return type;
  }

  const ModelFacts& model_;
  const QuantizeOptions& options_;
  TypeId default_type_;
  bool tied_;
  bool falcon_;
  Counters counters_;
};

// A tensor is already named by --token-embedding-type, except that
// per_layer_token_embd (a large separate table) may be named by a
// --tensor-type pattern instead.
bool token_embedding_type_applies(const TensorDesc& t, TensorCategory cat,
                                  const QuantizeOptions& o) {
  if (!o.token_embedding_type || cat != TensorCategory::kTokenEmbd) return false;
  return !(t.name == "per_layer_token_embd.weight" && o.overrides.match(t.name) != nullptr);
}

bool requires_imatrix(const TensorDesc& t, TypeId type, Ftype ftype) {
  const TensorCategory cat = tensor_category(t.name);
  if (cat == TensorCategory::kTokenEmbd || cat == TensorCategory::kOutput) return false;
  switch (type) {
    case TypeId::IQ3_XXS:
    case TypeId::IQ2_XXS:
    case TypeId::IQ2_XS:
    case TypeId::IQ2_S:
    case TypeId::IQ1_M:
    case TypeId::IQ1_S:
      return true;
    case TypeId::Q2_K:
      // K-quants cope without importance data, except the Q2_K_S mix, which
      // trades its Q3_K/Q4_K upgrades for an imatrix.
      return ftype == Ftype::Q2_K_S;
    default:
      return false;
  }
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Integer reading for metadata: any integer GGUF type that is non-negative
// and fits in 32 bits; arrays give their first element.
std::optional<int64_t> int_value(const gguf::Value& v) {
  if (const auto* arr = v.get_if<gguf::Array>()) {
    if (arr->elems.empty()) return std::nullopt;
    return int_value(arr->elems.front());
  }
  return std::visit(
      [](const auto& x) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
          }
          return static_cast<int64_t>(x);
        } else {
          return std::nullopt;
        }
      },
      v.data);
}

}  // namespace

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

TensorCategory tensor_category(std::string_view name) {
  for (const CategoryPattern& p : kCategoryPatterns) {
    if (p.whole_name ? name == p.text : contains(name, p.text)) return p.category;
  }
  return TensorCategory::kOther;
}

const char* category_name(TensorCategory c) {
  switch (c) {
    case TensorCategory::kTokenEmbd: return "token_embd";
    case TensorCategory::kOutput: return "output";
    case TensorCategory::kAttnQ: return "attn_q";
    case TensorCategory::kAttnK: return "attn_k";
    case TensorCategory::kAttnV: return "attn_v";
    case TensorCategory::kAttnQkv: return "attn_qkv";
    case TensorCategory::kAttnKvB: return "attn_kv_b";
    case TensorCategory::kAttnOutput: return "attn_output";
    case TensorCategory::kFfnUp: return "ffn_up";
    case TensorCategory::kFfnGate: return "ffn_gate";
    case TensorCategory::kFfnDown: return "ffn_down";
    case TensorCategory::kOther: return "other";
  }
  return "?";
}

bool is_70b_model(const ModelFacts& m) {
  struct SizeRule {
    std::string_view arch;
    uint32_t n_layer;       // counted without next-token-prediction blocks
    bool llama_conditions;  // llama also needs grouped KV heads and not 8 experts
  };
  // llama.cpp names model sizes per architecture from the layer count; only
  // these combinations yield the 70B label.
  constexpr SizeRule kRules[] = {
      {"llama", 80, true}, {"llama-embed", 80, true}, {"qwen2", 80, false},
      {"deci", 80, false}, {"olmo", 80, false},       {"jais2", 68, false},
  };
  const uint32_t n_layer = m.n_layer - std::min(m.n_layer, m.n_layer_nextn);
  for (const SizeRule& r : kRules) {
    if (m.arch != r.arch || n_layer != r.n_layer) continue;
    if (!r.llama_conditions) return true;
    return m.n_expert != 8 && m.n_head != m.n_head_kv;
  }
  return false;
}

Result<ModelFacts> model_facts_from_metadata(const MetadataLookup& lookup) {
  ModelFacts f;
  const gguf::Value* arch = lookup("general.architecture");
  const std::string* arch_name = arch != nullptr ? arch->get_if<std::string>() : nullptr;
  if (arch_name == nullptr) return make_error("metadata: general.architecture is missing");
  f.arch = *arch_name;

  // Reads `<arch>.<suffix>`; absent keys leave `out` alone.
  auto read = [&](std::string_view suffix, uint32_t& out) -> Status {
    const std::string key = f.arch + "." + std::string(suffix);
    const gguf::Value* v = lookup(key);
    if (v == nullptr) return Status::Ok();
    const std::optional<int64_t> x = int_value(*v);
    if (!x || *x < 0 || *x > std::numeric_limits<uint32_t>::max()) {
      return make_error("metadata: {} is not a 32-bit unsigned integer", key);
    }
    out = static_cast<uint32_t>(*x);
    return Status::Ok();
  };

  if (lookup(f.arch + ".block_count") == nullptr) {
    return make_error("metadata: {}.block_count is missing", f.arch);
  }
  APEX_RETURN_IF_ERROR(read("block_count", f.n_layer));
  constexpr uint32_t kMaxLayers = 512;  // llama.cpp's LLAMA_MAX_LAYERS
  if (f.n_layer == 0 || f.n_layer > kMaxLayers) {
    return make_error("metadata: {}.block_count = {} (expected 1..{})", f.arch, f.n_layer,
                      kMaxLayers);
  }
  APEX_RETURN_IF_ERROR(read("nextn_predict_layers", f.n_layer_nextn));
  if (f.n_layer_nextn > f.n_layer) {
    return make_error("metadata: {}.nextn_predict_layers = {} exceeds block_count {}", f.arch,
                      f.n_layer_nextn, f.n_layer);
  }
  APEX_RETURN_IF_ERROR(read("expert_count", f.n_expert));
  APEX_RETURN_IF_ERROR(read("attention.head_count", f.n_head));
  f.n_head_kv = f.n_head;  // llama.cpp: KV heads default to query heads
  APEX_RETURN_IF_ERROR(read("attention.head_count_kv", f.n_head_kv));
  APEX_RETURN_IF_ERROR(read("embedding_length", f.n_embd));
  APEX_RETURN_IF_ERROR(read("feed_forward_length", f.n_ff));
  f.is_70b = is_70b_model(f);
  return f;
}

bool tensor_allows_quantization(const TensorDesc& t, const QuantizeOptions& o) {
  if (o.only_copy) return false;
  if (effective_dims(t.ne) < 2) return false;
  const std::string_view name = t.name;
  // Upstream tests "ends with weight" as rfind("weight") == size - 6, which
  // also holds for any 5-character name (npos == 5 - 6 in size_t).
  if (!(name.ends_with("weight") || name.size() == 5)) return false;
  if (!o.quantize_output_tensor && name == "output.weight") return false;
  for (std::string_view part : kNeverQuantizedFragments) {
    if (contains(name, part)) return false;
  }
  for (std::string_view whole : kNeverQuantizedNames) {
    if (name == whole) return false;
  }
  return true;
}

Result<std::vector<TensorChoice>> choose_tensor_types(const ModelFacts& model,
                                                      std::span<const TensorDesc> tensors,
                                                      const QuantizeOptions& options) {
  const FtypeInfo* info = find_ftype(options.ftype);
  if (info == nullptr) {
    return make_error("quantization type {} has no default tensor type",
                      ftype_name(options.ftype));
  }
  if (model.n_layer == 0) return make_error("model '{}' has no layers", model.arch);
  const TypeId default_type = info->default_type;
  // Ids come from files and flags: an unknown one is bad input, not a bug.
  for (const std::optional<TypeId>& explicit_type :
       {options.output_tensor_type, options.token_embedding_type}) {
    if (explicit_type && quant::find_type(static_cast<int32_t>(*explicit_type)) == nullptr) {
      return make_error("unknown tensor type id {}", static_cast<int32_t>(*explicit_type));
    }
  }
  for (const TensorDesc& t : tensors) {
    if (quant::find_type(static_cast<int32_t>(t.type)) == nullptr) {
      return make_error("tensor '{}': unknown type id {}", t.name, static_cast<int32_t>(t.type));
    }
  }

  // Whole-list facts the rules need before the first tensor.
  bool has_output = false;
  int n_attn_v = 0;
  for (const TensorDesc& t : tensors) {
    const TensorCategory cat = tensor_category(t.name);
    if (cat == TensorCategory::kOutput) has_output = true;
    if (is_attn_v_like(cat)) ++n_attn_v;
  }
  Mixer mixer(model, options, default_type, /*tied_embeddings=*/!has_output, n_attn_v);

  std::vector<TensorChoice> out;
  out.reserve(tensors.size());
  for (const TensorDesc& t : tensors) {
    TensorChoice c;
    c.allows_quantization = tensor_allows_quantization(t, options);
    const TensorCategory cat = tensor_category(t.name);
    if (!c.allows_quantization) {
      c.type = t.type;
      c.source = ChoiceSource::kNotQuantized;
    } else if (token_embedding_type_applies(t, cat, options)) {
      // Explicit types are taken as given: no fallback (check_choices flags
      // rows they do not fit).
      c.type = *options.token_embedding_type;
      c.source = ChoiceSource::kTokenEmbeddingType;
    } else if (options.output_tensor_type && cat == TensorCategory::kOutput) {
      c.type = *options.output_tensor_type;
      c.source = ChoiceSource::kOutputTensorType;
    } else {
      TypeId type = default_type;
      c.source = ChoiceSource::kDefault;
      // F32/F16/BF16 ftypes convert every eligible tensor; patterns and the
      // mixture only refine quantized ftypes.
      if (quant::traits(default_type).is_quantized) {
        if (const TypeId* named = options.overrides.match(t.name)) {
          type = *named;
          c.source = ChoiceSource::kOverride;
        } else if (!options.pure) {
          APEX_ASSIGN_OR_RETURN(type, mixer.choose(t, cat));
          c.source = ChoiceSource::kMixture;
        }
        APEX_ASSIGN_OR_RETURN(const TypeId fitted, fit_row_length(type, t));
        if (fitted != type) {
          c.fell_back = true;
          c.fallback_from = type;
        }
        type = fitted;
      }
      c.type = type;
    }
    c.requires_imatrix = requires_imatrix(t, c.type, options.ftype);
    out.push_back(c);
  }
  return out;
}

Status check_choices(std::span<const TensorDesc> tensors, std::span<const TensorChoice> choices,
                     const QuantizeOptions& options) {
  APEX_CHECK(tensors.size() == choices.size(), "{} tensors but {} choices", tensors.size(),
             choices.size());
  // llama.cpp checks the imatrix requirement for every tensor before writing
  // anything, then the rest tensor by tensor.
  if (!options.has_imatrix) {
    // One line that names the first tensor and says how many more there are,
    // so a user sees the scope of the problem without a wall of errors.
    size_t first = tensors.size(), count = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (choices[i].allows_quantization && choices[i].requires_imatrix) {
        if (count++ == 0) first = i;
      }
    }
    if (count > 0) {
      return make_error(
          "tensor '{}'{}: quantizing to {} requires an importance matrix (--imatrix FILE)",
          tensors[first].name,
          count > 1 ? fmt::format(" and {} more tensor{}", count - 1, count > 2 ? "s" : "") : "",
          quant::type_name(choices[first].type));
    }
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorDesc& t = tensors[i];
    const TypeId from = t.type;
    const TypeId to = choices[i].type;
    if (from == to) continue;  // copied as is
    const quant::TypeTraits& src = quant::traits(from);
    if (src.is_quantized && !options.allow_requantize) {
      return make_error("tensor '{}': requantizing from type {} is disabled (--allow-requantize)",
                        t.name, src.name);
    }
    if (!src.is_quantized && from != TypeId::F32 && from != TypeId::F16 &&
        from != TypeId::BF16) {
      return make_error("tensor '{}': cannot convert type {} to {}", t.name, src.name,
                        quant::type_name(to));
    }
    const int64_t ncols = t.ne.empty() ? 1 : t.ne[0];
    if (!quant::row_length_ok(to, ncols)) {
      return make_error("tensor '{}': rows of {} elements do not fit type {} (blocks of {})",
                        t.name, ncols, quant::type_name(to), quant::traits(to).block_size);
    }
  }
  return Status::Ok();
}

Result<TypePlan> plan_types(const ModelFacts& model, std::span<const TensorDesc> file_order,
                            const QuantizeOptions& options) {
  TypePlan plan;
  std::vector<std::string> names;
  names.reserve(file_order.size());
  for (const TensorDesc& t : file_order) names.push_back(t.name);
  plan.order = llama_tensor_order(names);
  plan.tensors.reserve(file_order.size());
  for (size_t i : plan.order) plan.tensors.push_back(file_order[i]);
  APEX_ASSIGN_OR_RETURN(plan.choices, choose_tensor_types(model, plan.tensors, options));
  return plan;
}

std::optional<int> layer_of(std::string_view name) {
  // sscanf's %d: optional white space, an optional sign, at least one digit.
  // glibc converts with strtol (saturating) and keeps the low 32 bits.
  constexpr std::string_view kPrefix = "blk.";
  if (!name.starts_with(kPrefix)) return std::nullopt;
  size_t i = kPrefix.size();
  while (i < name.size() && is_space(name[i])) ++i;
  bool negative = false;
  if (i < name.size() && (name[i] == '+' || name[i] == '-')) {
    negative = name[i] == '-';
    ++i;
  }
  if (i >= name.size() || !is_digit(name[i])) return std::nullopt;
  constexpr uint64_t kLimit = uint64_t{1} << 63;  // |LONG_MIN|
  uint64_t magnitude = 0;
  for (; i < name.size() && is_digit(name[i]); ++i) {
    const uint64_t d = static_cast<uint64_t>(name[i] - '0');
    magnitude = magnitude > (kLimit - d) / 10 ? kLimit : magnitude * 10 + d;
  }
  int64_t value;
  if (negative) {
    value = magnitude >= kLimit ? std::numeric_limits<int64_t>::min()
                                : -static_cast<int64_t>(magnitude);
  } else {
    value = magnitude >= kLimit ? std::numeric_limits<int64_t>::max()
                                : static_cast<int64_t>(magnitude);
  }
  return static_cast<int>(static_cast<uint32_t>(static_cast<uint64_t>(value)));
}

bool llama_tensor_name_less(std::string_view a, std::string_view b) {
  const int la = layer_of(a).value_or(-1);
  const int lb = layer_of(b).value_or(-1);
  if (la != lb) return la < lb;
  return a < b;
}

std::vector<size_t> llama_tensor_order(std::span<const std::string> names) {
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return llama_tensor_name_less(names[x], names[y]);
  });
  return order;
}

}  // namespace apex::plan
