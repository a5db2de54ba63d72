// Synthetic models must load and run in llama.cpp (the oracle) for every
// architecture and awkward shape, and be byte-deterministic.
#include "synth/synth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "oracle/oracle.h"
#include "synth_test_support.h"
#include "quant/fp16.h"
#include "synth/vocab.h"

namespace apex::synth {
namespace {

namespace fs = std::filesystem;
using quant::TypeId;

using testing::TempDir;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Case {
  std::string label;
  Options opts;
};

Options base(const std::string& arch, TypeId type) {
  Options o;
  o.arch = arch;
  o.n_layer = 2;
  o.n_embd = 128;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_expert = arch == "llama" ? 0 : 4;
  o.n_expert_used = 2;
  o.n_ff = 96;
  o.n_vocab = 600;
  o.weight_type = type;
  o.context_length = 256;
  o.seed = 7;
  return o;
}

std::vector<Case> oracle_cases() {
  std::vector<Case> cases;
  for (TypeId t : {TypeId::F32, TypeId::F16}) {
    const std::string tn = t == TypeId::F32 ? "f32" : "f16";
    for (const char* arch : {"qwen2moe", "qwen3moe", "llama"}) {
      cases.push_back({std::string(arch) + "_" + tn, base(arch, t)});
    }
    Options mixtral = base("llama", t);
    mixtral.n_expert = 3;
    mixtral.n_expert_used = 2;
    cases.push_back({"mixtral_" + tn, mixtral});
  }
  // Awkward shapes: rows that are not multiples of 256 (320, 96), odd
  // expert counts, n_head_kv < n_head, 1 and 48 layers, a head_dim that
  // differs from n_embd / n_head, a shared expert of its own width, BF16.
  Options o = base("qwen3moe", TypeId::F16);
  o.n_embd = 320, o.n_head = 5, o.n_head_kv = 1, o.n_expert = 5, o.n_expert_used = 3;
  o.n_ff = 160, o.n_layer = 1;
  cases.push_back({"qwen3moe_e320_x5_l1", o});
  o = base("qwen2moe", TypeId::F16);
  o.n_embd = 96, o.n_head = 4, o.n_head_kv = 4, o.n_expert = 7, o.n_expert_used = 1;
  o.n_ff = 64, o.n_ff_shared = 200, o.n_layer = 3;
  cases.push_back({"qwen2moe_e96_x7_shared200", o});
  o = base("qwen3moe", TypeId::BF16);
  o.n_embd = 256, o.n_head = 8, o.n_head_kv = 2, o.head_dim = 64, o.n_expert = 3;
  o.n_expert_used = 3;
  cases.push_back({"qwen3moe_headdim64_bf16", o});
  o = base("llama", TypeId::F16);
  o.n_embd = 64, o.n_head = 2, o.n_head_kv = 1, o.n_ff = 80, o.n_layer = 48;
  cases.push_back({"llama_48_layers", o});
  o = base("llama", TypeId::F32);
  o.n_embd = 96, o.n_head = 3, o.n_head_kv = 3, o.head_dim = 48, o.n_expert = 5;
  o.n_expert_used = 2, o.n_ff = 72;
  cases.push_back({"mixtral_x5_headdim48", o});
  return cases;
}

class SynthOracle : public ::testing::TestWithParam<Case> {};

TEST_P(SynthOracle, LoadsAndRunsInLlamaCpp) {
  const Case& c = GetParam();
  TempDir dir;
  const std::string path = dir.file(c.label + ".gguf");
  uint64_t last_done = 0, total = 0;
  Status s = write_model(c.opts, path, [&](uint64_t done, uint64_t all, std::string_view) {
    EXPECT_GE(done, last_done);
    last_done = done;
    total = all;
  });
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(last_done, total);

  // Our own reader agrees with the planned layout (names, shapes, types).
  auto layout = make_layout(c.opts);
  ASSERT_TRUE(layout.ok()) << layout.message();
  auto f = gguf::File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  ASSERT_EQ((*f)->tensors().size(), layout->tensors.size());
  for (size_t i = 0; i < layout->tensors.size(); ++i) {
    EXPECT_EQ((*f)->tensors()[i].name, layout->tensors[i].name);
    EXPECT_EQ((*f)->tensors()[i].ne, layout->tensors[i].ne);
  }

  const std::vector<int32_t> tokens = {1, 300, 17, 42, 599, 260, 3, 2, 400, 5};
  oracle::LogitsResult r = oracle::eval_logits(path, tokens, 2);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.n_vocab, c.opts.n_vocab);
  ASSERT_EQ(r.logits.size(), tokens.size() * static_cast<size_t>(c.opts.n_vocab));
  double sum = 0, sum2 = 0, max_abs = 0;
  for (float v : r.logits) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sum2 += static_cast<double>(v) * v;
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(v)));
  }
  const double n = static_cast<double>(r.logits.size());
  const double sd = std::sqrt(std::max(0.0, sum2 / n - (sum / n) * (sum / n)));
  // Weights scaled by 1/sqrt(fan_in) keep logits near unit scale: neither
  // collapsed to a constant nor blown up.
  EXPECT_GT(sd, 0.1) << c.label;
  EXPECT_LT(sd, 10.0) << c.label;
  EXPECT_LT(max_abs, 100.0) << c.label;
  // Different positions see different contexts, so their logits differ.
  EXPECT_NE(std::memcmp(&r.logits[0], &r.logits[static_cast<size_t>(c.opts.n_vocab)],
                        sizeof(float) * static_cast<size_t>(c.opts.n_vocab)),
            0);

  std::vector<int32_t> ids;
  ASSERT_TRUE(oracle::tokenize(path, "Hello world, the quick brown fox! 42", true, false, ids));
  ASSERT_GT(ids.size(), 3u);
  EXPECT_EQ(ids[0], 1);  // add_bos
  for (int32_t id : ids) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, c.opts.n_vocab);
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, SynthOracle, ::testing::ValuesIn(oracle_cases()),
                         [](const auto& info) { return info.param.label; });

// llama_model_quantize takes synthetic models as input, including rows that
// are not multiples of 256 (it falls back to other types there), and the
// quantized model still runs.
TEST(Synth, OracleQuantizesAndRunsASyntheticModel) {
  TempDir dir;
  Options o = base("qwen3moe", TypeId::F16);
  o.n_embd = 320, o.n_head = 5, o.n_head_kv = 1, o.n_expert = 3, o.n_ff = 256;
  const std::string src = dir.file("src.gguf"), dst = dir.file("q4km.gguf");
  ASSERT_TRUE(write_model(o, src).ok());
  oracle::QuantizeParams p = oracle::default_quantize_params();
  p.nthread = 2;
  p.ftype = 15;  // MOSTLY_Q4_K_M
  ASSERT_EQ(oracle::model_quantize(src, dst, p), 0u);
  oracle::LogitsResult r = oracle::eval_logits(dst, {1, 20, 300, 40}, 2);
  ASSERT_TRUE(r.ok) << r.error;
  for (float v : r.logits) ASSERT_TRUE(std::isfinite(v));
}

TEST(Synth, SameSeedSameBytesWhateverTheThreadCount) {
  TempDir dir;
  Options o = base("qwen3moe", TypeId::F16);
  o.n_embd = 256, o.n_ff = 512, o.n_expert = 8, o.n_layer = 3;  // > 1 slab per expert tensor
  o.n_threads = 1;
  ASSERT_TRUE(write_model(o, dir.file("a.gguf")).ok());
  o.n_threads = 3;
  ASSERT_TRUE(write_model(o, dir.file("b.gguf")).ok());
  o.seed = 8;
  ASSERT_TRUE(write_model(o, dir.file("c.gguf")).ok());
  const std::string a = read_bytes(dir.file("a.gguf"));
  EXPECT_GT(a.size(), 10u << 20);
  EXPECT_EQ(a, read_bytes(dir.file("b.gguf")));
  const std::string c = read_bytes(dir.file("c.gguf"));
  ASSERT_EQ(a.size(), c.size());
  EXPECT_NE(a, c);
}

TEST(Synth, StoredValuesAreTheGeneratedValues) {
  TempDir dir;
  for (TypeId t : {TypeId::F32, TypeId::F16, TypeId::BF16}) {
    Options o = base("qwen2moe", t);
    const std::string path = dir.file("m.gguf");
    ASSERT_TRUE(write_model(o, path).ok());
    auto f = gguf::File::open(path);
    ASSERT_TRUE(f.ok()) << f.message();
    for (const gguf::TensorInfo& ti : (*f)->tensors()) {
      const int64_t n = ti.n_elements();
      std::vector<float> want(static_cast<size_t>(n));
      ASSERT_TRUE(tensor_values(o, ti.name, 0, want).ok());
      const auto bytes = (*f)->tensor_data(ti);
      const bool is_matrix = ti.ne.size() >= 2 && ti.name.find("gate_inp") == std::string::npos;
      // Norms, biases and routers stay F32 as converters write them.
      ASSERT_EQ(ti.type, static_cast<int32_t>(is_matrix ? t : TypeId::F32)) << ti.name;
      for (int64_t i = 0; i < n; ++i) {
        float got;
        if (ti.type == 0) {
          std::memcpy(&got, bytes.data() + 4 * i, 4);
        } else {
          uint16_t h;
          std::memcpy(&h, bytes.data() + 2 * i, 2);
          got = ti.type == 1 ? quant::fp16_to_fp32(h) : quant::bf16_to_fp32(h);
          want[i] = ti.type == 1 ? quant::fp16_to_fp32(quant::fp32_to_fp16(want[i]))
                                 : quant::bf16_to_fp32(quant::fp32_to_bf16(want[i]));
        }
        ASSERT_EQ(got, want[i]) << ti.name << " element " << i;
      }
      // Slices equal the whole.
      if (n > 10) {
        std::vector<float> part(5);
        ASSERT_TRUE(tensor_values(o, ti.name, n - 5, part).ok());
        std::vector<float> whole(static_cast<size_t>(n));
        ASSERT_TRUE(tensor_values(o, ti.name, 0, whole).ok());
        EXPECT_EQ(part, std::vector<float>(whole.end() - 5, whole.end()));
      }
    }
  }
}

TEST(Synth, MatrixScaleFollowsFanIn) {
  Options o = base("qwen3moe", TypeId::F32);
  o.n_embd = 512, o.n_ff = 128;
  std::vector<float> v(static_cast<size_t>(512 * 128 * 4));
  ASSERT_TRUE(tensor_values(o, "blk.0.ffn_up_exps.weight", 0, v).ok());
  double s = 0, s2 = 0;
  for (float x : v) s += x, s2 += static_cast<double>(x) * x;
  const double mean = s / v.size(), sd = std::sqrt(s2 / v.size() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 1e-3);
  EXPECT_NEAR(sd, 1.0 / std::sqrt(512.0), 0.02 / std::sqrt(512.0));
  std::vector<float> norm(512);
  ASSERT_TRUE(tensor_values(o, "blk.1.attn_norm.weight", 0, norm).ok());
  for (float x : norm) EXPECT_NEAR(x, 1.0f, 0.5f);
}

TEST(Synth, VocabularyIsValidAndMergeable) {
  auto v = make_spm_vocab(5000);
  ASSERT_TRUE(v.ok()) << v.message();
  ASSERT_EQ(v->tokens.size(), 5000u);
  EXPECT_EQ(v->tokens[0], "<unk>");
  EXPECT_EQ(v->tokens[1], "<s>");
  EXPECT_EQ(v->tokens[2], "</s>");
  EXPECT_EQ(v->tokens[3], "<0x00>");
  EXPECT_EQ(v->tokens[258], "<0xFF>");
  std::set<std::string> uniq(v->tokens.begin(), v->tokens.end());
  EXPECT_EQ(uniq.size(), v->tokens.size());
  EXPECT_EQ(v->types[258], static_cast<int32_t>(TokenType::kByte));
  EXPECT_EQ(v->types[4999], static_cast<int32_t>(TokenType::kNormal));
  EXPECT_FALSE(make_spm_vocab(258).ok());
  auto big = make_spm_vocab(152064);  // Qwen-sized
  ASSERT_TRUE(big.ok()) << big.message();
  EXPECT_EQ(big->tokens.size(), 152064u);
}

TEST(Synth, SpmTokenizerBuildsMultiCharacterTokens) {
  TempDir dir;
  Options o = base("llama", TypeId::F16);
  o.n_vocab = 4000;
  const std::string path = dir.file("v.gguf");
  ASSERT_TRUE(write_model(o, path).ok());
  auto vocab = make_spm_vocab(o.n_vocab);
  ASSERT_TRUE(vocab.ok());
  std::vector<int32_t> ids;
  const std::string text = "the theory of the thing is that there are three";
  ASSERT_TRUE(oracle::tokenize(path, text, false, false, ids));
  // Fewer tokens than characters: merges happened.
  EXPECT_LT(ids.size(), text.size() * 3 / 4);
  std::string joined;
  for (int32_t id : ids) joined += vocab->tokens[static_cast<size_t>(id)];
  // Detokenized by hand: word-start marks become spaces.
  std::string spaced;
  for (size_t i = 0; i < joined.size();) {
    if (joined.compare(i, 3, "\xe2\x96\x81") == 0) {
      spaced += ' ';
      i += 3;
    } else {
      spaced += joined[i++];
    }
  }
  EXPECT_EQ(spaced, " " + text);
}

TEST(Synth, BadOptionsAreErrors) {
  auto expect_bad = [](Options o, const std::string& fragment) {
    Status s = validate(o);
    ASSERT_FALSE(s.ok()) << fragment;
    EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
    TempDir dir;
    EXPECT_FALSE(write_model(o, dir.file("x.gguf")).ok());
    EXPECT_FALSE(fs::exists(dir.file("x.gguf")));
  };
  Options o = base("qwen3moe", TypeId::F16);
  ASSERT_TRUE(validate(o).ok());
  o.arch = "gpt2";
  expect_bad(o, "unknown architecture");
  o = base("qwen3moe", TypeId::F16);
  o.n_head_kv = 3;
  expect_bad(o, "n_head_kv");
  o = base("qwen2moe", TypeId::F16);
  o.head_dim = 64;
  expect_bad(o, "head_dim * n_head == n_embd");
  o = base("qwen3moe", TypeId::F16);
  o.n_expert = 0;
  expect_bad(o, "n_expert >= 1");
  o = base("qwen3moe", TypeId::F16);
  o.n_expert_used = 5;
  expect_bad(o, "n_expert_used");
  o = base("qwen3moe", TypeId::F16);
  o.n_vocab = 100;
  expect_bad(o, "n_vocab");
  o = base("qwen3moe", TypeId::F16);
  o.weight_type = TypeId::Q4_0;
  expect_bad(o, "F32, F16 or BF16");
  o = base("llama", TypeId::F16);
  o.n_ff_shared = 10;
  expect_bad(o, "n_ff_shared");
  o = base("llama", TypeId::F16);
  o.n_embd = 100, o.n_head = 3, o.n_head_kv = 1;
  expect_bad(o, "multiple of n_head");
  o = base("llama", TypeId::F16);
  o.n_layer = 0;
  expect_bad(o, "n_layer");
  // A missing output directory is an error naming the path, not a crash.
  Status s = write_model(base("llama", TypeId::F16), "/nonexistent-dir/x.gguf");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace apex::synth
