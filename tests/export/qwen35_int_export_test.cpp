// `apex export-int` on a qwen35moe GGUF (Gated DeltaNet + gated attention +
// MTP block, apex synth F16): the tensors carry transformers' Qwen3.5 names
// (linear_attn.*, mtp.*), the values are in transformers' conventions (the
// converter's changes undone, restated here: A_log = log(-A), norms store
// gain - 1, value heads in grouped order, conv1d [channels, 1, kernel]), and
// every quantized weight dequantizes, independently of apex's code, to
// within half a scale step of those values.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "export/int_export.h"
#include "gguf/gguf.h"
#include "quant/fp16.h"
#include "safetensors/safetensors.h"
#include "synth/synth.h"

namespace {

namespace fs = std::filesystem;
using apex::gguf::File;

constexpr int kKHeads = 2, kVHeads = 4, kHeadDim = 32, kEmbd = 256;

// transformers: value head h = k * r + j (by key head); ggml: j * K + k.
int tiled(int h) {
  const int r = kVHeads / kKHeads;
  return (h % r) * kKHeads + h / r;
}

std::vector<float> gguf_floats(const File& f, const std::string& name) {
  const auto* t = f.find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  std::vector<float> v(static_cast<size_t>(t->n_elements()));
  const uint8_t* p = f.tensor_data(*t).data();
  for (size_t i = 0; i < v.size(); ++i) {
    if (t->type == 0) {
      std::memcpy(&v[i], p + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      v[i] = apex::quant::fp16_to_fp32(h);
    }
  }
  return v;
}

struct Tensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

Tensor read(apex::st::Checkpoint& ck, const std::string& name) {
  auto r = ck.find(name);
  EXPECT_TRUE(r.ok()) << name;
  if (!r.ok()) return {};
  const auto d = r->data();
  return {apex::st::dtype_name(r->info->dtype), r->info->shape, {d.begin(), d.end()}};
}

float f32_at(const Tensor& t, size_t i) {
  float x;
  std::memcpy(&x, t.bytes.data() + 4 * i, 4);
  return x;
}

// int8 apex layout: q [out, in], scale F16 [n_groups, out]; |q * s - w| <= s / 2.
void expect_dequantizes_to(apex::st::Checkpoint& ck, const std::string& module, const std::vector<float>& w,
                           int64_t out, int64_t in, int64_t group) {
  const Tensor q = read(ck, module + ".weight_i8"), s = read(ck, module + ".weight_scale_i8");
  ASSERT_EQ(q.dtype, "I8") << module;
  ASSERT_EQ(q.shape, (std::vector<int64_t>{out, in})) << module;
  const int64_t ng = (in + group - 1) / group;
  ASSERT_EQ(s.shape, (std::vector<int64_t>{ng, out})) << module;
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t c = 0; c < in; ++c) {
      uint16_t h;
      std::memcpy(&h, s.bytes.data() + 2 * ((c / group) * out + o), 2);
      const double scale = apex::quant::fp16_to_fp32(h);
      const double got = static_cast<int8_t>(q.bytes[static_cast<size_t>(o * in + c)]) * scale;
      ASSERT_LE(std::fabs(got - w[static_cast<size_t>(o * in + c)]), scale / 2 + 1e-12) << module << " " << o << "," << c;
    }
  }
}

TEST(ExportIntQwen35, NamesValuesAndBounds) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("apex_export_q35_{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  apex::synth::Options o;
  o.arch = "qwen35moe";
  o.n_layer = 4;  // 0-2 Gated DeltaNet, 3 full attention, 4 the MTP block
  o.n_embd = kEmbd;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.head_dim = 64;
  o.n_expert = 4;
  o.n_expert_used = 2;
  o.n_ff = 128;
  o.n_ff_shared = 192;
  o.n_vocab = 512;
  o.ssm_n_group = kKHeads;
  o.ssm_dt_rank = kVHeads;
  o.ssm_d_state = kHeadDim;
  o.n_mtp = 1;
  const fs::path model = dir / "q35.gguf";
  ASSERT_TRUE(apex::synth::write_model(o, model.string()).ok());
  apex::xport::IntExportOptions opts;
  opts.gguf_path = model.string();
  opts.out_dir = (dir / "out").string();
  opts.bits = 8;
  opts.group = 64;
  opts.hash_source = false;
  auto rep = apex::xport::export_int(opts);
  ASSERT_TRUE(rep.ok()) << rep.message();
  auto gf = File::open(model.string());
  ASSERT_TRUE(gf.ok());
  const File& g = **gf;
  auto ckr = apex::st::Checkpoint::open(opts.out_dir);
  ASSERT_TRUE(ckr.ok()) << ckr.message();
  apex::st::Checkpoint& ck = **ckr;

  // Names: transformers' Qwen3.5, the MTP block under mtp.*.
  for (const auto& n : ck.names()) {
    EXPECT_EQ(n.rfind("blk.", 0), std::string::npos) << n;
    EXPECT_EQ(n.find("model.layers.4."), std::string::npos) << n;
  }
  for (const char* n : {"mtp.fc.weight_i8", "mtp.pre_fc_norm_embedding.weight", "mtp.pre_fc_norm_hidden.weight",
                        "mtp.norm.weight", "mtp.layers.0.self_attn.q_proj.weight_i8",
                        "mtp.layers.0.mlp.experts.gate_up_proj_q8", "mtp.layers.0.mlp.experts.down_proj_q8",
                        "mtp.layers.0.mlp.shared_expert_gate.weight", "model.layers.2.linear_attn.in_proj_b.weight_i8",
                        "model.layers.3.self_attn.q_norm.weight"}) {
    EXPECT_TRUE(ck.find(n).ok()) << n;
  }
  EXPECT_EQ(read(ck, "mtp.layers.0.mlp.experts.gate_up_proj_q8").shape, (std::vector<int64_t>{4, 256, kEmbd}));
  // The gated attention's q_proj: query and gate per head.
  EXPECT_EQ(read(ck, "model.layers.3.self_attn.q_proj.weight_i8").shape, (std::vector<int64_t>{2 * 4 * 64, kEmbd}));

  const int64_t qk = 2 * kKHeads * kHeadDim, conv_dim = qk + kVHeads * kHeadDim, inner = kVHeads * kHeadDim;
  for (int il = 0; il < 3; ++il) {
    const std::string h = fmt::format("model.layers.{}.", il), b = fmt::format("blk.{}.", il);
    // in_proj_qkv: the value rows back in grouped order.
    const auto qkv = gguf_floats(g, b + "attn_qkv.weight");
    std::vector<float> want(qkv.size());
    for (int64_t r = 0; r < conv_dim; ++r) {
      int64_t from = r;
      if (r >= qk) from = qk + tiled(static_cast<int>((r - qk) / kHeadDim)) * kHeadDim + (r - qk) % kHeadDim;
      std::copy_n(qkv.begin() + from * kEmbd, kEmbd, want.begin() + r * kEmbd);
    }
    expect_dequantizes_to(ck, h + "linear_attn.in_proj_qkv", want, conv_dim, kEmbd, 64);
    // out_proj: the value heads are input columns.
    const auto out = gguf_floats(g, b + "ssm_out.weight");
    for (int64_t row = 0; row < kEmbd; ++row) {
      for (int hh = 0; hh < kVHeads; ++hh) {
        std::copy_n(out.begin() + row * inner + tiled(hh) * kHeadDim, kHeadDim,
                    want.begin() + row * inner + hh * kHeadDim);
      }
    }
    want.resize(static_cast<size_t>(kEmbd * inner));
    expect_dequantizes_to(ck, h + "linear_attn.out_proj", want, kEmbd, inner, 64);
    // in_proj_a: one row per value head.
    const auto alpha = gguf_floats(g, b + "ssm_alpha.weight");
    want.assign(alpha.size(), 0);
    for (int hh = 0; hh < kVHeads; ++hh) std::copy_n(alpha.begin() + tiled(hh) * kEmbd, kEmbd, want.begin() + hh * kEmbd);
    expect_dequantizes_to(ck, h + "linear_attn.in_proj_a", want, kVHeads, kEmbd, 64);

    // F32 tensors: A_log = log(-A), norms gain - 1, conv1d [channels, 1, kernel].
    const auto a = gguf_floats(g, b + "ssm_a");
    const Tensor a_log = read(ck, h + "linear_attn.A_log");
    ASSERT_EQ(a_log.dtype, "F32");
    for (int hh = 0; hh < kVHeads; ++hh) {
      EXPECT_NEAR(-std::exp(static_cast<double>(f32_at(a_log, hh))), a[tiled(hh)], std::fabs(a[tiled(hh)]) * 0x1p-23);
    }
    const auto norm = gguf_floats(g, b + "attn_norm.weight");
    const Tensor hn = read(ck, h + "input_layernorm.weight");
    for (size_t i = 0; i < norm.size(); ++i) EXPECT_EQ(f32_at(hn, i) + 1.0f, norm[i]);
    const auto conv = gguf_floats(g, b + "ssm_conv1d.weight");
    const Tensor hc = read(ck, h + "linear_attn.conv1d.weight");
    ASSERT_EQ(hc.shape, (std::vector<int64_t>{conv_dim, 1, 4}));
    for (int64_t ch = 0; ch < conv_dim; ++ch) {
      int64_t from = ch;
      if (ch >= qk) from = qk + tiled(static_cast<int>((ch - qk) / kHeadDim)) * kHeadDim + (ch - qk) % kHeadDim;
      for (int k = 0; k < 4; ++k) ASSERT_EQ(f32_at(hc, static_cast<size_t>(ch * 4 + k)), conv[from * 4 + k]);
    }
  }

  std::ifstream in(fs::path(opts.out_dir) / "config.json");
  const auto cfg = nlohmann::json::parse(in);
  EXPECT_EQ(cfg["architectures"][0], "Qwen3_5MoeForCausalLM");
  EXPECT_EQ(cfg["num_hidden_layers"], 4);
  EXPECT_EQ(cfg["mtp_num_hidden_layers"], 1);
  EXPECT_EQ(cfg["linear_num_value_heads"], kVHeads);
  EXPECT_EQ(cfg["quantization_config"]["bits"], 8);
  fs::remove_all(dir);
}

}  // namespace
