// apex's imatrix collector on the tiny trained qwen2moe model:
//  - the first layer's attn_q/k/v statistics equal an independent reference
//    (rmsnorm(token embedding) * attn_norm from the dequantized weights,
//    summed in double) within 1e-4 relative;
//  - every entry of the first two layers (attention, router, shared expert,
//    and per expert the routed rows' values and counts) equals a plain
//    forward pass written below in double precision: counts exactly, each
//    matrix's importance vector within 1e-4 relative (L1; measured at most
//    9.0e-5, in blk.1.ffn_down_exps) and every single column within 5e-3
//    (measured at most 2.1e-3: a value that lands on the other side of an
//    F16 rounding boundary moves by 2^-11, and an expert's mean over few
//    rows shows it);
//  - (slow, APEX_SLOW_TESTS=1) a full 64 x 512 collection agrees with the
//    independent PyTorch imatrix shipped with the model, within the stated
//    tolerances;
//  - counts follow llama-imatrix's rules (rows per 2-D weight, routed
//    (token, slot) rows per expert, chunk metadata);
//  - llama_model_quantize driven by our imatrix writes the same bytes as
//    apex quantize with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <sstream>

#include "engine/tokenizer/tokenizer.h"
#include "engine/weights.h"
#include "imatrix/collect.h"
#include "imatrix/imatrix.h"
#include "oracle/oracle.h"
#include "pipeline/quantize_model.h"
#include "plan/ftype.h"
#include "quant/type_table.h"
#include "support/temp_dir.h"

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
    return apex::test_support::process_scratch("apex_imatrix_collect");  // removed at exit
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

// ---- A plain forward pass of the first layers, for the reference ----
//
// Double precision everywhere, with the rounding points that are part of
// llama.cpp's CPU computation made explicit (they move results by ~1e-3, far
// above the 1e-4 asked for): activations entering a product with an F16
// weight are rounded to F16 (ggml pairs F16 weights with F16 activations),
// and the attention works on an F16 KV cache with the query and the
// probabilities rounded to F16 too. The statistics are of the activations
// *before* that rounding, as llama-imatrix sees them.

double to_f16(double v) { return static_cast<double>(static_cast<_Float16>(static_cast<float>(v))); }

struct RefMatrix {
  int64_t n_in = 0, n_out = 0;
  bool f16_input = false;
  std::vector<double> w;  // n_out rows of n_in

  RefMatrix(const engine::Weight& wt, int64_t mat) : n_in(wt.n_in), n_out(wt.n_out) {
    f16_input = wt.type == quant::TypeId::F16;
    std::vector<float> row(static_cast<size_t>(n_in));
    w.resize(static_cast<size_t>(n_in * n_out));
    for (int64_t r = 0; r < n_out; ++r) {
      quant::traits(wt.type).dequantize(wt.row(r, mat), row.data(), n_in);
      std::copy(row.begin(), row.end(), w.begin() + r * n_in);
    }
  }
  std::vector<double> apply(const std::vector<double>& x) const {
    std::vector<double> xi(x);
    if (f16_input) for (double& v : xi) v = to_f16(v);
    std::vector<double> y(static_cast<size_t>(n_out), 0.0);
    for (int64_t r = 0; r < n_out; ++r) {
      double s = 0;
      for (int64_t i = 0; i < n_in; ++i) s += w[r * n_in + i] * xi[i];
      y[r] = s;
    }
    return y;
  }
};

struct RefStats {
  std::vector<double> sum2;  // per matrix, n_in each
  std::vector<int64_t> counts;
  void add(const std::vector<double>& x, int mat, int n_mat) {
    const size_t n = x.size();
    if (sum2.empty()) {
      sum2.assign(n * n_mat, 0.0);
      counts.assign(n_mat, 0);
    }
    for (size_t i = 0; i < n; ++i) sum2[mat * n + i] += x[i] * x[i];
    ++counts[mat];
  }
};

std::vector<double> rms_norm_ref(const std::vector<double>& x, const float* gain, double eps) {
  double ms = 0;
  for (double v : x) ms += v * v;
  const double scale = 1.0 / std::sqrt(ms / x.size() + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * gain[i];
  return y;
}

double silu(double v) { return v / (1.0 + std::exp(-v)); }

struct RefLayer {
  RefMatrix wq, wk, wv, wo, router, gate_shexp, up_shexp, down_shexp;
  std::vector<RefMatrix> gate_exps, up_exps, down_exps;
  explicit RefLayer(const engine::LayerWeights& l)
      : wq(l.wq, 0), wk(l.wk, 0), wv(l.wv, 0), wo(l.wo, 0), router(l.router, 0),
        gate_shexp(l.gate_shexp, 0), up_shexp(l.up_shexp, 0), down_shexp(l.down_shexp, 0) {
    for (int64_t e = 0; e < l.up_exps.n_mat; ++e) {
      gate_exps.emplace_back(l.gate_exps, e);
      up_exps.emplace_back(l.up_exps, e);
      down_exps.emplace_back(l.down_exps, e);
    }
  }
};

// Runs layers [0, n_layers) of the tiny qwen2moe model (q/k/v biases, NEOX
// RoPE, grouped-query causal attention, softmax top-k routing without
// renormalisation, sigmoid-gated shared expert) over each chunk from an
// empty cache and sums the squared inputs of every matrix product.
std::map<std::string, RefStats> reference_stats(const engine::Model& model,
                                                const std::vector<std::vector<int32_t>>& chunks,
                                                int n_layers) {
  const auto& c = model.config;
  const int64_t E = c.n_embd, HD = c.head_dim, QD = c.q_dim(), KVD = c.kv_dim();
  const int n_exp = c.n_expert, group = c.n_head / c.n_head_kv;
  std::vector<RefLayer> layers;
  for (int il = 0; il < n_layers; ++il) layers.emplace_back(model.weights.layers[static_cast<size_t>(il)]);
  std::map<std::string, RefStats> st;
  std::vector<float> row(static_cast<size_t>(E));
  for (const auto& chunk : chunks) {
    const auto T = static_cast<int64_t>(chunk.size());
    std::vector<std::vector<double>> x(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      const engine::Weight& embd = model.weights.token_embd;
      quant::traits(embd.type).dequantize(embd.row(chunk[t]), row.data(), E);
      x[t].assign(row.begin(), row.end());
    }
    for (int il = 0; il < n_layers; ++il) {
      const engine::LayerWeights& lw = model.weights.layers[static_cast<size_t>(il)];
      const RefLayer& L = layers[static_cast<size_t>(il)];
      const std::string b = "blk." + std::to_string(il) + ".";
      // Attention: q, k, v per token, RoPE (NEOX: dimension i pairs with
      // i + HD/2, angle pos * base^(-2i/HD)), F16 cache.
      std::vector<std::vector<double>> q(T), k(T), v(T);
      for (int64_t t = 0; t < T; ++t) {
        const auto h = rms_norm_ref(x[t], lw.attn_norm.f32(), c.rms_eps);
        for (const char* n : {"attn_q.weight", "attn_k.weight", "attn_v.weight"}) st[b + n].add(h, 0, 1);
        q[t] = L.wq.apply(h);
        k[t] = L.wk.apply(h);
        v[t] = L.wv.apply(h);
        for (int64_t i = 0; i < QD; ++i) q[t][i] += lw.bq.f32()[i];
        for (int64_t i = 0; i < KVD; ++i) k[t][i] += lw.bk.f32()[i], v[t][i] += lw.bv.f32()[i];
        auto rope = [&](std::vector<double>& vec, int n_heads) {
          for (int hh = 0; hh < n_heads; ++hh) {
            for (int64_t i = 0; i < HD / 2; ++i) {
              const double ang = t * std::pow(static_cast<double>(c.rope_freq_base), -2.0 * i / HD);
              double& a = vec[hh * HD + i];
              double& bb = vec[hh * HD + i + HD / 2];
              const double a0 = a, b0 = bb;
              a = a0 * std::cos(ang) - b0 * std::sin(ang);
              bb = a0 * std::sin(ang) + b0 * std::cos(ang);
            }
          }
        };
        rope(q[t], c.n_head);
        rope(k[t], c.n_head_kv);
        for (double& e : q[t]) e = to_f16(e);
        for (double& e : k[t]) e = to_f16(e);
        for (double& e : v[t]) e = to_f16(e);
      }
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> attn(static_cast<size_t>(QD), 0.0);
        for (int hh = 0; hh < c.n_head; ++hh) {
          const int kvh = hh / group;
          std::vector<double> p(static_cast<size_t>(t + 1));
          double mx = -INFINITY;
          for (int64_t j = 0; j <= t; ++j) {
            double s = 0;
            for (int64_t i = 0; i < HD; ++i) s += q[t][hh * HD + i] * k[j][kvh * HD + i];
            p[j] = s / std::sqrt(static_cast<double>(HD));
            mx = std::max(mx, p[j]);
          }
          double sum = 0;
          for (double& e : p) sum += (e = std::exp(e - mx));
          for (int64_t j = 0; j <= t; ++j) {
            const double pj = to_f16(p[j] / sum);
            for (int64_t i = 0; i < HD; ++i) attn[hh * HD + i] += pj * v[j][kvh * HD + i];
          }
        }
        st[b + "attn_output.weight"].add(attn, 0, 1);
        const auto o = L.wo.apply(attn);
        for (int64_t i = 0; i < E; ++i) x[t][i] += o[i];
      }
      // Feed-forward: routed experts and the gated shared expert.
      for (int64_t t = 0; t < T; ++t) {
        const auto h = rms_norm_ref(x[t], lw.ffn_norm.f32(), c.rms_eps);
        for (const char* n : {"ffn_gate_inp.weight", "ffn_gate_inp_shexp.weight", "ffn_gate_shexp.weight",
                              "ffn_up_shexp.weight"}) {
          st[b + n].add(h, 0, 1);
        }
        const auto logits = L.router.apply(h);
        double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
        std::vector<double> prob(logits.size());
        for (size_t e = 0; e < prob.size(); ++e) sum += (prob[e] = std::exp(logits[e] - mx));
        for (double& p : prob) p /= sum;
        std::vector<int> order(static_cast<size_t>(n_exp));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int bb) { return prob[a] > prob[bb]; });
        std::vector<double> y(static_cast<size_t>(E), 0.0);
        for (int s = 0; s < c.n_expert_used; ++s) {
          const int e = order[static_cast<size_t>(s)];
          st[b + "ffn_gate_exps.weight"].add(h, e, n_exp);
          st[b + "ffn_up_exps.weight"].add(h, e, n_exp);
          const auto g = L.gate_exps[e].apply(h), u = L.up_exps[e].apply(h);
          std::vector<double> a(g.size());
          for (size_t i = 0; i < a.size(); ++i) a[i] = silu(g[i]) * u[i];
          st[b + "ffn_down_exps.weight"].add(a, e, n_exp);
          const auto d = L.down_exps[e].apply(a);
          for (int64_t i = 0; i < E; ++i) y[i] += prob[e] * d[i];
        }
        const auto g = L.gate_shexp.apply(h), u = L.up_shexp.apply(h);
        std::vector<double> a(g.size());
        for (size_t i = 0; i < a.size(); ++i) a[i] = silu(g[i]) * u[i];
        st[b + "ffn_down_shexp.weight"].add(a, 0, 1);
        const auto d = L.down_shexp.apply(a);
        double gate = 0;
        for (int64_t i = 0; i < E; ++i) gate += lw.shexp_gate_inp.f32()[i] * h[i];
        gate = 1.0 / (1.0 + std::exp(-gate));
        for (int64_t i = 0; i < E; ++i) x[t][i] += y[i] + gate * d[i];
      }
    }
  }
  return st;
}

TEST(ImatrixCollect, FirstTwoLayersMatchPlainForward) {
  if (!have_files()) GTEST_SKIP() << "tiny-moe files not present in " << kModels;
  const Fixture& f = fixture();
  const engine::Model& model = *f.model;
  const int32_t bos = tok::Tokenizer::from_file(*model.file)->vocab().bos;
  std::vector<std::vector<int32_t>> chunks;
  for (int ch = 0; ch < kChunks; ++ch) {
    std::vector<int32_t> t(f.tokens.begin() + ch * kCtx, f.tokens.begin() + (ch + 1) * kCtx);
    t[0] = bos;  // llama-imatrix puts BOS at each chunk start
    chunks.push_back(std::move(t));
  }
  constexpr int kLayers = 2;
  const auto ref = reference_stats(model, chunks, kLayers);
  ASSERT_EQ(ref.size(), static_cast<size_t>(kLayers * 12));
  for (const auto& [name, r] : ref) {
    const Entry* e = f.m.find_entry(name);
    ASSERT_NE(e, nullptr) << name;
    ASSERT_EQ(e->counts, r.counts) << name << ": rows per matrix (per expert for *_exps)";
    ASSERT_EQ(e->values.size(), r.sum2.size()) << name;
    // Per matrix (expert): the relative L1 distance of its importance
    // vector, and the largest relative difference of one column.
    const size_t ne0 = r.sum2.size() / r.counts.size();
    double worst_matrix = 0, worst_column = 0;
    for (size_t j = 0; j < r.counts.size(); ++j) {
      const int64_t n = r.counts[j];
      double diff = 0, norm = 0;
      for (size_t i = j * ne0; i < (j + 1) * ne0; ++i) {
        if (n == 0) {
          EXPECT_EQ(e->values[i], 1.0f) << name << " " << i;  // no rows: neutral, as llama-quantize
          continue;
        }
        const double want = r.sum2[i] / n;
        diff += std::abs(e->values[i] - want);
        norm += want;
        worst_column = std::max(worst_column, std::abs(e->values[i] - want) / want);
      }
      if (norm > 0) worst_matrix = std::max(worst_matrix, diff / norm);
    }
    EXPECT_LT(worst_matrix, 1e-4) << name;
    EXPECT_LT(worst_column, 5e-3) << name;
    std::printf("  %-32s matrix %.2e  column %.2e\n", name.c_str(), worst_matrix, worst_column);
    RecordProperty(name + "_max_rel", std::to_string(worst_matrix));
  }
}

// The independent PyTorch imatrix shipped with the model (MODEL.md: 64 chunks
// of 512 tokens of tiny-moe-calib.txt, BOS per chunk) against ours with the
// same settings. About 3 minutes on 2 cores, so only with APEX_SLOW_TESTS=1.
// Measured (2026-11-25): dense tensors max 1.03e-3 relative per column
// (median of the per-tensor maxima 3.6e-4); experts: mean relative deviation
// over an expert's columns at most 2.8e-3, single columns of ffn_down_exps
// up to 0.32. The differences come from the reference's float32 PyTorch
// forward (no F16 rounding of activations or of the KV cache, as ggml does)
// and from tokens whose two best experts nearly tie being routed to another
// expert; a column dominated by a few large activations moves with them.
// The reference leaves out the router (ffn_gate_inp) and the shared-expert
// gate (ffn_gate_inp_shexp), which llama-imatrix does collect.
TEST(ImatrixCollect, AgreesWithPyTorchReference) {
  if (!have_files()) GTEST_SKIP();
  const char* slow = std::getenv("APEX_SLOW_TESTS");
  if (slow == nullptr || std::string(slow) != "1") GTEST_SKIP() << "set APEX_SLOW_TESTS=1 (about 3 minutes)";
  const Fixture& f = fixture();
  auto ref = load(kModels + "/tiny-moe-calib.imatrix.dat");
  ASSERT_TRUE(ref.ok()) << ref.message();
  CollectOptions opts;
  opts.n_ctx = 512;
  opts.n_chunks = 64;
  auto m = collect(*f.model, f.tokens, opts);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ(m->chunk_count, ref->chunk_count);
  for (const Entry& r : ref->entries) {
    const Entry* e = m->find_entry(r.name);
    ASSERT_NE(e, nullptr) << r.name;
    ASSERT_EQ(e->values.size(), r.values.size()) << r.name;
    const size_t n_mat = e->counts.size(), ne0 = r.values.size() / n_mat;
    for (size_t j = 0; j < n_mat; ++j) {
      double worst = 0, mean = 0;
      for (size_t i = j * ne0; i < (j + 1) * ne0; ++i) {
        const double rel = std::abs(e->values[i] - r.values[i]) / std::abs(r.values[i]);
        worst = std::max(worst, rel);
        mean += rel / ne0;
      }
      if (n_mat == 1) {
        EXPECT_LT(worst, 2e-3) << r.name;
      } else {
        EXPECT_LT(mean, 5e-3) << r.name << " expert " << j;
        EXPECT_GT(e->counts[j], 0) << r.name << " expert " << j;  // MODEL.md: no expert got zero tokens
      }
    }
  }
  for (const Entry& e : m->entries) {
    if (ref->find_entry(e.name) != nullptr) continue;
    EXPECT_TRUE(e.name.ends_with("ffn_gate_inp.weight") || e.name.ends_with("ffn_gate_inp_shexp.weight")) << e.name;
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
