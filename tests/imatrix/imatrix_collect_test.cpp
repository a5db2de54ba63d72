// apex's imatrix collector on the tiny trained qwen2moe model:
//  - the first layer's attn_q/k/v statistics equal an independent reference
//    (rmsnorm(token embedding) * attn_norm from the dequantized weights,
//    summed in double) within 1e-4 relative;
//  - counts follow llama-imatrix's rules (rows per 2-D weight, routed
//    (token, slot) rows per expert, chunk metadata);
//  - llama_model_quantize driven by our imatrix writes the same bytes as
//    apex quantize with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "engine/tokenizer/tokenizer.h"
#include "engine/weights.h"
#include "imatrix/collect.h"
#include "imatrix/imatrix.h"
#include "oracle/oracle.h"
#include "pipeline/quantize_model.h"
#include "plan/ftype.h"
#include "quant/type_table.h"

namespace apex::imatrix {
namespace {

namespace fs = std::filesystem;

const std::string kModels = std::string(APEX_SHARED_DIR) + "/models";
const std::string kModel = kModels + "/tiny-moe-f16.gguf";
const std::string kCalib = kModels + "/tiny-moe-calib.txt";
constexpr int64_t kCtx = 128;
constexpr int kChunks = 3;

fs::path scratch() {
  static fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("apex_imatrix_collect_" + std::to_string(getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Fixture {
  std::unique_ptr<engine::Model> model;
  std::vector<int32_t> tokens;
  Imatrix m;
};

// One collection shared by the tests (the forward passes are the slow part).
const Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    auto model = engine::load_model(kModel);
    EXPECT_TRUE(model.ok()) << model.message();
    f.model = std::move(model).value();
    auto tk = tok::Tokenizer::from_file(*f.model->file);
    EXPECT_TRUE(tk.ok()) << tk.message();
    f.tokens = tk->tokenize(read_text(kCalib), /*add_special=*/true, /*parse_special=*/false);
    CollectOptions opts;
    opts.n_ctx = kCtx;
    opts.n_chunks = kChunks;
    opts.dataset = "tiny-moe-calib.txt";
    auto m = collect(*f.model, f.tokens, opts);
    EXPECT_TRUE(m.ok()) << m.message();
    f.m = std::move(m).value();
    return f;
  }();
  return f;
}

bool have_files() { return fs::exists(kModel) && fs::exists(kCalib); }

TEST(ImatrixCollect, FirstLayerQkvInputsMatchReference) {
  if (!have_files()) GTEST_SKIP() << "tiny-moe files not present in " << kModels;
  const Fixture& f = fixture();
  const engine::Model& model = *f.model;
  const int64_t E = model.config.n_embd;
  const engine::Weight& embd = model.weights.token_embd;
  const engine::Weight& norm = model.weights.layers[0].attn_norm;
  const int32_t bos = tok::Tokenizer::from_file(*model.file)->vocab().bos;
  // Reference: sum over the chunks' tokens (BOS at each chunk start) of
  // (rmsnorm(embedding) * attn_norm)^2 per column, in double.
  std::vector<double> sum2(static_cast<size_t>(E), 0.0);
  std::vector<float> row(static_cast<size_t>(E));
  int64_t count = 0;
  for (int c = 0; c < kChunks; ++c) {
    for (int64_t i = 0; i < kCtx; ++i) {
      const int32_t id = i == 0 ? bos : f.tokens[static_cast<size_t>(c * kCtx + i)];
      quant::traits(embd.type).dequantize(embd.row(id), row.data(), E);
      double ms = 0;
      for (float v : row) ms += static_cast<double>(v) * v;
      const double scale = 1.0 / std::sqrt(ms / E + model.config.rms_eps);
      for (int64_t j = 0; j < E; ++j) {
        const double h = row[j] * scale * norm.f32()[j];
        sum2[j] += h * h;
      }
      ++count;
    }
  }
  for (const char* name : {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"}) {
    const Entry* e = f.m.find_entry(name);
    ASSERT_NE(e, nullptr) << name;
    ASSERT_EQ(e->counts, std::vector<int64_t>{count}) << name;
    ASSERT_EQ(e->values.size(), sum2.size());
    double worst = 0;
    for (int64_t j = 0; j < E; ++j) {
      const double ref = sum2[j] / count;
      worst = std::max(worst, std::abs(e->values[j] - ref) / ref);
    }
    EXPECT_LT(worst, 1e-4) << name;
    RecordProperty(std::string(name) + "_max_rel", std::to_string(worst));
  }
}

TEST(ImatrixCollect, CountsFollowLlamaImatrix) {
  if (!have_files()) GTEST_SKIP();
  const Fixture& f = fixture();
  const auto& c = f.model->config;
  const int64_t n_tokens = kCtx * kChunks;
  EXPECT_EQ(f.m.format, Format::kGguf);
  EXPECT_EQ(f.m.chunk_count, kChunks);
  EXPECT_EQ(f.m.chunk_size, kCtx);
  EXPECT_EQ(f.m.datasets, std::vector<std::string>{"tiny-moe-calib.txt"});
  EXPECT_EQ(f.m.find_entry("output.weight"), nullptr);  // llama-imatrix's default
  EXPECT_EQ(f.m.find_entry("token_embd.weight"), nullptr);
  // Per layer: q k v o, 3 expert tensors, 3 shared-expert tensors, the
  // router and the shared-expert gate (both matrix products in llama.cpp).
  EXPECT_EQ(f.m.entries.size(), static_cast<size_t>(c.n_layer * 12));
  for (int il = 0; il < c.n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    for (const char* dense : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate_inp",
                              "ffn_gate_inp_shexp", "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp"}) {
      const Entry* e = f.m.find_entry(b + dense + ".weight");
      ASSERT_NE(e, nullptr) << b << dense;
      EXPECT_EQ(e->counts, std::vector<int64_t>{n_tokens}) << b << dense;
    }
    const Entry* up = f.m.find_entry(b + "ffn_up_exps.weight");
    ASSERT_NE(up, nullptr);
    ASSERT_EQ(up->n_mat(), c.n_expert);
    EXPECT_EQ(up->sums.size(), static_cast<size_t>(c.n_expert * c.n_embd));
    int64_t routed = 0;
    for (int64_t n : up->counts) routed += n;
    EXPECT_EQ(routed, n_tokens * c.n_expert_used) << b;
    for (const char* t : {"ffn_gate_exps", "ffn_down_exps"}) {
      const Entry* e = f.m.find_entry(b + t + ".weight");
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(e->counts, up->counts) << b << t;
    }
  }
}

TEST(ImatrixCollect, FilesRoundTrip) {
  if (!have_files()) GTEST_SKIP();
  const Fixture& f = fixture();
  const fs::path g = scratch() / "rt.imatrix.gguf", d = scratch() / "rt.imatrix.dat";
  ASSERT_TRUE(save_gguf(f.m, g.string()).ok());
  ASSERT_TRUE(save_dat(f.m, d.string()).ok());
  auto lg = load(g.string());
  auto ld = load(d.string());
  ASSERT_TRUE(lg.ok()) << lg.message();
  ASSERT_TRUE(ld.ok()) << ld.message();
  EXPECT_EQ(lg->chunk_count, kChunks);
  EXPECT_EQ(ld->chunk_count, kChunks);
  ASSERT_EQ(lg->entries.size(), f.m.entries.size());
  for (const Entry& e : f.m.entries) {
    ASSERT_NE(lg->find(e.name), nullptr) << e.name;
    EXPECT_EQ(*lg->find(e.name), e.values) << e.name;
    const auto* dv = ld->find(e.name);
    ASSERT_NE(dv, nullptr) << e.name;
    ASSERT_EQ(dv->size(), e.values.size());
    for (size_t i = 0; i < dv->size(); ++i) {
      ASSERT_NEAR((*dv)[i], e.values[i], 1e-5 * std::abs(e.values[i])) << e.name << " " << i;
    }
  }
}

TEST(ImatrixCollect, TooFewTokensIsAnError) {
  if (!have_files()) GTEST_SKIP();
  const Fixture& f = fixture();
  CollectOptions opts;
  opts.n_ctx = 128;
  std::vector<int32_t> few(f.tokens.begin(), f.tokens.begin() + 200);
  auto m = collect(*f.model, few, opts);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("need at least 256"), std::string::npos) << m.message();
}

std::vector<uint8_t> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(ImatrixCollect, OracleQuantizeWithOurImatrixMatchesApex) {
  if (!have_files()) GTEST_SKIP();
  const Fixture& f = fixture();
  const fs::path im = scratch() / "tiny.imatrix.gguf";
  ASSERT_TRUE(save_gguf(f.m, im.string()).ok());
  for (const char* ftype_name : {"Q4_K_M", "IQ2_XXS"}) {
    auto ftype = plan::parse_ftype(ftype_name);
    ASSERT_TRUE(ftype.ok()) << ftype.message();
    const fs::path ours = scratch() / (std::string("apex-") + ftype_name + ".gguf");
    const fs::path theirs = scratch() / (std::string("oracle-") + ftype_name + ".gguf");
    pipeline::QuantizeJob job;
    job.input = kModel;
    job.output = ours.string();
    job.ftype = *ftype;
    job.imatrix_path = im.string();
    job.threads = 2;
    auto r = pipeline::quantize_model(job);
    ASSERT_TRUE(r.ok()) << r.message();

    oracle::QuantizeParams p = oracle::default_quantize_params();
    p.nthread = 2;
    p.ftype = static_cast<int32_t>((*ftype)->ftype);
    oracle::ImatrixParams ip;
    ASSERT_TRUE(ip.load(im.string()));
    ip.apply(p);
    ASSERT_EQ(oracle::model_quantize(kModel, theirs.string(), p), 0u) << ftype_name;
    const auto a = read_all(ours), b = read_all(theirs);
    EXPECT_GT(a.size(), 0u);
    EXPECT_TRUE(a == b) << ftype_name << ": apex " << a.size() << " bytes vs oracle " << b.size();
  }
}

}  // namespace
}  // namespace apex::imatrix
