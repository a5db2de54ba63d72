// gpt-oss through the quantizer, against llama_model_quantize:
//  - from an F16 synthetic model, MXFP4_MOE (MXFP4 experts, Q8_0 elsewhere,
//    biases, sinks and router untouched) and K-quant mixes are byte-identical;
//  - from that MXFP4_MOE file, which is laid out like a released gpt-oss
//    GGUF (experts in MXFP4), requantizing is refused by both tools without
//    --allow-requantize and byte-identical with it, for each ftype tried
//    (MXFP4 experts are copied under MXFP4_MOE and dequantized otherwise).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "gguf/gguf.h"
#include "oracle/oracle.h"
#include "pipeline/quantize_model.h"
#include "plan/ftype.h"
#include "synth/synth.h"
#include "support/temp_dir.h"

namespace apex::pipeline {
namespace {

namespace fs = std::filesystem;

fs::path scratch() {
  static fs::path dir = [] {
    return apex::test_support::process_scratch("apex_gptoss_quant");  // removed at exit
  }();
  return dir;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const fs::path& f16_model() {
  static const fs::path p = [] {
    synth::Options o;
    o.arch = "gpt-oss";
    o.n_layer = 3;
    o.n_embd = 256;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.head_dim = 64;
    o.n_expert = 4;
    o.n_expert_used = 2;
    o.n_ff = 256;
    o.n_vocab = 300;
    o.sliding_window = 16;
    o.yarn_factor = 32.0f;
    const fs::path path = scratch() / "gptoss-f16.gguf";
    Status s = synth::write_model(o, path.string());
    EXPECT_TRUE(s.ok()) << s.message();
    return path;
  }();
  return p;
}

// Quantizes `in` with both tools; true when both wrote a file (compared
// byte for byte), false when both refused.
bool both_quantize(const fs::path& in, const char* ftype_name, bool allow_requantize,
                   const std::string& tag) {
  auto f = plan::parse_ftype(ftype_name);
  EXPECT_TRUE(f.ok());
  const fs::path ours = scratch() / (tag + ".apex.gguf");
  const fs::path theirs = scratch() / (tag + ".oracle.gguf");
  oracle::QuantizeParams p = oracle::default_quantize_params();
  p.nthread = 2;
  p.ftype = static_cast<int32_t>((*f)->ftype);
  p.allow_requantize = allow_requantize;
  const uint32_t rc = oracle::model_quantize(in.string(), theirs.string(), p);
  QuantizeJob job;
  job.input = in.string();
  job.output = ours.string();
  job.ftype = *f;
  job.rules.allow_requantize = allow_requantize;
  job.threads = 2;
  auto report = quantize_model(job);
  if (rc != 0) {
    EXPECT_FALSE(report.ok()) << tag << ": llama.cpp refused, apex wrote a file";
    return false;
  }
  EXPECT_TRUE(report.ok()) << tag << ": " << report.message();
  EXPECT_TRUE(read_all(ours) == read_all(theirs)) << tag << ": files differ";
  return true;
}

TEST(GptOssQuantizeOracle, FromF16EveryFtypeTriedIsByteIdentical) {
  ASSERT_TRUE(oracle::available());
  for (const char* f : {"MXFP4_MOE", "Q4_K_M", "Q8_0", "Q3_K_S"}) {
    EXPECT_TRUE(both_quantize(f16_model(), f, false, std::string("f16-") + f)) << f;
  }
  // MXFP4_MOE puts only the 3-D expert matrices in MXFP4; the biases (2-D
  // expert biases included), sinks and router stay F32.
  auto file = gguf::File::open((scratch() / "f16-MXFP4_MOE.apex.gguf").string());
  ASSERT_TRUE(file.ok());
  for (const char* name : {"blk.0.ffn_gate_exps.weight", "blk.0.ffn_down_exps.weight"}) {
    EXPECT_EQ((*file)->find_tensor(name)->type, static_cast<int32_t>(quant::TypeId::MXFP4)) << name;
  }
  for (const char* name : {"blk.0.ffn_gate_exps.bias", "blk.0.attn_sinks.weight",
                           "blk.0.ffn_gate_inp.weight", "blk.0.ffn_gate_inp.bias"}) {
    EXPECT_EQ((*file)->find_tensor(name)->type, static_cast<int32_t>(quant::TypeId::F32)) << name;
  }
  EXPECT_EQ((*file)->find_tensor("blk.0.attn_q.weight")->type,
            static_cast<int32_t>(quant::TypeId::Q8_0));
}

TEST(GptOssQuantizeOracle, RequantizingMxfp4ExpertsMatchesLlamaCpp) {
  ASSERT_TRUE(oracle::available());
  const fs::path released_like = scratch() / "f16-MXFP4_MOE.oracle.gguf";
  if (!fs::exists(released_like)) ASSERT_TRUE(both_quantize(f16_model(), "MXFP4_MOE", false, "f16-MXFP4_MOE"));
  // Without --allow-requantize both refuse a quantized source.
  EXPECT_FALSE(both_quantize(released_like, "Q4_K_M", false, "mx-Q4_K_M-refused"));
  for (const char* f : {"Q4_K_M", "MXFP4_MOE", "Q8_0"}) {
    EXPECT_TRUE(both_quantize(released_like, f, true, std::string("mx-") + f)) << f;
  }
}

}  // namespace
}  // namespace apex::pipeline
