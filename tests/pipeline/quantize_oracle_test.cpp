// apex quantize vs llama_model_quantize on the same input and parameters:
// the whole output file must be byte-identical (same tensors, order, types,
// data, metadata and padding), and the oracle must compute the same logits
// from our file as from its own.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>

#include "gguf/gguf.h"
#include "imatrix/imatrix.h"
#include "oracle/oracle.h"
#include "pipeline/quantize_model.h"
#include "plan/ftype.h"
#include "quant/type_table.h"
#include "synth/random_imatrix.h"
#include "synth/synth.h"
#include "support/temp_dir.h"

namespace apex::pipeline {
namespace {

namespace fs = std::filesystem;

fs::path scratch_dir() {
  static fs::path dir = [] {
    return apex::test_support::process_scratch("apex_quantize_oracle");  // removed at exit
  }();
  return dir;
}

std::vector<uint8_t> read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// Explains the first difference between two GGUF files in terms of keys and
// tensors, so a failure says what differs rather than at which byte.
std::string explain_difference(const fs::path& ours, const fs::path& theirs) {
  auto a = gguf::File::open(ours.string());
  auto b = gguf::File::open(theirs.string());
  if (!a.ok() || !b.ok()) return "cannot open: " + (a.ok() ? b.message() : a.message());
  const auto& ka = (*a)->kvs();
  const auto& kb = (*b)->kvs();
  for (size_t i = 0; i < std::max(ka.size(), kb.size()); ++i) {
    if (i >= ka.size()) return "missing key " + kb[i].key;
    if (i >= kb.size()) return "extra key " + ka[i].key;
    if (ka[i].key != kb[i].key) return fmt::format("key #{}: {} vs {}", i, ka[i].key, kb[i].key);
    if (ka[i].value.to_string(1000) != kb[i].value.to_string(1000))
      return fmt::format("key {}: {} vs {}", ka[i].key, ka[i].value.to_string(), kb[i].value.to_string());
  }
  const auto& ta = (*a)->tensors();
  const auto& tb = (*b)->tensors();
  for (size_t i = 0; i < std::max(ta.size(), tb.size()); ++i) {
    if (i >= ta.size()) return "missing tensor " + tb[i].name;
    if (i >= tb.size()) return "extra tensor " + ta[i].name;
    if (ta[i].name != tb[i].name) return fmt::format("tensor #{}: {} vs {}", i, ta[i].name, tb[i].name);
    if (ta[i].type != tb[i].type)
      return fmt::format("tensor {}: type {} vs {}", ta[i].name,
                         quant::type_name(static_cast<quant::TypeId>(ta[i].type)),
                         quant::type_name(static_cast<quant::TypeId>(tb[i].type)));
    auto da = (*a)->tensor_data(ta[i]);
    auto db = (*b)->tensor_data(tb[i]);
    if (da.size() != db.size() || std::memcmp(da.data(), db.data(), da.size()) != 0)
      return fmt::format("tensor {} ({}): data differs", ta[i].name,
                         quant::type_name(static_cast<quant::TypeId>(ta[i].type)));
  }
  return "header/padding bytes differ";
}

struct Case {
  std::string label;
  synth::Options model;
};

std::vector<Case> models() {
  std::vector<Case> out;
  synth::Options a;  // qwen2moe: shared experts, all rows multiples of 256
  a.arch = "qwen2moe"; a.n_layer = 3; a.n_embd = 256; a.n_head = 4; a.n_head_kv = 2;
  a.n_expert = 5; a.n_expert_used = 2; a.n_ff = 256; a.n_ff_shared = 512; a.n_vocab = 512;
  out.push_back({"qwen2moe_3l_5e", a});
  synth::Options b;  // qwen3moe with an awkward width: rows of 320 force fallbacks
  b.arch = "qwen3moe"; b.n_layer = 8; b.n_embd = 320; b.n_head = 5; b.n_head_kv = 1; b.head_dim = 64;
  b.n_expert = 3; b.n_expert_used = 1; b.n_ff = 96; b.n_vocab = 384;
  out.push_back({"qwen3moe_8l_3e_w320", b});
  synth::Options c;  // dense llama, one layer
  c.arch = "llama"; c.n_layer = 1; c.n_embd = 256; c.n_head = 4; c.n_head_kv = 4;
  c.n_expert = 0; c.n_ff = 768; c.n_vocab = 300;
  out.push_back({"llama_dense_1l", c});
  synth::Options d;  // Mixtral-style llama: 48 layers, 7 experts, rows of 128 and 64
  d.arch = "llama"; d.n_layer = 48; d.n_embd = 128; d.n_head = 4; d.n_head_kv = 2;
  d.n_expert = 7; d.n_expert_used = 2; d.n_ff = 64; d.n_vocab = 260;
  out.push_back({"mixtral_48l_7e_w128", d});
  return out;
}

const fs::path& model_path(const Case& c) {
  static std::map<std::string, fs::path> cache;
  auto it = cache.find(c.label);
  if (it != cache.end()) return it->second;
  fs::path p = scratch_dir() / (c.label + ".gguf");
  Status s = synth::write_model(c.model, p.string());
  EXPECT_TRUE(s.ok()) << s.message();
  return cache[c.label] = p;
}

// An imatrix with positive, heavy-tailed values for every matrix of a model,
// saved in llama.cpp's GGUF format, and the entries llama-quantize would pass.
struct ImatrixFixture {
  fs::path path;
  imatrix::Imatrix loaded;
};

ImatrixFixture make_imatrix(const fs::path& model) {
  auto file = gguf::File::open(model.string());
  EXPECT_TRUE(file.ok());
  synth::RandomImatrixOptions options;
  options.seed = 3;
  options.chunk_count = 7;
  options.dataset = "synthetic-calibration.txt";
  const imatrix::Imatrix m = synth::random_imatrix(**file, options);
  ImatrixFixture f;
  f.path = model.parent_path() / (model.stem().string() + ".imatrix.gguf");
  Status s = imatrix::save_gguf(m, f.path.string());
  EXPECT_TRUE(s.ok()) << s.message();
  auto loaded = imatrix::load(f.path.string());
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  f.loaded = std::move(loaded).value();
  return f;
}

struct OracleRun {
  uint32_t rc = 1;
};

// Runs llama_model_quantize with the parameters llama-quantize would pass for
// the same command line.
// Flags beyond the ftype, as llama-quantize spells them.
struct Extra {
  bool pure = false;
  bool leave_output_tensor = false;
  std::optional<quant::TypeId> output_tensor_type, token_embedding_type;
};

uint32_t run_oracle(const fs::path& in, const fs::path& out, const plan::FtypeInfo& ftype,
                    const std::vector<std::pair<std::string, quant::TypeId>>& overrides,
                    const ImatrixFixture* imat, const Extra& extra = {}) {
  oracle::QuantizeParams p = oracle::default_quantize_params();
  p.nthread = 2;
  p.ftype = static_cast<int32_t>(ftype.ftype);
  p.only_copy = ftype.only_copy;
  p.pure = extra.pure;
  p.quantize_output_tensor = !extra.leave_output_tensor;
  if (extra.output_tensor_type) p.output_tensor_type = static_cast<int32_t>(*extra.output_tensor_type);
  if (extra.token_embedding_type) p.token_embedding_type = static_cast<int32_t>(*extra.token_embedding_type);
  std::vector<oracle::TensorTypeOverride> tt;
  for (const auto& [pattern, type] : overrides) tt.push_back({pattern.c_str(), static_cast<int32_t>(type)});
  tt.push_back({nullptr, 0});
  if (overrides.size()) p.tt_overrides = tt.data();
  oracle::ImatrixParams imatrix_params;
  if (imat != nullptr) {
    EXPECT_TRUE(imatrix_params.load(imat->path.string()));
    imatrix_params.apply(p);
  }
  return oracle::model_quantize(in.string(), out.string(), p);
}

Result<QuantizeReport> run_apex(const fs::path& in, const fs::path& out, const plan::FtypeInfo& ftype,
                                const std::vector<std::pair<std::string, quant::TypeId>>& overrides,
                                const ImatrixFixture* imat, const Extra& extra = {}) {
  QuantizeJob job;
  job.input = in.string();
  job.output = out.string();
  job.ftype = &ftype;
  job.rules.pure = extra.pure;
  job.rules.quantize_output_tensor = !extra.leave_output_tensor;
  job.rules.output_tensor_type = extra.output_tensor_type;
  job.rules.token_embedding_type = extra.token_embedding_type;
  for (const auto& [pattern, type] : overrides) {
    Status s = job.rules.overrides.add(pattern + "=" + quant::type_name(type));
    if (!s.ok()) return s.error();
  }
  if (imat != nullptr) job.imatrix_path = imat->path.string();
  job.threads = 2;
  return quantize_model(job);
}

// How many comparisons ended in two files (identical or not) versus two refusals,
// so a test cannot pass by both sides failing every time.
struct Tally {
  int compared = 0;
  int both_refused = 0;
  int logits_checked = 0;
  std::vector<std::string> refusals;  // apex's message for each case both refused
};
Tally g_tally;

void expect_same_as_oracle(const Case& c, const plan::FtypeInfo& ftype,
                           const std::vector<std::pair<std::string, quant::TypeId>>& overrides,
                           const ImatrixFixture* imat, const std::string& tag, const Extra& extra = {},
                           bool check_logits = false) {
  const fs::path& in = model_path(c);
  const fs::path ours = scratch_dir() / fmt::format("{}-{}-{}.apex.gguf", c.label, ftype.name, tag);
  const fs::path theirs = scratch_dir() / fmt::format("{}-{}-{}.oracle.gguf", c.label, ftype.name, tag);
  const uint32_t rc = run_oracle(in, theirs, ftype, overrides, imat, extra);
  auto report = run_apex(in, ours, ftype, overrides, imat, extra);
  if (rc != 0) {
    EXPECT_FALSE(report.ok()) << "oracle refused " << ftype.name << " but apex wrote a file";
    EXPECT_FALSE(fs::exists(ours)) << "a failed run left an output file";
    ++g_tally.both_refused;
    if (!report.ok()) g_tally.refusals.push_back(report.message());
    return;
  }
  ASSERT_TRUE(report.ok()) << report.message();
  ++g_tally.compared;
  const auto a = read_all(ours);
  const auto b = read_all(theirs);
  EXPECT_TRUE(a == b) << c.label << " " << ftype.name << " " << tag << ": "
                      << explain_difference(ours, theirs) << " (sizes " << a.size() << " vs " << b.size() << ")";
  if (check_logits) {
    // Identical bytes give identical logits; what is left to prove is that
    // llama.cpp loads and runs the file (every tensor type has a kernel).
    std::vector<int32_t> tokens;
    for (int i = 0; i < 16; ++i) tokens.push_back(1 + (i * 37) % 250);
    auto l = oracle::eval_logits(ours.string(), tokens);
    EXPECT_TRUE(l.ok) << l.error;
    bool finite = l.ok && !l.logits.empty();
    for (float v : l.logits) finite = finite && std::isfinite(v);
    EXPECT_TRUE(finite) << "non-finite logits from " << ours;
    ++g_tally.logits_checked;
  }
  if (a == b) {
    fs::remove(ours);
    fs::remove(theirs);
  }
}

const std::vector<std::string> kIssueFtypes = {"F32",    "F16",    "BF16",   "Q4_0",   "Q4_1",
                                               "Q5_0",   "Q5_1",   "Q8_0",   "Q2_K",   "Q2_K_S",
                                               "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M",
                                               "Q5_K_S", "Q5_K_M", "Q6_K",   "COPY"};

class QuantizeOracle : public ::testing::TestWithParam<size_t> {};

TEST_P(QuantizeOracle, EveryFtypeWithoutImatrixIsByteIdentical) {
  ASSERT_TRUE(oracle::available());
  const Case c = models()[GetParam()];
  g_tally = {};
  for (const auto& name : kIssueFtypes) {
    SCOPED_TRACE(name);
    auto f = plan::parse_ftype(name);
    ASSERT_TRUE(f.ok());
    expect_same_as_oracle(c, **f, {}, nullptr, "plain");
  }
  // Only Q2_K_S can need an imatrix among these (not where every row falls
  // back to another type); both tools must then refuse it.
  EXPECT_LE(g_tally.both_refused, 1);
  EXPECT_GE(g_tally.compared, static_cast<int>(kIssueFtypes.size()) - 1);
}

TEST_P(QuantizeOracle, EveryFtypeWithImatrixIsByteIdentical) {
  ASSERT_TRUE(oracle::available());
  const Case c = models()[GetParam()];
  const ImatrixFixture imat = make_imatrix(model_path(c));
  g_tally = {};
  for (const auto& name : kIssueFtypes) {
    SCOPED_TRACE(name);
    auto f = plan::parse_ftype(name);
    ASSERT_TRUE(f.ok());
    expect_same_as_oracle(c, **f, {}, &imat, "imatrix");
  }
  EXPECT_EQ(g_tally.both_refused, 0);
}

TEST_P(QuantizeOracle, MixedTensorTypesPerLayerAndRoleAreByteIdentical) {
  ASSERT_TRUE(oracle::available());
  const Case c = models()[GetParam()];
  using quant::TypeId;
  // Like an APEX tensor-type file: experts by layer, attention and shared
  // experts by role, everything else from the base ftype.
  const std::vector<std::pair<std::string, TypeId>> overrides = {
      {"blk\\.0\\.ffn_(gate|up|down)_exps", TypeId::Q8_0},
      {"blk\\.[1-2]\\.ffn_down_exps", TypeId::Q6_K},
      {"ffn_(gate|up)_exps", TypeId::Q3_K},
      {"ffn_down_exps", TypeId::Q4_K},
      {"_shexp", TypeId::Q5_K},
      {"attn_(q|k)", TypeId::Q4_0},
      {"attn_v", TypeId::Q5_1},
      {"attn_output", TypeId::Q2_K},
      {"ffn_(gate|up|down)\\.weight", TypeId::Q4_1},
      {"output\\.weight", TypeId::Q6_K},
      {"token_embd", TypeId::Q5_0},
  };
  const ImatrixFixture imat = make_imatrix(model_path(c));
  for (const char* base : {"Q4_K_M", "Q8_0", "Q2_K"}) {
    SCOPED_TRACE(base);
    auto f = plan::parse_ftype(base);
    ASSERT_TRUE(f.ok());
    expect_same_as_oracle(c, **f, overrides, nullptr, "mixed");
    expect_same_as_oracle(c, **f, overrides, &imat, "mixed-imatrix");
  }
}

// The i-quant, ternary and FP4 ftypes (issue 4), each with llama.cpp's own
// per-tensor mixture, with an imatrix: same file as llama_model_quantize, and
// the oracle loads ours and computes finite logits from it.
TEST_P(QuantizeOracle, IQuantTernaryAndFp4FtypesWithImatrixAreByteIdentical) {
  ASSERT_TRUE(oracle::available());
  const Case c = models()[GetParam()];
  const ImatrixFixture imat = make_imatrix(model_path(c));
  g_tally = {};
  for (const char* name : {"IQ4_NL", "IQ4_XS", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ2_XXS", "IQ2_XS",
                           "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0", "MXFP4_MOE", "Q1_0", "Q2_0"}) {
    SCOPED_TRACE(name);
    auto f = plan::parse_ftype(name);
    ASSERT_TRUE(f.ok());
    expect_same_as_oracle(c, **f, {}, &imat, "iq", {}, /*check_logits=*/true);
  }
  // llama.cpp defines no fallback type for Q1_0 (blocks of 128); on models
  // whose rows it does not divide both tools must refuse, for that reason.
  for (const auto& why : g_tally.refusals) {
    EXPECT_NE(why.find("Q1_0"), std::string::npos) << why;
    EXPECT_NE(why.find("no fallback"), std::string::npos) << why;
  }
  EXPECT_LE(g_tally.both_refused, 1);
  EXPECT_EQ(g_tally.logits_checked + g_tally.both_refused, 17);
}

// Tensor-type files that put every issue-4 type on some tensor of every
// model: the rotation gives each role a different type per pass, so over the
// passes each type lands on experts, attention, embeddings and output alike
// (and on rows it does not divide, where llama.cpp's fallbacks apply).
TEST_P(QuantizeOracle, TensorTypeFilesUsingEveryNewTypeAreByteIdentical) {
  ASSERT_TRUE(oracle::available());
  const Case c = models()[GetParam()];
  using quant::TypeId;
  const std::vector<std::string> roles = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps", "_shexp",
                                          "attn_q",        "attn_k",      "attn_v",        "attn_output",
                                          "ffn_(gate|up|down)\\.weight", "output\\.weight", "token_embd"};
  const std::vector<TypeId> types = {TypeId::IQ4_NL, TypeId::IQ4_XS, TypeId::IQ3_XXS, TypeId::IQ3_S,
                                     TypeId::IQ2_XXS, TypeId::IQ2_XS, TypeId::IQ2_S,  TypeId::IQ1_S,
                                     TypeId::IQ1_M,  TypeId::TQ1_0,  TypeId::TQ2_0,  TypeId::MXFP4,
                                     TypeId::NVFP4,  TypeId::Q1_0,   TypeId::Q2_0};
  const ImatrixFixture imat = make_imatrix(model_path(c));
  auto f = plan::parse_ftype("Q4_K_M");
  ASSERT_TRUE(f.ok());
  g_tally = {};
  std::set<TypeId> used;
  for (size_t pass = 0; pass < 3; ++pass) {
    std::vector<std::pair<std::string, TypeId>> overrides;
    for (size_t r = 0; r < roles.size(); ++r) {
      const TypeId t = types[(r + pass * 5) % types.size()];
      overrides.push_back({roles[r], t});
      used.insert(t);
    }
    SCOPED_TRACE(pass);
    expect_same_as_oracle(c, **f, overrides, &imat, fmt::format("every-type-{}", pass), {},
                          /*check_logits=*/pass == 0);
  }
  EXPECT_EQ(used.size(), types.size());
  // Only llama.cpp's missing fallbacks (NVFP4, Q1_0 on rows they do not
  // divide) may make both tools refuse a pass.
  for (const auto& why : g_tally.refusals) EXPECT_NE(why.find("no fallback"), std::string::npos) << why;
  EXPECT_LE(g_tally.both_refused, 1);
  EXPECT_EQ(g_tally.compared + g_tally.both_refused, 3);
}

TEST_P(QuantizeOracle, PureOutputAndEmbeddingTypeOptionsAreByteIdentical) {
  ASSERT_TRUE(oracle::available());
  const Case c = models()[GetParam()];
  using quant::TypeId;
  std::vector<std::pair<std::string, Extra>> variants;
  variants.push_back({"pure", Extra{true, false, std::nullopt, std::nullopt}});
  variants.push_back({"leave-output", Extra{false, true, std::nullopt, std::nullopt}});
  variants.push_back({"output-q8-embd-q4_0", Extra{false, false, TypeId::Q8_0, TypeId::Q4_0}});
  variants.push_back({"output-q6k-embd-q2k", Extra{false, false, TypeId::Q6_K, TypeId::Q2_K}});
  g_tally = {};
  for (const char* base : {"Q4_K_M", "Q3_K_S", "Q5_1"}) {
    auto f = plan::parse_ftype(base);
    ASSERT_TRUE(f.ok());
    for (const auto& [tag, extra] : variants) {
      SCOPED_TRACE(std::string(base) + " " + tag);
      // llama.cpp applies these two explicit types without the row-length
      // fallback; where the block does not divide the row it aborts the whole
      // process (a GGML_ASSERT), so the oracle cannot be asked. apex must refuse
      // with an error instead.
      bool misfit = false;
      for (auto t : {extra.output_tensor_type, extra.token_embedding_type})
        if (t && c.model.n_embd % quant::traits(*t).block_size != 0) misfit = true;
      if (misfit) {
        const fs::path out = scratch_dir() / (c.label + "-misfit.gguf");
        auto report = run_apex(model_path(c), out, **f, {}, nullptr, extra);
        EXPECT_FALSE(report.ok());
        EXPECT_FALSE(fs::exists(out));
        continue;
      }
      expect_same_as_oracle(c, **f, {}, nullptr, tag, extra);
    }
  }
  EXPECT_GT(g_tally.compared, 0);
}

TEST_P(QuantizeOracle, OracleComputesTheSameLogitsFromOurFile) {
  ASSERT_TRUE(oracle::available());
  const Case c = models()[GetParam()];
  const fs::path& in = model_path(c);
  auto f = plan::parse_ftype("Q4_K_M");
  ASSERT_TRUE(f.ok());
  const fs::path ours = scratch_dir() / (c.label + "-logits.apex.gguf");
  const fs::path theirs = scratch_dir() / (c.label + "-logits.oracle.gguf");
  ASSERT_EQ(run_oracle(in, theirs, **f, {}, nullptr), 0u);
  auto report = run_apex(in, ours, **f, {}, nullptr);
  ASSERT_TRUE(report.ok()) << report.message();
  std::vector<int32_t> tokens;
  for (int i = 0; i < 48; ++i) tokens.push_back(1 + (i * 37) % 250);
  auto la = oracle::eval_logits(ours.string(), tokens);
  auto lb = oracle::eval_logits(theirs.string(), tokens);
  ASSERT_TRUE(la.ok) << la.error;
  ASSERT_TRUE(lb.ok) << lb.error;
  ASSERT_EQ(la.logits.size(), lb.logits.size());
  EXPECT_EQ(std::memcmp(la.logits.data(), lb.logits.data(), la.logits.size() * sizeof(float)), 0);
  for (float v : la.logits) ASSERT_TRUE(std::isfinite(v));
}

// The trained qwen2moe test model in ../shared with its reference imatrix
// (legacy .dat): a real model's weight and importance distributions.
TEST(QuantizeOracleTinyMoe, TrainedModelWithReferenceImatrixIsByteIdentical) {
  ASSERT_TRUE(oracle::available());
  const fs::path model = fs::path(APEX_SHARED_DIR) / "models" / "tiny-moe-f16.gguf";
  const fs::path dat = fs::path(APEX_SHARED_DIR) / "models" / "tiny-moe-calib.imatrix.dat";
  if (!fs::exists(model)) GTEST_SKIP() << "no " << model << " (../shared/models not present)";
  ImatrixFixture imat;
  imat.path = dat;
  auto loaded = imatrix::load(dat.string());
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  imat.loaded = std::move(loaded).value();
  Case c{"tiny-moe", {}};
  g_tally = {};
  for (const char* name : {"Q8_0", "Q4_K_M", "Q3_K_M", "Q2_K_S", "Q5_K_S", "Q4_0"}) {
    SCOPED_TRACE(name);
    auto f = plan::parse_ftype(name);
    ASSERT_TRUE(f.ok());
    const fs::path ours = scratch_dir() / fmt::format("tiny-{}.apex.gguf", name);
    const fs::path theirs = scratch_dir() / fmt::format("tiny-{}.oracle.gguf", name);
    ASSERT_EQ(run_oracle(model, theirs, **f, {}, &imat), 0u);
    auto report = run_apex(model, ours, **f, {}, &imat);
    ASSERT_TRUE(report.ok()) << report.message();
    EXPECT_TRUE(read_all(ours) == read_all(theirs)) << explain_difference(ours, theirs);
    fs::remove(ours);
    fs::remove(theirs);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, QuantizeOracle, ::testing::Range<size_t>(0, 4),
                         [](const auto& info) { return models()[info.param].label; });

}  // namespace
}  // namespace apex::pipeline
