// The type choice against llama.cpp's own: for every ftype, a range of
// architectures, layer counts, row lengths and options, apex must pick the
// same type for every tensor as llama_quant_compute_types (the function
// llama_model_quantize uses, exported by libllama for tests), refuse the same
// tensors, fail where it fails, and fall back where it logs a fallback.
//
// That entry point runs with has_imatrix = false and takes the tensors in the
// order given; llama_rules_full_path_test.cpp covers the imatrix, the order and
// the model-type detection through the whole llama_model_quantize.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model_builder.h"
#include "oracle/oracle.h"
#include "plan/ftype.h"
#include "plan/llama_rules.h"
#include "quant/type_table.h"

namespace apex::plan {
namespace {

using testing::ArchSpec;
using testing::Shape;

constexpr int32_t kTypeCount = 43;  // GGML_TYPE_COUNT: "no explicit type"

const ArchSpec kArchs[] = {
    {"llama (MHA, tied)", "llama", 0, 8, 8, true},
    {"llama (GQA 4)", "llama", 0, 32, 8, false},
    {"mixtral (8 experts)", "llama", 8, 32, 8, false},
    {"qwen2moe", "qwen2moe", 60, 16, 16, false},
    {"qwen3moe", "qwen3moe", 128, 32, 4, false},
    {"qwen3moe (tied, GQA 2)", "qwen3moe", 128, 16, 8, true},
    {"deepseek2", "deepseek2", 64, 16, 16, false},
    {"qwen35moe", "qwen35moe", 256, 16, 2, false},
    {"falcon", "falcon", 0, 8, 1, false},
    {"bailingmoe3", "bailingmoe3", 16, 8, 2, false},
    {"gemma3n (tied)", "gemma3n", 0, 8, 2, true},
    {"gpt-oss (MXFP4 experts)", "gpt-oss", 32, 64, 8, false},
    {"glm4moe", "glm4moe", 128, 24, 8, false},
    {"nemotron_h_moe", "nemotron_h_moe", 16, 8, 2, false},
    {"gemma4 (tied, 26B-like)", "gemma4", 128, 16, 2, true},
};

const Shape kShapes[] = {
    {"rows of 256", 256, 512},
    {"rows of 32 only", 96, 160},
    {"rows below 32", 40, 48},
    {"ffn_down rows of 32", 256, 96},
};

// Options as apex takes them plus the same options for llama.cpp.
struct Variant {
  const char* label = "";
  bool pure = false;
  bool only_copy = false;
  bool leave_output = false;
  int32_t output_type = kTypeCount;
  int32_t token_embd_type = kTypeCount;
  std::vector<const char*> overrides = {};  // --tensor-type items
};

const Variant kVariants[] = {
    {.label = "default"},
    {.label = "pure", .pure = true},
    {.label = "--output-tensor-type q4_K", .output_type = 12},
    {.label = "--token-embedding-type q5_K", .token_embd_type = 13},
    {.label = "token iq4_nl + output q8_0", .output_type = 8, .token_embd_type = 20},
    {.label = "--leave-output-tensor", .leave_output = true},
    // First match wins; patterns are lower-cased; "output" also finds
    // attn_output; q2_K falls back where rows are not multiples of 256.
    {.label = "--tensor-type list",
     .overrides = {"blk\\.0\\.=q8_0", "ATTN_V=Q6_K", "exps=q2_K", "per_layer_token_embd=q4_0",
                   "output=iq4_nl", "ffn_down=f16"}},
    {.label = "pure + explicit types + --tensor-type",
     .pure = true,
     .output_type = 1,
     .token_embd_type = 8,
     .overrides = {"ffn_down=q5_K", "per_layer_token_embd=tq2_0"}},
    {.label = "--tensor-type with token embedding type",
     .token_embd_type = 14,
     .overrides = {"per_layer_token_embd=q4_1", "ffn_up=iq3_xxs"}},
    {.label = "COPY", .only_copy = true},
};

struct Prepared {
  QuantizeOptions options;
  oracle::QuantizeParams params;
  std::vector<oracle::TensorTypeOverride> tt;  // terminated by {nullptr, 43}
};

// Fills `p` in place: p.tt points into p.options' pattern strings.
void prepare(const Variant& v, const FtypeInfo& ftype, Prepared& p) {
  p.options.ftype = ftype.ftype;
  p.options.pure = v.pure;
  p.options.only_copy = v.only_copy;
  p.options.quantize_output_tensor = !v.leave_output;
  if (v.output_type != kTypeCount) p.options.output_tensor_type = quant::TypeId(v.output_type);
  if (v.token_embd_type != kTypeCount) {
    p.options.token_embedding_type = quant::TypeId(v.token_embd_type);
  }
  for (const char* item : v.overrides) {
    const Status st = p.options.overrides.add(item);
    EXPECT_TRUE(st.ok()) << st.message();
  }
  p.params = oracle::default_quantize_params();
  p.params.ftype = static_cast<int32_t>(ftype.ftype);
  p.params.pure = v.pure;
  p.params.only_copy = v.only_copy;
  p.params.quantize_output_tensor = !v.leave_output;
  p.params.output_tensor_type = v.output_type;
  p.params.token_embedding_type = v.token_embd_type;
  // llama-quantize hands over the lower-cased pattern and the parsed type.
  for (const auto& o : p.options.overrides.items()) {
    p.tt.push_back({o.pattern.c_str(), static_cast<int32_t>(o.type)});
  }
  if (!p.tt.empty()) {
    p.tt.push_back({nullptr, kTypeCount});
    p.params.tt_overrides = p.tt.data();
  }
}

// "warning: NAME - ncols ... (required for type T) [...] -> falling back to U"
std::map<std::string, std::pair<int32_t, int32_t>> parse_fallbacks(const std::string& log) {
  std::map<std::string, std::pair<int32_t, int32_t>> out;
  size_t pos = 0;
  while ((pos = log.find("warning: ", pos)) != std::string::npos) {
    const size_t line_end = log.find('\n', pos);
    const std::string line = log.substr(pos, line_end - pos);
    pos = line_end == std::string::npos ? log.size() : line_end;
    const size_t req = line.find("(required for type ");
    const size_t fb = line.find("falling back to ");
    if (req == std::string::npos || fb == std::string::npos) continue;
    auto token_after = [&](size_t at) {
      while (at < line.size() && line[at] == ' ') ++at;
      size_t end = at;
      while (end < line.size() && line[end] != ' ' && line[end] != ')') ++end;
      return line.substr(at, end - at);
    };
    const std::string name = token_after(9);
    out[name] = {oracle::type_id_from_ggml_name(token_after(req + 19)),
                 oracle::type_id_from_ggml_name(token_after(fb + 16))};
  }
  return out;
}

struct Sweep {
  int cases = 0;
  int tensors = 0;
  int failures = 0;
  int llama_errors = 0;   // cases where llama.cpp refuses (apex must too)
  int fallbacks = 0;      // fallbacks logged by llama.cpp
  std::map<int32_t, int> chosen;  // how often each type was chosen

  // Compares one case; returns false (and reports) on any difference.
  void compare(const std::string& where, const ModelFacts& facts,
               const std::vector<oracle::TensorSpec>& specs, const oracle::QuantTypeModel& model,
               const Variant& v, const FtypeInfo& ftype) {
    ++cases;
    Prepared p;
    prepare(v, ftype, p);
    const oracle::TensorTypes want = model.compute(p.params, /*capture_log=*/true);
    const std::vector<TensorDesc> descs = testing::to_descs(specs);
    const auto got = choose_tensor_types(facts, descs, p.options);
    const std::string ctx = where + ", " + ftype.name + ", " + v.label;
    if (!want.ok) {
      ++llama_errors;
      if (got.ok()) fail(ctx + ": llama.cpp fails (" + want.error + ") but apex chose types");
      return;
    }
    if (!got.ok()) {
      fail(ctx + ": apex fails (" + got.message() + ") but llama.cpp chose types");
      return;
    }
    const auto fallbacks = parse_fallbacks(want.log);
    this->fallbacks += static_cast<int>(fallbacks.size());
    for (int32_t t : want.types) ++chosen[t];
    size_t n_fell_back = 0;
    for (size_t i = 0; i < specs.size(); ++i) {
      ++tensors;
      const TensorChoice& c = (*got)[i];
      const int32_t ours = static_cast<int32_t>(c.type);
      if (c.allows_quantization != want.allows[i]) {
        fail(ctx + ": " + specs[i].name + ": allows_quantization " +
             std::to_string(c.allows_quantization) + ", llama.cpp " + std::to_string(want.allows[i]));
      }
      if (ours != want.types[i]) {
        fail(ctx + ": " + specs[i].name + ": apex " + quant::type_name(c.type) + ", llama.cpp " +
             oracle::type_traits(want.types[i])->type_name);
      }
      if (c.fell_back) {
        ++n_fell_back;
        auto it = fallbacks.find(specs[i].name);
        if (it == fallbacks.end()) {
          fail(ctx + ": " + specs[i].name + ": apex fell back, llama.cpp logged no fallback");
        } else if (it->second.first != static_cast<int32_t>(c.fallback_from) ||
                   it->second.second != ours) {
          fail(ctx + ": " + specs[i].name + ": fallback differs from llama.cpp's log");
        }
      }
    }
    if (n_fell_back != fallbacks.size()) {
      fail(ctx + ": apex fell back " + std::to_string(n_fell_back) + " times, llama.cpp " +
           std::to_string(fallbacks.size()));
    }
  }

  void fail(const std::string& what) {
    if (++failures <= 25) ADD_FAILURE() << what;
  }
};

TEST(LlamaRulesOracle, EveryFtypeArchitectureLayerCountAndOptionMatchesLlamaCpp) {
  const auto start = std::chrono::steady_clock::now();
  Sweep sweep;
  for (const ArchSpec& arch : kArchs) {
    std::vector<uint32_t> layer_counts = {1, 2, 3, 7, 8, 24, 32, 48};
    // llama with grouped KV heads and 80 layers is llama.cpp's "70B" label.
    if (std::string(arch.arch) == "llama" && arch.n_expert == 0) layer_counts.push_back(80);
    for (const Shape& shape : kShapes) {
      for (uint32_t n_layer : layer_counts) {
        const auto converter_order = testing::build_tensors(arch, shape, n_layer);
        const auto sorted = testing::in_llama_order(converter_order);
        const std::string arch_s = arch.arch;
        ModelFacts facts;
        facts.arch = arch.arch;
        facts.n_layer = n_layer;
        facts.n_expert = arch.n_expert;
        facts.n_head = arch.n_head;
        facts.n_head_kv = arch.n_head_kv;
        facts.n_embd = static_cast<uint32_t>(shape.n_embd);
        facts.n_ff = static_cast<uint32_t>(shape.n_ff);
        // The mock model of llama_quant_model_from_metadata labels only llama
        // with 80 layers and grouped KV heads as 70B (is_70b_model is checked
        // against the full load in llama_rules_full_path_test.cpp).
        facts.is_70b = arch_s == "llama" && n_layer == 80 && arch.n_head != arch.n_head_kv;
        const oracle::QuantModelDesc desc{arch.arch,
                                          static_cast<uint32_t>(shape.n_embd),
                                          static_cast<uint32_t>(shape.n_ff),
                                          n_layer,
                                          arch.n_head,
                                          arch.n_head_kv,
                                          arch.n_expert,
                                          static_cast<uint32_t>(shape.n_embd) / arch.n_head,
                                          static_cast<uint32_t>(shape.n_embd) / arch.n_head};
        const oracle::QuantTypeModel sorted_model(desc, sorted);
        const oracle::QuantTypeModel unsorted_model(desc, converter_order);
        const std::string where = std::string(arch.label) + ", " + shape.label + ", " +
                                  std::to_string(n_layer) + " layers";
        // Every option on small models; the layer-position rules on all sizes.
        const bool all_variants = n_layer <= 8;
        for (const FtypeInfo& ftype : all_ftypes()) {
          if (ftype.is_alias) continue;
          for (const Variant& v : kVariants) {
            const std::string label = v.label;
            if (!all_variants && label != "default" && label != "--tensor-type list") continue;
            sweep.compare(where, facts, sorted, sorted_model, v, ftype);
          }
          // The counters follow the order given, sorted or not.
          sweep.compare(where + " (converter order)", facts, converter_order, unsorted_model,
                        kVariants[0], ftype);
        }
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("compared %d cases, %d tensor choices in %.1f s; llama.cpp refused %d cases, "
              "logged %d fallbacks, chose %zu distinct types\n",
              sweep.cases, sweep.tensors, seconds, sweep.llama_errors, sweep.fallbacks,
              sweep.chosen.size());
  EXPECT_EQ(sweep.failures, 0) << "(first 25 shown)";
  EXPECT_GT(sweep.cases, 10000);
  // The sweep reaches the interesting paths: failures, fallbacks, and nearly
  // every quantized type as a target.
  EXPECT_GT(sweep.llama_errors, 0);
  EXPECT_GT(sweep.fallbacks, 1000);
  EXPECT_GE(sweep.chosen.size(), 25u);
}

// Tensors whose layer llama.cpp cannot read make it fail in MoE models (it
// needs the layer to place experts); apex fails on the same inputs.
TEST(LlamaRulesOracle, UnreadableLayerFailsLikeLlamaCpp) {
  const ArchSpec arch{"qwen3moe", "qwen3moe", 8, 8, 2, false};
  struct Case {
    const char* name;
    std::vector<int64_t> ne;
  };
  const Case cases[] = {
      {"ffn_down_exps.weight", {256, 256, 8}},     // no blk. prefix
      {"blk.9.ffn_up_exps.weight", {256, 256, 8}},  // beyond 4 layers
      {"blk.-1.ffn_gate.weight", {256, 256}},       // negative
      {"blk. 2.ffn_down.weight", {256, 256}},       // sscanf skips the space: fine
      {"blk.x.ffn_down.weight", {256, 256}},
  };
  for (const Case& c : cases) {
    auto specs = testing::build_tensors(arch, {"", 256, 256}, 4);
    specs.push_back({c.name, c.ne, testing::kF16});
    const oracle::QuantModelDesc desc{arch.arch, 256, 256, 4, 8, 2, 8, 32, 32};
    const oracle::QuantTypeModel model(desc, specs);
    ModelFacts facts;
    facts.arch = arch.arch;
    facts.n_layer = 4;
    facts.n_expert = 8;
    facts.n_head = 8;
    facts.n_head_kv = 2;
    for (Ftype f : {Ftype::Q4_K_M, Ftype::IQ2_XXS, Ftype::MXFP4_MOE, Ftype::F16}) {
      const FtypeInfo& info = *find_ftype(f);
      Prepared p;
      prepare(kVariants[0], info, p);
      const oracle::TensorTypes want = model.compute(p.params);
      const auto got = choose_tensor_types(facts, testing::to_descs(specs), p.options);
      EXPECT_EQ(got.ok(), want.ok) << c.name << " " << info.name << ": llama.cpp says '"
                                   << want.error << "', apex '"
                                   << (got.ok() ? std::string("ok") : got.message()) << "'";
      if (got.ok() && want.ok) {
        for (size_t i = 0; i < specs.size(); ++i) {
          EXPECT_EQ(static_cast<int32_t>((*got)[i].type), want.types[i]) << specs[i].name;
        }
      }
    }
  }
}

// Odd names and shapes at the edges of the eligibility and category tests.
TEST(LlamaRulesOracle, EdgeNamesAndShapesMatchLlamaCpp) {
  std::vector<oracle::TensorSpec> specs = {
      {"token_embd.weight", {256, 64}, 1},
      {"blk.0.attn_v.weight", {256, 1}, 1},          // ne1 == 1: effectively 1-D
      {"blk.0.attn_k.weight", {256, 1, 4}, 1},       // 3-D with a unit middle dim
      {"blk.0.attn_q.weight", {256, 4, 1, 1}, 1},    // 4-D with unit trailing dims
      {"abcde", {256, 4}, 1},                        // 5 chars: passes "ends with weight"
      {"abcdef", {256, 4}, 1},
      {"weight", {256, 4}, 1},
      {"blk.0.weights", {256, 4}, 1},
      {"blk.0.xattn_v.weight.weight", {256, 4}, 1},
      {"blk.0.attn_kv_b.weight", {512, 4}, 1},
      {"blk.0.attn_qkv.weight", {512, 4}, 1},
      {"blk.0.ffn_gate_inp_shexp.weight", {256, 4}, 1},
      {"blk.0.ffn_gate_tid2eid.weight", {256, 4}, 26},  // i32 routing table
      {"position_embd.weight", {256, 4}, 1},
      {"token_types.weight", {256, 4}, 1},
      {"enc.position_embd.weight", {256, 4}, 1},
      {"v.patch_embd.weight", {256, 4}, 1},
      {"blk.0.ssm_conv1d.weight", {256, 4}, 1},
      {"blk.0.time_mix_w1.weight", {256, 4}, 1},
      {"blk.0.attn_output.weight", {256, 4}, 30},
      {"blk.0.ffn_down.weight", {256, 4}, 8},   // already Q8_0
      {"blk.1.ffn_down.weight", {256, 4}, 0},   // F32
      {"blk.1.ffn_up_shexp.weight", {256, 4}, 1},
      {"output.weight", {256, 64}, 1},
  };
  const oracle::QuantModelDesc desc{"llama", 256, 256, 2, 8, 2, 0, 32, 32};
  const oracle::QuantTypeModel model(desc, specs);
  ModelFacts facts;
  facts.arch = "llama";
  facts.n_layer = 2;
  facts.n_head = 8;
  facts.n_head_kv = 2;
  int compared = 0;
  for (const FtypeInfo& ftype : all_ftypes()) {
    if (ftype.is_alias) continue;
    for (const Variant& v : kVariants) {
      Prepared p;
    prepare(v, ftype, p);
      const oracle::TensorTypes want = model.compute(p.params);
      const auto got = choose_tensor_types(facts, testing::to_descs(specs), p.options);
      ASSERT_EQ(got.ok(), want.ok) << ftype.name << " " << v.label << ": " << want.error;
      if (!got.ok()) continue;
      for (size_t i = 0; i < specs.size(); ++i) {
        EXPECT_EQ((*got)[i].allows_quantization, want.allows[i]) << specs[i].name;
        EXPECT_EQ(static_cast<int32_t>((*got)[i].type), want.types[i])
            << specs[i].name << " " << ftype.name << " " << v.label;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 5000);
}

}  // namespace
}  // namespace apex::plan
