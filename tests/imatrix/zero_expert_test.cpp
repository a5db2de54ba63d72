// Experts without calibration data: coverage reporting and the quantizer's
// zero-expert policy (docs/IMATRIX.md), on the tiny trained qwen2moe model.
//  - coverage(): tokens per expert and the experts without any, from counts
//    written into the test;
//  - matrices_without_data(): GGUF zero counts, .dat all-zero / all-one slices;
//  - policy "plain" (default): the empty expert's bytes equal
//    llama_model_quantize *without* an imatrix, every other expert and tensor
//    equals llama_model_quantize *with* it; the file loads and runs in llama.cpp;
//  - policy "ones": the whole file equals llama_model_quantize with the imatrix;
//  - policy "refuse": one-line error naming the tensor and the expert;
//  - formats that need importance weights (IQ2_XXS) fall back to ones.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "gguf/gguf.h"
#include "imatrix/coverage.h"
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
const std::string kDat = kModels + "/tiny-moe-calib.imatrix.dat";
constexpr int kEmptyExpert = 3;
const char* const kEmptyLayer = "blk.1.";

fs::path scratch() {
  static fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("apex_zero_expert_" + std::to_string(getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

bool have_files() { return fs::exists(kModel) && fs::exists(kDat); }

// The quantized files are tens of MB: remove them when the binary exits.
struct RemoveScratch {
  fs::path dir = scratch();  // constructed first, so it outlives this object
  ~RemoveScratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
} remove_scratch_at_exit;

Entry gguf_entry(std::string name, std::vector<int64_t> counts, int64_t ne0) {
  Entry e;
  e.name = std::move(name);
  e.counts = std::move(counts);
  e.sums.assign(static_cast<size_t>(ne0) * e.counts.size(), 0.0f);
  for (size_t i = 0; i < e.sums.size(); ++i) {
    e.sums[i] = e.counts[i / ne0] > 0 ? 0.25f * static_cast<float>(1 + i % 7) * e.counts[i / ne0] : 0.0f;
  }
  compute_values(Format::kGguf, e);
  return e;
}

TEST(ImatrixCoverage, CountsPerExpertAndZeroList) {
  Imatrix m;
  m.format = Format::kGguf;
  m.chunk_size = 512;
  m.entries.push_back(gguf_entry("blk.0.attn_q.weight", {100}, 8));
  m.entries.push_back(gguf_entry("blk.0.ffn_up_exps.weight", {10, 0, 30, 60}, 8));
  m.entries.push_back(gguf_entry("blk.0.ffn_down_exps.weight", {10, 0, 30, 60}, 8));
  m.entries.push_back(gguf_entry("blk.7.ffn_up_exps.weight", {0, 0, 50, 50}, 8));
  m.entries.push_back(gguf_entry("blk.7.attn_k.weight", {0}, 8));
  m.reindex();
  const Coverage c = coverage(m);
  EXPECT_EQ(c.n_experts, 8);
  EXPECT_EQ(c.n_zero, 3);
  ASSERT_EQ(c.layers.size(), 2u);
  EXPECT_EQ(c.layers[0].layer, 0);
  EXPECT_EQ(c.layers[0].tokens, (std::vector<int64_t>{10, 0, 30, 60}));
  EXPECT_EQ(c.layers[0].zero, std::vector<int>{1});
  EXPECT_EQ(c.layers[1].layer, 7);
  EXPECT_EQ(c.layers[1].zero, (std::vector<int>{0, 1}));
  EXPECT_EQ(c.partial_entries,
            (std::vector<std::string>{"blk.0.ffn_down_exps.weight", "blk.0.ffn_up_exps.weight",
                                      "blk.7.ffn_up_exps.weight"}));
  EXPECT_EQ(c.empty_entries, std::vector<std::string>{"blk.7.attn_k.weight"});
  const std::string s = c.summary();
  EXPECT_NE(s.find("8 experts in 2 layers"), std::string::npos) << s;
  EXPECT_NE(s.find("3 without tokens (blk.0: 1; blk.7: 0 1)"), std::string::npos) << s;
  EXPECT_NE(s.find("min 0"), std::string::npos) << s;
  const auto j = c.to_json();
  EXPECT_EQ(j["experts_without_tokens"], 3);
  EXPECT_EQ(j["layers"][1]["zero"], nlohmann::json::array({0, 1}));
}

TEST(ImatrixCoverage, LegacyDatSlicesWithoutData) {
  Imatrix m;
  m.format = Format::kLegacyDat;
  Entry e;
  e.name = "blk.0.ffn_up_exps.weight";
  e.counts = {4};
  // Four experts of 3 columns: data, all zero, all one (llama-imatrix's
  // marker), data that happens to contain a 0 and a 1.
  e.sums = {4, 8, 12, 0, 0, 0, 4, 4, 4, 0, 4, 8};
  compute_values(Format::kLegacyDat, e);
  m.entries.push_back(e);
  m.reindex();
  EXPECT_EQ(matrices_without_data(m, m.entries[0], 4), (std::vector<bool>{false, true, true, false}));
  const Coverage c = coverage(m, 4);
  EXPECT_FALSE(c.counts_known);
  ASSERT_EQ(c.layers.size(), 1u);
  EXPECT_EQ(c.layers[0].zero, (std::vector<int>{1, 2}));
  EXPECT_EQ(c.layers[0].tokens, (std::vector<int64_t>{-1, -1, -1, -1}));
}

// The shipped reference imatrix as a GGUF-origin one (per-expert counts),
// with expert kEmptyExpert of layer 1 given no tokens.
std::string imatrix_with_empty_expert() {
  static const std::string path = [] {
    auto dat = load(kDat);
    EXPECT_TRUE(dat.ok()) << dat.message();
    auto model = gguf::File::open(kModel);
    EXPECT_TRUE(model.ok()) << model.message();
    Imatrix m;
    m.format = Format::kGguf;
    m.chunk_count = dat->chunk_count;
    m.chunk_size = 512;
    m.datasets = dat->datasets;
    for (const Entry& d : dat->entries) {
      const gguf::TensorInfo* t = (*model)->find_tensor(d.name);
      EXPECT_NE(t, nullptr) << d.name;
      const int64_t n_mat = t->ne.size() > 2 ? t->ne[2] : 1, ne0 = t->ne[0];
      Entry e;
      e.name = d.name;
      e.counts.assign(static_cast<size_t>(n_mat), int64_t{d.counts[0]} * 512);
      e.sums.resize(d.values.size());
      for (size_t i = 0; i < e.sums.size(); ++i) e.sums[i] = d.values[i] * e.counts[i / ne0];
      if (d.name.starts_with(kEmptyLayer) && n_mat > 1) {
        e.counts[kEmptyExpert] = 0;
        std::fill_n(e.sums.begin() + kEmptyExpert * ne0, ne0, 0.0f);
      }
      compute_values(Format::kGguf, e);
      m.entries.push_back(std::move(e));
    }
    m.reindex();
    const std::string p = (scratch() / "empty-expert.imatrix.gguf").string();
    EXPECT_TRUE(save_gguf(m, p).ok());
    return p;
  }();
  return path;
}

// With `override_item` (a --tensor-type PATTERN=TYPE) set, both apex and the
// oracle get it.
Result<pipeline::QuantizeReport> apex_quantize(const std::string& out, ZeroDataPolicy policy,
                                               const std::string& override_item = "") {
  pipeline::QuantizeJob job;
  job.input = kModel;
  job.output = out;
  job.ftype = *plan::parse_ftype("Q4_K_M");
  if (!override_item.empty()) EXPECT_TRUE(job.rules.overrides.add(override_item).ok());
  job.imatrix_path = imatrix_with_empty_expert();
  job.zero_data_policy = policy;
  job.threads = 2;
  return pipeline::quantize_model(job);
}

// llama_model_quantize Q4_K_M with the imatrix (with = true) or without,
// and an optional tensor-type override (pattern, type).
std::string oracle_quantize(bool with, const std::string& pattern = "", quant::TypeId type = quant::TypeId::F32) {
  const std::string out = (scratch() / fmt::format("oracle-{}-{}.gguf", pattern.empty() ? "plain" : "tt", with)).string();
  if (fs::exists(out)) return out;
  oracle::QuantizeParams p = oracle::default_quantize_params();
  p.nthread = 2;
  p.ftype = static_cast<int32_t>((*plan::parse_ftype("Q4_K_M"))->ftype);
  const oracle::TensorTypeOverride tt[2] = {{pattern.c_str(), static_cast<int32_t>(type)}, {nullptr, 0}};
  if (!pattern.empty()) p.tt_overrides = tt;
  oracle::ImatrixParams ip;
  if (with) {
    EXPECT_TRUE(ip.load(imatrix_with_empty_expert()));
    ip.apply(p);
  }
  EXPECT_EQ(oracle::model_quantize(kModel, out, p), 0u);
  return out;
}

std::vector<uint8_t> read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::span<const uint8_t> tensor_bytes(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  return t ? f.tensor_data(*t) : std::span<const uint8_t>();
}

bool same(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

TEST(ZeroExpertPolicy, PlainQuantizesTheEmptyExpertAsWithoutImatrix) {
  if (!have_files()) GTEST_SKIP() << "tiny-moe files not present in " << kModels;
  const std::string ours = (scratch() / "plain.gguf").string();
  auto r = apex_quantize(ours, ZeroDataPolicy::kPlain);
  ASSERT_TRUE(r.ok()) << r.message();
  auto a = gguf::File::open(ours);
  auto with = gguf::File::open(oracle_quantize(true));
  auto without = gguf::File::open(oracle_quantize(false));
  ASSERT_TRUE(a.ok() && with.ok() && without.ok());
  int affected = 0;
  for (const gguf::TensorInfo& t : (*a)->tensors()) {
    const auto mine = (*a)->tensor_data(t);
    const auto w = tensor_bytes(**with, t.name), wo = tensor_bytes(**without, t.name);
    ASSERT_EQ((*with)->find_tensor(t.name)->type, t.type) << t.name;
    const bool empty_expert_tensor = t.name.starts_with(kEmptyLayer) && t.ne.size() > 2;
    if (!empty_expert_tensor) {
      EXPECT_TRUE(same(mine, w)) << t.name << " differs from llama_model_quantize with the imatrix";
      continue;
    }
    ++affected;
    ASSERT_EQ((*without)->find_tensor(t.name)->type, t.type) << t.name;
    const size_t per_expert = mine.size() / static_cast<size_t>(t.ne[2]);
    for (int64_t e = 0; e < t.ne[2]; ++e) {
      const auto s = [&](std::span<const uint8_t> x) { return x.subspan(e * per_expert, per_expert); };
      if (e == kEmptyExpert) {
        EXPECT_TRUE(same(s(mine), s(wo))) << t.name << " expert " << e << ": not as without imatrix";
        EXPECT_FALSE(same(s(mine), s(w))) << t.name << ": the policy made no difference (test is moot)";
      } else {
        EXPECT_TRUE(same(s(mine), s(w))) << t.name << " expert " << e;
      }
    }
  }
  EXPECT_EQ(affected, 3);
  ASSERT_EQ(r->warnings.size(), 3u);
  for (const std::string& w : r->warnings) {
    EXPECT_NE(w.find(kEmptyLayer), std::string::npos) << w;
    EXPECT_NE(w.find("1 of its 16 experts (3)"), std::string::npos) << w;
    EXPECT_NE(w.find("without importance weights"), std::string::npos) << w;
  }
  // llama.cpp loads and runs the file.
  const auto logits = oracle::eval_logits(ours, {1, 300, 301, 302, 303, 304, 305, 306});
  EXPECT_TRUE(logits.ok) << logits.error;
}

TEST(ZeroExpertPolicy, OnesIsLlamaQuantizeByteForByte) {
  if (!have_files()) GTEST_SKIP();
  const std::string ours = (scratch() / "ones.gguf").string();
  auto r = apex_quantize(ours, ZeroDataPolicy::kOnes);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->warnings.size(), 3u);
  EXPECT_TRUE(read_all(ours) == read_all(oracle_quantize(true)));
}

TEST(ZeroExpertPolicy, RefuseNamesTensorAndExpert) {
  if (!have_files()) GTEST_SKIP();
  const std::string ours = (scratch() / "refused.gguf").string();
  auto r = apex_quantize(ours, ZeroDataPolicy::kRefuse);
  ASSERT_FALSE(r.ok());
  const std::string msg = r.message();
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_NE(msg.find(kEmptyLayer), std::string::npos) << msg;
  EXPECT_NE(msg.find("_exps.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("experts (3)"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(ours));
}

TEST(ZeroExpertPolicy, FormatsThatNeedWeightsGetOnes) {
  if (!have_files()) GTEST_SKIP();
  // IQ2_XXS experts cannot be made without importance weights: under "plain"
  // they get llama-quantize's ones, so those tensors equal the oracle's.
  // Only layer 1's expert tensors are made IQ2_XXS (--tensor-type), to keep
  // the test short.
  const std::string ours = (scratch() / "plain-iq2xxs.gguf").string();
  const std::string pattern = "blk\\.1\\.ffn_.*_exps";
  auto r = apex_quantize(ours, ZeroDataPolicy::kPlain, pattern + "=iq2_xxs");
  ASSERT_TRUE(r.ok()) << r.message();
  auto a = gguf::File::open(ours);
  auto with = gguf::File::open(oracle_quantize(true, pattern, quant::TypeId::IQ2_XXS));
  ASSERT_TRUE(a.ok() && with.ok());
  int iq2 = 0;
  for (const gguf::TensorInfo& t : (*a)->tensors()) {
    if (!t.name.starts_with(kEmptyLayer) || t.ne.size() < 3) continue;
    if (t.type != static_cast<int32_t>(quant::TypeId::IQ2_XXS)) continue;
    ++iq2;
    EXPECT_TRUE(same((*a)->tensor_data(t), tensor_bytes(**with, t.name))) << t.name;
  }
  EXPECT_EQ(iq2, 3);
  // And the whole file equals the oracle's: every affected tensor is IQ2_XXS.
  EXPECT_TRUE(read_all(ours) == read_all(oracle_quantize(true, pattern, quant::TypeId::IQ2_XXS)));
  bool said = false;
  for (const std::string& w : r->warnings) said |= w.find("IQ2_XXS cannot be made") != std::string::npos;
  EXPECT_TRUE(said);
}

}  // namespace
}  // namespace apex::imatrix
