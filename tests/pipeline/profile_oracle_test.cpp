// Acceptance of `apex quantize --profile P`: the output equals, tensor by
// tensor and key by key, what llama_model_quantize writes with P's base
// ftype, P's tensor-type file and the same imatrix -- the APEX recipe of
// quantize.sh -- for every built-in profile whose types apex implements (the
// loop picks up a profile as soon as its formats land). The only difference
// allowed is the apex.* keys appended after llama-quantize's.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "gguf/gguf.h"
#include "imatrix/imatrix.h"
#include "synth/random_imatrix.h"
#include "oracle/oracle.h"
#include "pipeline/apex_quantize.h"
#include "pipeline/quantize_model.h"
#include "plan/profile.h"
#include "quant/type_table.h"
#include "synth/synth.h"
#include "support/temp_dir.h"

namespace apex::pipeline {
namespace {

namespace fs = std::filesystem;

fs::path scratch_dir() {
  static fs::path dir = [] {
    return apex::test_support::process_scratch("apex_profile_oracle");  // removed at exit
  }();
  return dir;
}

struct Model {
  std::string label;
  fs::path path;
  fs::path imatrix;  // GGUF or legacy .dat
};

synth::Options small_moe(const char* arch, int layers) {
  synth::Options o;
  o.arch = arch;
  o.n_layer = layers;
  o.n_embd = 256;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_expert = 3;
  o.n_expert_used = 2;
  o.n_ff = 256;
  o.n_ff_shared = std::string(arch) == "qwen2moe" ? 256 : 0;
  o.n_vocab = 320;
  if (std::string(arch) == "qwen3moe") o.head_dim = 64;
  return o;
}

// Qwen3.5/3.6-style hybrid: three Gated DeltaNet blocks per full-attention
// block, a gated shared expert; the linear-attention projections are rows
// of 256 (value heads of 64 x 4), ssm_beta/ssm_alpha 4 rows, ssm_conv1d F32.
synth::Options small_qwen35moe(int layers) {
  synth::Options o = small_moe("qwen35moe", layers);
  o.head_dim = 64;
  o.n_ff_shared = 256;
  o.ssm_d_state = 64;
  o.ssm_n_group = 2;
  o.ssm_dt_rank = 4;
  return o;
}

// Nemotron-H MoE (Nemotron-3 Nano's shape): Mamba-2, attention and MoE
// blocks; ssm_in rows of 256 into 1288 outputs, ssm_out rows of 512, ssm_a /
// ssm_d 2-D but never quantized (names without ".weight"), relu^2 experts
// with up/down only plus a shared expert, an exp_probs_b selection bias.
synth::Options small_nemotron_h_moe() {
  synth::Options o = small_moe("nemotron_h_moe", 12);
  o.layer_pattern = "MEM*EMEM*EME";
  o.head_dim = 64;
  o.n_ff_shared = 256;
  o.ssm_d_state = 64;
  o.ssm_n_group = 2;
  o.ssm_dt_rank = 8;
  o.ssm_d_inner = 512;
  o.expert_weights_scale = 2.5f;
  return o;
}

// DeepSeek-V3-shaped MLA (rows of 128 in attn_k_b, of the 256-wide latent
// in attn_v_b and of the 384-wide q_lora in attn_q_b), one leading dense
// block, two shared experts, sigmoid gating with exp_probs_b.
synth::Options small_deepseek2(int layers) {
  synth::Options o = small_moe("deepseek2", layers);
  o.n_expert = 4;
  o.head_dim = 192;
  o.rope_dim = 64;
  o.v_head_dim = 128;
  o.q_lora_rank = 384;
  o.kv_lora_rank = 256;
  o.n_dense_lead = 1;
  o.n_ff_dense = 512;
  o.n_expert_shared = 2;
  o.expert_weights_scale = 2.5f;
  return o;
}

// Gemma 4 shaped like the 26B-A4B: five sliding-window blocks per global
// block, global heads twice as wide with fewer KV heads and no attn_v, a
// dense FFN beside the experts, fused ffn_gate_up_exps, per-expert
// ffn_down_exps.scale, F32 router scales, tied output.
synth::Options small_gemma4(int layers) {
  synth::Options o = small_moe("gemma4", layers);
  o.head_dim = 128;
  o.head_dim_swa = 64;
  o.n_head_kv = 1;
  o.n_head_kv_swa = 2;
  o.n_ff_dense = 256;
  o.full_attention_interval = 6;
  o.spm_vocab = true;  // 320 tokens are too few for gemma4's own vocabulary; the types are the point here
  return o;
}

// Positive heavy-tailed importance for every matrix, in llama.cpp's GGUF
// imatrix format.
fs::path make_imatrix(const fs::path& model) {
  auto file = gguf::File::open(model.string());
  EXPECT_TRUE(file.ok());
  synth::RandomImatrixOptions options;
  options.seed = 11;
  options.chunk_count = 5;
  options.dataset = "profile-calibration.txt";
  const imatrix::Imatrix m = synth::random_imatrix(**file, options);
  const fs::path out = model.parent_path() / (model.stem().string() + ".imatrix.gguf");
  Status s = imatrix::save_gguf(m, out.string());
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

Model synthetic(const std::string& label, const synth::Options& o) {
  Model m{label, scratch_dir() / (label + ".gguf"), {}};
  Status s = synth::write_model(o, m.path.string());
  EXPECT_TRUE(s.ok()) << s.message();
  m.imatrix = make_imatrix(m.path);
  return m;
}

const std::vector<Model>& models() {
  static const std::vector<Model> all = [] {
    std::vector<Model> v;
    // 24 layers: edge, near-edge and middle layers all present.
    v.push_back(synthetic("qwen2moe_24l", small_moe("qwen2moe", 24)));
    // 13 layers: edge and near-edge only, overlapping like generate_config.sh.
    v.push_back(synthetic("qwen3moe_13l", small_moe("qwen3moe", 13)));
    // 22 layers of qwen3moe (no shared experts): two middle layers.
    v.push_back(synthetic("qwen3moe_22l", small_moe("qwen3moe", 22)));
    // 12 layers of qwen35moe: full attention in blocks 3, 7, 11 (the last one
    // an edge layer), SSM tensors in the other nine, and block 12 the
    // multi-token-prediction block the converter appends (nextn.* tensors).
    synth::Options q35 = small_qwen35moe(12);
    q35.n_mtp = 1;
    v.push_back(synthetic("qwen35moe_12l", q35));
    v.push_back(synthetic("nemotron_h_moe_12l", small_nemotron_h_moe()));
    // 10 layers of gpt-oss: biased attention with sinks (1-D, never
    // quantized), a biased router, 2-D expert biases (named ".bias", never
    // quantized), q width 4 x 64 = n_embd, 8 experts.
    synth::Options oss = small_moe("gpt-oss", 10);
    oss.head_dim = 64;
    oss.n_expert = 8;
    oss.sliding_window = 16;
    oss.yarn_factor = 32.0f;
    v.push_back(synthetic("gptoss_10l", oss));
    // 8 layers of glm4moe: block 0 dense (ffn_down counted with the
    // experts' ffn_down_exps), sigmoid-routed experts with exp_probs_b and an
    // ungated shared expert, q/k/v biases and norms, and block 8 the
    // multi-token-prediction block (nextn.* tensors).
    synth::Options glm = small_moe("glm4moe", 8);
    glm.head_dim = 64;
    glm.n_mtp = 1;
    v.push_back(synthetic("glm4moe_8l", glm));
    // 10 layers of minimax-m2: q/k norm gains as wide as the projections
    // (F32, never quantized), exp_probs_b per block, q_dim (256) != kv_dim.
    synth::Options mm2 = small_moe("minimax-m2", 10);
    mm2.head_dim = 64;
    v.push_back(synthetic("minimax_m2_10l", mm2));
    // 8 layers of olmoe: every head its own KV head (attn_k/attn_v n_embd wide).
    synth::Options olmoe = small_moe("olmoe", 8);
    olmoe.n_head_kv = olmoe.n_head;
    v.push_back(synthetic("olmoe_8l", olmoe));
    // 10 blocks of deepseek2: block 0 dense, the others MoE.
    v.push_back(synthetic("deepseek2_10l", small_deepseek2(10)));
    // 12 layers of gemma4: global blocks 5 and 11 (the last an edge layer).
    v.push_back(synthetic("gemma4_12l", small_gemma4(12)));
    const fs::path tiny = fs::path(APEX_SHARED_DIR) / "models" / "tiny-moe-f16.gguf";
    if (fs::exists(tiny)) {
      v.push_back({"tiny-moe", tiny, fs::path(APEX_SHARED_DIR) / "models" / "tiny-moe-calib.imatrix.dat"});
    }
    return v;
  }();
  return all;
}

uint32_t run_oracle(const fs::path& in, const fs::path& out, const plan::FtypeInfo& base,
                    const plan::TensorTypeOverrides& tt, const fs::path* imatrix_path) {
  oracle::QuantizeParams p = oracle::default_quantize_params();
  p.nthread = 2;
  p.ftype = static_cast<int32_t>(base.ftype);
  std::vector<oracle::TensorTypeOverride> overrides;
  for (const auto& o : tt.items()) overrides.push_back({o.pattern.c_str(), static_cast<int32_t>(o.type)});
  overrides.push_back({nullptr, 0});
  p.tt_overrides = overrides.data();
  oracle::ImatrixParams imatrix_params;
  if (imatrix_path != nullptr) {
    // llama-quantize also records the imatrix file through kv overrides.
    EXPECT_TRUE(imatrix_params.load(imatrix_path->string()));
    imatrix_params.apply(p);
  }
  return oracle::model_quantize(in.string(), out.string(), p);
}

// Empty when `ours` equals `theirs` key by key (plus exactly the apex.*
// keys at the end) and tensor by tensor (name, shape, type, bytes).
std::string compare(const fs::path& ours, const fs::path& theirs, const fs::path& input) {
  auto a = gguf::File::open(ours.string());
  auto b = gguf::File::open(theirs.string());
  auto in = gguf::File::open(input.string());
  if (!a.ok() || !b.ok() || !in.ok()) return "cannot open a file";
  const auto& ka = (*a)->kvs();
  const auto& kb = (*b)->kvs();
  if (ka.size() != kb.size() + 4) return fmt::format("{} keys vs {} + 4 apex keys", ka.size(), kb.size());
  for (size_t i = 0; i < kb.size(); ++i) {
    if (ka[i].key != kb[i].key) return fmt::format("key #{}: {} vs {}", i, ka[i].key, kb[i].key);
    if (!(ka[i].value == kb[i].value))
      return fmt::format("key {}: {} vs {}", ka[i].key, ka[i].value.to_string(), kb[i].value.to_string());
  }
  const char* apex_keys[] = {"apex.profile", "apex.version", "apex.base_ftype", "apex.plan"};
  for (size_t i = 0; i < 4; ++i) {
    if (ka[kb.size() + i].key != apex_keys[i]) return "unexpected key " + ka[kb.size() + i].key;
  }
  std::string name_in, name_out;
  (*in)->get_string("general.name", name_in);
  (*a)->get_string("general.name", name_out);
  if (name_in.empty() || name_in != name_out) return "general.name not kept: '" + name_out + "'";
  const auto& ta = (*a)->tensors();
  const auto& tb = (*b)->tensors();
  if (ta.size() != tb.size()) return fmt::format("{} tensors vs {}", ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    if (ta[i].name != tb[i].name) return fmt::format("tensor #{}: {} vs {}", i, ta[i].name, tb[i].name);
    if (ta[i].ne != tb[i].ne) return "shape of " + ta[i].name;
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
  return "";
}

// The formats a plan writes that apex does not implement yet.
std::vector<std::string> missing_formats(const plan::Plan& p) {
  std::vector<std::string> out;
  for (const auto& t : p.tensors) {
    if (t.quantized && quant::traits(t.type).quantize == nullptr) {
      const std::string n = quant::type_name(t.type);
      if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
    }
  }
  return out;
}

class ProfileOracle : public ::testing::TestWithParam<size_t> {};

TEST_P(ProfileOracle, EveryImplementedProfileMatchesLlamaQuantizeWithItsTensorTypeFile) {
  ASSERT_TRUE(oracle::available());
  if (GetParam() >= models().size()) GTEST_SKIP() << "no ../shared/models/tiny-moe-f16.gguf";
  const Model& m = models()[GetParam()];
  int compared = 0, refused = 0;
  std::vector<std::string> pending;
  for (const std::string& name : plan::builtin_profile_names()) {
    auto profile = plan::builtin_profile(name);
    ASSERT_TRUE(profile.ok()) << profile.message();
    for (const bool with_imatrix : {true, false}) {
      // An I-variant is its plain tier's plan made with an imatrix; without
      // one it is the plain tier, already compared.
      if (!with_imatrix && name.rfind("i-", 0) == 0) continue;
      SCOPED_TRACE(name + (with_imatrix ? " with imatrix" : " without imatrix"));
      QuantizeJob job;
      job.input = m.path.string();
      job.output = (scratch_dir() / fmt::format("{}-{}-{}.apex.gguf", m.label, name, with_imatrix)).string();
      job.threads = 2;
      if (with_imatrix) job.imatrix_path = m.imatrix.string();
      auto planned = apply_profile(job, *profile);

      // P's tensor-type file, read back the way llama-quantize reads it.
      QuantizeJob dry = job;
      dry.dry_run = true;
      dry.imatrix_path = m.imatrix.string();
      auto full_plan = apply_profile(dry, *profile);
      ASSERT_TRUE(full_plan.ok()) << full_plan.message();
      const fs::path tt_file = scratch_dir() / fmt::format("{}-{}.tensor-types.txt", m.label, name);
      std::ofstream(tt_file) << plan::tensor_type_file_text(full_plan->lines);
      plan::TensorTypeOverrides tt;
      ASSERT_TRUE(tt.add_file(tt_file.string()).ok());

      const auto missing = missing_formats(*full_plan);
      if (!missing.empty()) {
        pending.push_back(name + "(" + missing.front() + ")");
        continue;
      }
      const fs::path theirs = scratch_dir() / fmt::format("{}-{}-{}.oracle.gguf", m.label, name, with_imatrix);
      const uint32_t rc = run_oracle(m.path, theirs, *profile->base, tt, with_imatrix ? &m.imatrix : nullptr);
      if (!planned.ok()) {
        // Only a plan that needs an imatrix may be refused, and only without one;
        // llama-quantize refuses it too.
        EXPECT_FALSE(with_imatrix) << planned.message();
        EXPECT_FALSE(full_plan->needs_imatrix.empty());
        EXPECT_NE(planned.message().find("--imatrix FILE"), std::string::npos) << planned.message();
        EXPECT_NE(planned.message().find(full_plan->needs_imatrix.front()), std::string::npos) << planned.message();
        EXPECT_NE(rc, 0u) << "llama_model_quantize accepted what apex refused";
        ++refused;
        continue;
      }
      EXPECT_EQ(job.ftype, profile->base);
      ASSERT_EQ(rc, 0u) << "llama_model_quantize refused " << name;
      auto report = quantize_model(job);
      ASSERT_TRUE(report.ok()) << report.message();
      // The plan's size is the file's tensor data, exactly.
      EXPECT_EQ(report->dst_bytes, planned->bytes);
      const std::string diff = compare(job.output, theirs, m.path);
      EXPECT_EQ(diff, "") << m.label << " " << name;
      ++compared;
      if (diff.empty()) {
        fs::remove(job.output);
        fs::remove(theirs);
      }
    }
  }
  std::string list;
  for (const auto& p : pending) list += p + " ";
  RecordProperty("pending_profiles", list);
  if (!pending.empty()) std::printf("[   INFO   ] %s: profiles waiting for formats: %s\n", m.label.c_str(), list.c_str());
  // At least the K-quant tiers (balanced, compact, with and without imatrix,
  // and their I-variants) always compare.
  EXPECT_GE(compared, 6);
  std::printf("[   INFO   ] %s: %d profile runs compared, %d refused without imatrix\n", m.label.c_str(), compared,
              refused);
}

std::string model_label(const ::testing::TestParamInfo<size_t>& info) {
  static const std::vector<std::string> labels = {"qwen2moe_24l", "qwen3moe_13l", "qwen3moe_22l",
                                                  "qwen35moe_12l", "nemotron_h_moe_12l",
                                                  "gptoss_10l", "glm4moe_8l", "minimax_m2_10l", "olmoe_8l",
                                                  "deepseek2_10l", "gemma4_12l",
                                                  "tiny_moe"};
  return labels[info.param];
}

INSTANTIATE_TEST_SUITE_P(Models, ProfileOracle, ::testing::Range<size_t>(0, 12), model_label);

}  // namespace
}  // namespace apex::pipeline
