// apex export-int, checked by an independent reading written here: the
// safetensors header parsed with nlohmann::json by this test, int8 / int4 /
// int32-packed weights unpacked by hand, and the source GGUF's F16 / Q8_0
// weights dequantized by hand (gguf::File only locates the bytes). Every
// element must lie within half its group's scale of the source weight, and
// every scale must be the smallest float16 >= max|w| / qmax of its group.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../cli/cli_test_support.h"
#include "export/int_export.h"
#include "export/sha256.h"
#include "gguf/gguf.h"
#include "synth/synth.h"

namespace fs = std::filesystem;
using apex::testing::expect_one_line_error;
using apex::testing::run_apex;
using nlohmann::json;

namespace {

// ---- independent conversions ----

float half_to_float(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(man), -24);
  } else if (exp == 31) {
    v = man ? NAN : INFINITY;
  } else {
    v = std::ldexp(static_cast<float>(man | 0x400), exp - 25);
  }
  return sign ? -v : v;
}
float bf16_to_float(uint16_t b) {
  const uint32_t u = uint32_t{b} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Source weights, row-major [rows][ne0], from F32 / F16 / Q8_0 bytes.
std::vector<float> source_values(const apex::gguf::File& f, const std::string& name) {
  const apex::gguf::TensorInfo* t = f.find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  const auto data = f.tensor_data(*t);
  const int64_t n = t->n_elements();
  std::vector<float> v(static_cast<size_t>(n));
  if (t->type == 0) {  // F32
    for (int64_t i = 0; i < n; ++i) v[i] = load<float>(data.data() + 4 * i);
  } else if (t->type == 1) {  // F16
    for (int64_t i = 0; i < n; ++i) v[i] = half_to_float(load<uint16_t>(data.data() + 2 * i));
  } else if (t->type == 8) {  // Q8_0: blocks of a float16 d and 32 int8, value d * q
    for (int64_t b = 0; b < n / 32; ++b) {
      const uint8_t* blk = data.data() + 34 * b;
      const float d = half_to_float(load<uint16_t>(blk));
      for (int k = 0; k < 32; ++k) v[32 * b + k] = d * static_cast<float>(static_cast<int8_t>(blk[2 + k]));
    }
  } else {
    ADD_FAILURE() << name << ": test reads only F32/F16/Q8_0, got type " << t->type;
  }
  return v;
}

// ---- independent safetensors reading ----

struct StFile {
  json header;
  std::vector<uint8_t> bytes;
  uint64_t data_start = 0;
  bool has(const std::string& n) const { return header.contains(n); }
  std::string dtype(const std::string& n) const { return header.at(n).at("dtype"); }
  std::vector<int64_t> shape(const std::string& n) const { return header.at(n).at("shape"); }
  const uint8_t* data(const std::string& n) const {
    return bytes.data() + data_start + header.at(n).at("data_offsets")[0].get<uint64_t>();
  }
};

// All tensors of an output directory (single file or shards via the index).
struct Checkpoint {
  std::vector<StFile> files;
  std::map<std::string, size_t> where;
  const StFile& at(const std::string& n) const { return files.at(where.at(n)); }
  bool has(const std::string& n) const { return where.count(n) != 0; }
};

StFile read_st(const fs::path& p) {
  StFile s;
  std::ifstream in(p, std::ios::binary);
  s.bytes.assign(std::istreambuf_iterator<char>(in), {});
  uint64_t n = 0;
  std::memcpy(&n, s.bytes.data(), 8);
  s.header = json::parse(s.bytes.begin() + 8, s.bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  s.data_start = 8 + n;
  // Offsets tile the data area in order.
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (auto it = s.header.begin(); it != s.header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    spans.emplace_back(it.value()["data_offsets"][0], it.value()["data_offsets"][1]);
  }
  std::sort(spans.begin(), spans.end());
  uint64_t pos = 0;
  for (auto [b, e] : spans) {
    EXPECT_EQ(b, pos);
    pos = e;
  }
  EXPECT_EQ(s.data_start + pos, s.bytes.size()) << p;
  return s;
}

Checkpoint read_checkpoint(const fs::path& dir) {
  Checkpoint c;
  std::vector<fs::path> shards;
  if (fs::exists(dir / "model.safetensors.index.json")) {
    std::ifstream in(dir / "model.safetensors.index.json");
    const json idx = json::parse(in);
    std::set<std::string> names;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) names.insert(it.value());
    for (const auto& n : names) shards.push_back(dir / n);
    uint64_t total = 0;
    for (const auto& p : shards) {
      StFile s = read_st(p);
      for (auto it = s.header.begin(); it != s.header.end(); ++it) {
        if (it.key() == "__metadata__") continue;
        total += it.value()["data_offsets"][1].get<uint64_t>() - it.value()["data_offsets"][0].get<uint64_t>();
        EXPECT_EQ(idx["weight_map"].at(it.key()), p.filename().string());
        c.where[it.key()] = c.files.size();
      }
      c.files.push_back(std::move(s));
    }
    EXPECT_EQ(idx["metadata"]["total_size"].get<uint64_t>(), total);
    EXPECT_EQ(idx["weight_map"].size(), c.where.size());
  } else {
    c.files.push_back(read_st(dir / "model.safetensors"));
    for (auto it = c.files[0].header.begin(); it != c.files[0].header.end(); ++it) {
      if (it.key() != "__metadata__") c.where[it.key()] = 0;
    }
  }
  return c;
}

// ---- checking one quantized matrix ----

struct Bound {
  double max_err = 0;
  double sum_err = 0;
  uint64_t n = 0;
};

// w: [out][in] source; q(o, c) and scale(g, o) read from the output.
template <typename QFn, typename SFn>
void check_matrix(const float* w, int64_t out, int64_t in, int64_t group, int qmax, QFn q, SFn scale,
                  const std::string& what, Bound& b) {
  int failures = 0;
  for (int64_t o = 0; o < out && failures < 5; ++o) {
    for (int64_t g = 0; g * group < in; ++g) {
      const int64_t c0 = g * group, c1 = std::min(in, c0 + group);
      double amax = 0;
      for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(static_cast<double>(w[o * in + c])));
      const uint16_t h = scale(g, o);
      const double s = half_to_float(h);
      // The smallest float16 at or above amax / qmax (computed in float, as stated).
      const float target = static_cast<float>(amax) / static_cast<float>(qmax);
      if (!(s >= target && (h == 0 ? target == 0 : half_to_float(static_cast<uint16_t>(h - 1)) < target))) {
        ADD_FAILURE() << what << " row " << o << " group " << g << ": scale " << s << " for max " << amax;
        ++failures;
      }
      for (int64_t c = c0; c < c1; ++c) {
        const int qv = q(o, c);
        const double err = std::fabs(static_cast<double>(w[o * in + c]) - qv * s);
        if (qv < -qmax || qv > qmax || err > s / 2 * (1 + 1e-6) + 1e-12) {
          ADD_FAILURE() << what << " [" << o << ", " << c << "]: q " << qv << " scale " << s << " w "
                        << w[o * in + c] << " err " << err;
          ++failures;
        }
        b.max_err = std::max(b.max_err, err);
        b.sum_err += err;
        ++b.n;
      }
    }
  }
}

fs::path scratch_dir(const std::string& tag) {
  const fs::path d = fs::temp_directory_path() / fmt::format("apex_export_{}_{}", tag, getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A small synthetic model: F16 written by synth, Q8_0 by `apex quantize`.
fs::path make_model(const fs::path& dir, const std::string& arch, bool q8) {
  apex::synth::Options o;
  o.arch = arch;
  o.n_layer = 2;
  o.n_embd = 256;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_expert = 4;
  o.n_expert_used = 2;
  o.n_ff = 128;
  if (arch == "qwen2moe") o.n_ff_shared = 192;
  o.n_vocab = 512;
  o.seed = 3;
  fs::create_directories(dir);
  const fs::path f16 = dir / (arch + "-f16.gguf");
  if (!fs::exists(f16)) {
    auto st = apex::synth::write_model(o, f16.string());
    EXPECT_TRUE(st.ok()) << st.message();
  }
  if (!q8) return f16;
  const fs::path q = dir / (arch + "-q8_0.gguf");
  if (!fs::exists(q)) {
    auto r = run_apex(dir, fmt::format("quantize --no-progress {} {} Q8_0", f16.string(), q.string()));
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  return q;
}

std::string sha256sum_tool(const fs::path& p) {
  std::string cmd = "sha256sum '" + p.string() + "'";
  FILE* f = popen(cmd.c_str(), "r");
  char buf[65] = {};
  if (f == nullptr || std::fread(buf, 1, 64, f) != 64) ADD_FAILURE() << "sha256sum failed";
  if (f) pclose(f);
  return std::string(buf, 64);
}

struct Case {
  std::string arch;
  bool q8;
  int bits;
  int64_t group;
  apex::xport::IntFormat format;
};

// The whole check: names, shapes, dtypes, values, config, provenance.
void check_export(const Case& c) {
  using apex::xport::IntFormat;
  const fs::path dir = scratch_dir("case");
  const fs::path model = make_model(fs::temp_directory_path() / fmt::format("apex_export_models_{}", getpid()), c.arch, c.q8);
  const fs::path out = dir / "out";
  apex::xport::IntExportOptions o;
  o.gguf_path = model.string();
  o.out_dir = out.string();
  o.bits = c.bits;
  o.group = c.group;
  o.format = c.format;
  o.max_shard_bytes = 600 << 10;  // several shards even for this small model
  auto rep = apex::xport::export_int(o);
  ASSERT_TRUE(rep.ok()) << rep.message();
  const Checkpoint ck = read_checkpoint(out);
  ASSERT_GT(ck.files.size(), 1u) << "expected a sharded checkpoint";

  auto gg = apex::gguf::File::open(model.string());
  ASSERT_TRUE(gg.ok());
  const apex::gguf::File& g = **gg;
  const bool ct = c.format == IntFormat::kCompressedTensors;
  const int qmax = c.bits == 8 ? 127 : 7;
  std::map<std::string, Bound> bounds;  // per output weight tensor
  std::set<std::string> seen;           // output tensors this test looked at

  // Reads q at (o, c) of matrix `e` of a packed tensor.
  auto q_reader = [&](const StFile& f, const std::string& name, int64_t e, int64_t out_rows, int64_t in) {
    const uint8_t* base = f.data(name);
    return [=](int64_t o, int64_t col) -> int {
      if (ct) {
        const int pf = 32 / c.bits;
        const int64_t words = (in + pf - 1) / pf;
        const uint32_t w = load<uint32_t>(base + 4 * (o * words + col / pf));
        const uint32_t u = (w >> ((col % pf) * c.bits)) & ((1u << c.bits) - 1);
        return static_cast<int>(u) - (1 << (c.bits - 1));
      }
      if (c.bits == 8) return static_cast<int8_t>(base[(e * out_rows + o) * in + col]);
      const int64_t row_bytes = (in + 1) / 2;
      const uint8_t byte = base[(e * out_rows + o) * row_bytes + col / 2];
      return static_cast<int>((col % 2 == 0) ? (byte & 0xf) : (byte >> 4)) - 8;
    };
  };
  auto s_reader = [&](const StFile& f, const std::string& name, int64_t e, int64_t out_rows, int64_t ng) {
    const uint8_t* base = f.data(name);
    return [=](int64_t grp, int64_t o) -> uint16_t {
      if (ct) return load<uint16_t>(base + 2 * (o * ng + grp));
      return load<uint16_t>(base + 2 * ((e * ng + grp) * out_rows + o));
    };
  };
  const std::string ws = c.bits == 8 ? ".weight_i8" : ".weight_i4";
  const std::string ss = c.bits == 8 ? ".weight_scale_i8" : ".weight_scale_i4";
  const std::string es = c.bits == 8 ? "_q8" : "_q4";
  const std::string ess = c.bits == 8 ? "_scale_q8" : "_scale_q4";
  const std::string wdt = ct ? "I32" : (c.bits == 8 ? "I8" : "U8");
  auto packed_cols = [&](int64_t in) -> int64_t {
    if (ct) return (in * c.bits + 31) / 32;
    return c.bits == 8 ? in : (in + 1) / 2;
  };

  // Linear weights: GGUF [in, out] -> HF [out, in].
  auto check_linear = [&](const std::string& gname, const std::string& module) {
    const auto* t = g.find_tensor(gname);
    ASSERT_NE(t, nullptr) << gname;
    const int64_t in = t->ne[0], outr = t->ne[1], ng = (in + c.group - 1) / c.group;
    const std::string wn = module + (ct ? ".weight_packed" : ws);
    const std::string sn = module + (ct ? ".weight_scale" : ss);
    ASSERT_TRUE(ck.has(wn)) << wn;
    ASSERT_TRUE(ck.has(sn)) << sn;
    EXPECT_FALSE(ck.has(module + ".weight")) << module;
    seen.insert(wn);
    seen.insert(sn);
    const StFile& fw = ck.at(wn);
    const StFile& fs_ = ck.at(sn);
    EXPECT_EQ(fw.dtype(wn), wdt);
    EXPECT_EQ(fw.shape(wn), (std::vector<int64_t>{outr, packed_cols(in)}));
    EXPECT_EQ(fs_.dtype(sn), "F16");
    const std::vector<int64_t> scale_shape = ct ? std::vector<int64_t>{outr, ng} : std::vector<int64_t>{ng, outr};
    EXPECT_EQ(fs_.shape(sn), scale_shape);
    if (ct) {
      const std::string shn = module + ".weight_shape";
      ASSERT_TRUE(ck.has(shn));
      seen.insert(shn);
      EXPECT_EQ(ck.at(shn).dtype(shn), "I64");
      EXPECT_EQ(load<int64_t>(ck.at(shn).data(shn)), outr);
      EXPECT_EQ(load<int64_t>(ck.at(shn).data(shn) + 8), in);
    }
    const auto w = source_values(g, gname);
    check_matrix(w.data(), outr, in, c.group, qmax, q_reader(fw, wn, 0, outr, in),
                 s_reader(fs_, sn, 0, outr, ng), wn, bounds[wn]);
  };
  auto check_float = [&](const std::string& gname, const std::string& hf, const std::string& dtype,
                         std::vector<int64_t> shape) {
    ASSERT_TRUE(ck.has(hf)) << hf;
    seen.insert(hf);
    const StFile& f = ck.at(hf);
    EXPECT_EQ(f.dtype(hf), dtype) << hf;
    EXPECT_EQ(f.shape(hf), shape) << hf;
    const auto w = source_values(g, gname);
    for (size_t i = 0; i < w.size(); ++i) {
      const float got = dtype == "F32" ? load<float>(f.data(hf) + 4 * i) : bf16_to_float(load<uint16_t>(f.data(hf) + 2 * i));
      // BF16 keeps 8 significant bits: round to nearest errs by at most 2^-8 relative.
      ASSERT_LE(std::fabs(got - w[i]), dtype == "F32" ? 0.0 : std::fabs(w[i]) * (1.0 / 256)) << hf << " " << i;
    }
  };

  const auto* embd = g.find_tensor("token_embd.weight");
  check_float("token_embd.weight", "model.embed_tokens.weight", "BF16", {embd->ne[1], embd->ne[0]});
  check_float("output.weight", "lm_head.weight", "BF16", {embd->ne[1], embd->ne[0]});
  check_float("output_norm.weight", "model.norm.weight", "F32", {embd->ne[0]});
  int64_t n_layer = 0;
  g.get_int(c.arch + ".block_count", n_layer);
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string b = fmt::format("blk.{}.", l), h = fmt::format("model.layers.{}.", l);
    check_float(b + "attn_norm.weight", h + "input_layernorm.weight", "F32", {embd->ne[0]});
    check_float(b + "ffn_norm.weight", h + "post_attention_layernorm.weight", "F32", {embd->ne[0]});
    for (const char* p : {"q", "k", "v"}) check_linear(b + "attn_" + p + ".weight", h + "self_attn." + p + "_proj");
    check_linear(b + "attn_output.weight", h + "self_attn.o_proj");
    if (c.arch == "qwen3moe") {
      const auto* qn = g.find_tensor(b + "attn_q_norm.weight");
      check_float(b + "attn_q_norm.weight", h + "self_attn.q_norm.weight", "F32", {qn->ne[0]});
      check_float(b + "attn_k_norm.weight", h + "self_attn.k_norm.weight", "F32", {qn->ne[0]});
    } else {
      for (const char* p : {"q", "k", "v"}) {
        const auto* bt = g.find_tensor(b + "attn_" + p + ".bias");
        check_float(b + "attn_" + p + ".bias", h + "self_attn." + p + "_proj.bias", "F32", {bt->ne[0]});
      }
      check_float(b + "ffn_gate_inp_shexp.weight", h + "mlp.shared_expert_gate.weight", "F32", {1, embd->ne[0]});
      for (const char* p : {"gate", "up", "down"}) {
        check_linear(b + "ffn_" + p + "_shexp.weight", h + "mlp.shared_expert." + p + "_proj");
      }
    }
    // Router: quantized in the apex format, BF16 for vLLM.
    const auto* router = g.find_tensor(b + "ffn_gate_inp.weight");
    if (ct) {
      check_float(b + "ffn_gate_inp.weight", h + "mlp.gate.weight", "BF16", {router->ne[1], router->ne[0]});
    } else {
      check_linear(b + "ffn_gate_inp.weight", h + "mlp.gate");
    }
    // Routed experts.
    const auto* gate = g.find_tensor(b + "ffn_gate_exps.weight");
    const int64_t n_exp = gate->ne[2], ff = gate->ne[1], embd_n = gate->ne[0];
    const auto wg = source_values(g, b + "ffn_gate_exps.weight");
    const auto wu = source_values(g, b + "ffn_up_exps.weight");
    const auto wd = source_values(g, b + "ffn_down_exps.weight");
    if (ct) {
      for (int64_t e = 0; e < n_exp; ++e) {
        for (const char* p : {"gate", "up", "down"}) {
          const std::string m = fmt::format("{}mlp.experts.{}.{}_proj", h, e, p);
          const bool is_down = std::string(p) == "down";
          const int64_t in = is_down ? ff : embd_n, outr = is_down ? embd_n : ff;
          const std::string wn = m + ".weight_packed", sn = m + ".weight_scale";
          ASSERT_TRUE(ck.has(wn)) << wn;
          seen.insert({wn, sn, m + ".weight_shape"});
          EXPECT_EQ(ck.at(m + ".weight_shape").dtype(m + ".weight_shape"), "I64");
          EXPECT_EQ(ck.at(wn).shape(wn), (std::vector<int64_t>{outr, packed_cols(in)}));
          const auto& src = is_down ? wd : (std::string(p) == "gate" ? wg : wu);
          check_matrix(src.data() + e * outr * in, outr, in, c.group, qmax, q_reader(ck.at(wn), wn, 0, outr, in),
                       s_reader(ck.at(sn), sn, 0, outr, (in + c.group - 1) / c.group), wn, bounds[wn]);
        }
      }
      EXPECT_FALSE(ck.has(h + "mlp.experts.gate_up_proj" + es));
    } else {
      const std::string gu = h + "mlp.experts.gate_up_proj" + es, gus = h + "mlp.experts.gate_up_proj" + ess;
      const std::string dn = h + "mlp.experts.down_proj" + es, dns = h + "mlp.experts.down_proj" + ess;
      ASSERT_TRUE(ck.has(gu) && ck.has(gus) && ck.has(dn) && ck.has(dns)) << h;
      seen.insert({gu, gus, dn, dns});
      const int64_t ng_e = (embd_n + c.group - 1) / c.group, ng_f = (ff + c.group - 1) / c.group;
      EXPECT_EQ(ck.at(gu).shape(gu), (std::vector<int64_t>{n_exp, 2 * ff, packed_cols(embd_n)}));
      EXPECT_EQ(ck.at(gus).shape(gus), (std::vector<int64_t>{n_exp, ng_e, 2 * ff}));
      EXPECT_EQ(ck.at(dn).shape(dn), (std::vector<int64_t>{n_exp, embd_n, packed_cols(ff)}));
      EXPECT_EQ(ck.at(dns).shape(dns), (std::vector<int64_t>{n_exp, ng_f, embd_n}));
      EXPECT_EQ(ck.at(gu).dtype(gu), wdt);
      for (int64_t e = 0; e < n_exp; ++e) {
        // gate_up: per expert the gate rows then the up rows.
        std::vector<float> fused(static_cast<size_t>(2 * ff * embd_n));
        std::copy_n(wg.begin() + e * ff * embd_n, ff * embd_n, fused.begin());
        std::copy_n(wu.begin() + e * ff * embd_n, ff * embd_n, fused.begin() + ff * embd_n);
        check_matrix(fused.data(), 2 * ff, embd_n, c.group, qmax, q_reader(ck.at(gu), gu, e, 2 * ff, embd_n),
                     s_reader(ck.at(gus), gus, e, 2 * ff, ng_e), gu, bounds[gu]);
        check_matrix(wd.data() + e * embd_n * ff, embd_n, ff, c.group, qmax, q_reader(ck.at(dn), dn, e, embd_n, ff),
                     s_reader(ck.at(dns), dns, e, embd_n, ng_f), dn, bounds[dn]);
      }
    }
  }
  // Nothing else in the checkpoint: every tensor was looked at above.
  for (const auto& [name, file] : ck.where) EXPECT_TRUE(seen.count(name)) << "unexpected tensor " << name;
  EXPECT_EQ(seen.size(), ck.where.size());

  // config.json: the family's field names and the synth options.
  std::ifstream cin_(out / "config.json");
  const json cfg = json::parse(cin_);
  EXPECT_EQ(cfg["architectures"][0], c.arch == "qwen3moe" ? "Qwen3MoeForCausalLM" : "Qwen2MoeForCausalLM");
  EXPECT_EQ(cfg["model_type"], c.arch == "qwen3moe" ? "qwen3_moe" : "qwen2_moe");
  EXPECT_EQ(cfg["hidden_size"], 256);
  EXPECT_EQ(cfg["num_hidden_layers"], 2);
  EXPECT_EQ(cfg["num_attention_heads"], 4);
  EXPECT_EQ(cfg["num_key_value_heads"], 2);
  EXPECT_EQ(cfg["num_experts"], 4);
  EXPECT_EQ(cfg["num_experts_per_tok"], 2);
  EXPECT_EQ(cfg["moe_intermediate_size"], 128);
  EXPECT_EQ(cfg["vocab_size"], 512);
  if (c.arch == "qwen2moe") {
    EXPECT_EQ(cfg["shared_expert_intermediate_size"], 192);
  }
  const json& qc = cfg["quantization_config"];
  if (ct) {
    EXPECT_EQ(qc["quant_method"], "compressed-tensors");
    EXPECT_EQ(qc["format"], "pack-quantized");
    EXPECT_EQ(qc["config_groups"]["group_0"]["weights"]["num_bits"], c.bits);
    EXPECT_EQ(qc["config_groups"]["group_0"]["weights"]["group_size"], c.group);
    EXPECT_EQ(qc["config_groups"]["group_0"]["weights"]["strategy"], "group");
    EXPECT_EQ(qc["config_groups"]["group_0"]["weights"]["symmetric"], true);
  } else {
    EXPECT_EQ(qc["bits"], c.bits);
    EXPECT_EQ(qc["group_size"], c.group);
    EXPECT_EQ(qc["weight_suffix"], ws.substr(1));
  }

  // Provenance: sha256 as sha256sum computes it; per-tensor errors as measured here.
  std::ifstream pin(out / apex::xport::kProvenanceFileName);
  const json prov = json::parse(pin);
  EXPECT_EQ(prov["source"]["sha256"], sha256sum_tool(model));
  EXPECT_EQ(prov["quantization"]["bits"], c.bits);
  EXPECT_EQ(prov["quantization"]["group_size"], c.group);
  std::map<std::string, json> by_name;
  for (const json& t : prov["tensors"]) by_name[t["name"]] = t;
  for (const auto& [name, b] : bounds) {
    ASSERT_TRUE(by_name.count(name)) << name;
    const json& t = by_name[name];
    EXPECT_NEAR(t["max_abs_error"].get<double>(), b.max_err, 1e-6 * b.max_err + 1e-9) << name;
    EXPECT_NEAR(t["mean_abs_error"].get<double>(), b.sum_err / static_cast<double>(b.n), 1e-6 * b.max_err + 1e-9) << name;
  }
  fs::remove_all(dir);
}

// The synthetic models are shared by the tests of one process; removed at exit.
class RemoveModels : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / fmt::format("apex_export_models_{}", getpid()), ec);
  }
};
[[maybe_unused]] ::testing::Environment* const kRemoveModels =
    ::testing::AddGlobalTestEnvironment(new RemoveModels);

}  // namespace

TEST(ExportInt, Qwen3MoeQ8_0ToInt8Apex) {
  check_export({"qwen3moe", true, 8, 128, apex::xport::IntFormat::kApex});
}
TEST(ExportInt, Qwen3MoeF16ToInt4ApexShortLastGroup) {
  check_export({"qwen3moe", false, 4, 96, apex::xport::IntFormat::kApex});
}
TEST(ExportInt, Qwen2MoeQ8_0ToInt4Apex) {
  check_export({"qwen2moe", true, 4, 128, apex::xport::IntFormat::kApex});
}
TEST(ExportInt, Qwen2MoeF16ToInt8CompressedTensors) {
  check_export({"qwen2moe", false, 8, 64, apex::xport::IntFormat::kCompressedTensors});
}
TEST(ExportInt, Qwen3MoeQ8_0ToInt4CompressedTensors) {
  check_export({"qwen3moe", true, 4, 128, apex::xport::IntFormat::kCompressedTensors});
}

// FIPS 180-2 appendix B test vectors.
TEST(ExportInt, Sha256KnownAnswers) {
  auto hex = [](const std::string& s) {
    apex::xport::Sha256 h;
    h.update({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    return h.hex_digest();
  };
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  apex::xport::Sha256 m;
  const std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) m.update({reinterpret_cast<const uint8_t*>(a.data()), 333}),
                                 m.update({reinterpret_cast<const uint8_t*>(a.data()), 667});
  EXPECT_EQ(m.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Bad input: one line naming the file / tensor / architecture, exit 1, and
// no output directory (complete-looking or temporary) left behind.
TEST(ExportInt, BadInputIsOneLineAndLeavesNothing) {
  const fs::path dir = scratch_dir("bad");
  const fs::path models = fs::temp_directory_path() / fmt::format("apex_export_models_{}", getpid());
  fs::create_directories(models);
  const fs::path good = make_model(models, "qwen3moe", false);
  auto nothing_left = [&](const fs::path& out) {
    EXPECT_FALSE(fs::exists(out)) << out;
    for (const auto& e : fs::directory_iterator(out.parent_path())) {
      EXPECT_EQ(e.path().filename().string().find(out.filename().string() + ".tmp"), std::string::npos) << e.path();
    }
  };
  const fs::path out = dir / "out";

  auto r = run_apex(dir, fmt::format("export-int {} --from {}/missing.gguf --no-progress", out.string(), dir.string()));
  expect_one_line_error(r, {"missing.gguf"});
  nothing_left(out);

  // Unsupported architecture.
  apex::synth::Options lo;
  lo.arch = "llama";
  lo.n_layer = 1;
  lo.n_expert = 0;
  lo.n_expert_used = 0;
  lo.n_vocab = 300;
  const fs::path llama = dir / "llama.gguf";
  ASSERT_TRUE(apex::synth::write_model(lo, llama.string()).ok());
  r = run_apex(dir, fmt::format("export-int {} --from {} --no-progress", out.string(), llama.string()));
  expect_one_line_error(r, {"llama.gguf", "architecture llama", "qwen3moe"});
  nothing_left(out);

  // Truncated source.
  const fs::path cut = dir / "cut.gguf";
  fs::copy_file(good, cut);
  fs::resize_file(cut, fs::file_size(good) - 1000);
  r = run_apex(dir, fmt::format("export-int {} --from {} --no-progress", out.string(), cut.string()));
  expect_one_line_error(r, {"cut.gguf"});
  nothing_left(out);

  // Bad flags.
  r = run_apex(dir, fmt::format("export-int {} --from {} --bits 5", out.string(), good.string()));
  expect_one_line_error(r, {"--bits 5"});
  r = run_apex(dir, fmt::format("export-int {} --from {} --format gptq", out.string(), good.string()));
  expect_one_line_error(r, {"--format gptq"});
  r = run_apex(dir, fmt::format("export-int {} --from {} --format compressed-tensors --bits 4 --group 12",
                                out.string(), good.string()));
  expect_one_line_error(r, {"--group 12"});
  nothing_left(out);

  // An existing output directory is never overwritten.
  fs::create_directories(out);
  r = run_apex(dir, fmt::format("export-int {} --from {} --no-progress", out.string(), good.string()));
  expect_one_line_error(r, {out.string(), "already exists"});
  EXPECT_TRUE(fs::is_empty(out));
  fs::remove(out);

  // A NaN in the source names the tensor and row (library call).
  {
    auto f = apex::gguf::File::open(good.string());
    ASSERT_TRUE(f.ok());
    const auto* t = (*f)->find_tensor("blk.1.attn_k.weight");
    ASSERT_EQ(t->type, 1);
    const uint64_t at = (*f)->data_offset() + t->offset + 2 * (3 * t->ne[0] + 5);  // row 3
    const fs::path nan_model = dir / "nan.gguf";
    fs::copy_file(good, nan_model);
    std::fstream io(nan_model, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(at));
    const uint16_t nan16 = 0x7e00;
    io.write(reinterpret_cast<const char*>(&nan16), 2);
    io.close();
    apex::xport::IntExportOptions o;
    o.gguf_path = nan_model.string();
    o.out_dir = out.string();
    auto rep = apex::xport::export_int(o);
    ASSERT_FALSE(rep.ok());
    EXPECT_NE(rep.message().find("blk.1.attn_k.weight row 3"), std::string::npos) << rep.message();
    nothing_left(out);
  }

  // Success through the CLI with --json.
  r = run_apex(dir, fmt::format("export-int {} --from {} --bits 4 --no-hash --json", out.string(), good.string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["architecture"], "qwen3moe");
  EXPECT_EQ(j["bits"], 4);
  EXPECT_TRUE(fs::exists(out / "config.json"));
  fs::remove_all(dir);
}
