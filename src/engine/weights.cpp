#include "engine/weights.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "engine/matmul.h"
#include "quant/type_table.h"

namespace apex::engine {
namespace {

// Finds tensors by name and checks them against the expected ggml shape.
class Registry {
 public:
  explicit Registry(const gguf::File& f) : f_(f) {}

  // An empty optional result (not an error) when `required` is false and the
  // tensor is absent.
  Result<Weight> get(const std::string& name, std::vector<int64_t> shape, bool required = true) {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (t == nullptr) {
      if (!required) return Weight{};
      return make_error("{}: missing tensor {}", f_.path(), name);
    }
    std::vector<int64_t> ne = t->ne;
    while (ne.size() < shape.size()) ne.push_back(1);
    if (ne != shape) {
      return make_error("{}: tensor {} has shape [{}], expected [{}]", f_.path(), name,
                        fmt::join(t->ne, ", "), fmt::join(shape, ", "));
    }
    const auto type = static_cast<quant::TypeId>(t->type);
    if (!matmul_supports(type)) {
      return make_error("{}: tensor {} has type {} which the engine cannot use", f_.path(), name,
                        quant::find_type(t->type) ? quant::find_type(t->type)->name : "unknown");
    }
    Weight w;
    w.data = f_.tensor_data(*t).data();
    w.type = type;
    w.n_in = shape[0];
    w.n_out = shape.size() > 1 ? shape[1] : 1;
    w.n_mat = shape.size() > 2 ? shape[2] : 1;
    w.row_bytes = quant::row_bytes(type, w.n_in);
    w.name = name;
    return w;
  }

  // A vector that must be F32 (norm gains, biases, the shared-expert gate).
  Result<Weight> get_f32(const std::string& name, int64_t n, bool required = true) {
    Result<Weight> w = get(name, {n}, required);
    if (w && *w && w->type != quant::TypeId::F32) {
      return make_error("{}: tensor {} must be F32", f_.path(), name);
    }
    return w;
  }

 private:
  const gguf::File& f_;
};

#define APEX_TRY_ASSIGN(dst, expr)      \
  do {                                  \
    auto apex_r_ = (expr);              \
    if (!apex_r_) return apex_r_.error(); \
    dst = std::move(*apex_r_);          \
  } while (0)

}  // namespace

Result<Weight> load_weight(const gguf::File& f, const std::string& name, std::vector<int64_t> shape) {
  return Registry(f).get(name, std::move(shape));
}

Result<Weight> find_weight(const gguf::File& f, const std::string& name, std::vector<int64_t> shape,
                           bool required) {
  return Registry(f).get(name, std::move(shape), required);
}

Result<Weight> find_weight_f32(const gguf::File& f, const std::string& name, int64_t n,
                               bool required) {
  return Registry(f).get_f32(name, n, required);
}

namespace {

// Memory the kernel could hand out now without swapping (MemAvailable:
// free pages plus reclaimable cache), or the physical memory when
// /proc/meminfo cannot be read.
uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &kib) == 1) return kib * 1024;
  }
  return static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

Result<std::unique_ptr<Model>> load_model(const std::string& path) {
  auto file = gguf::File::open(path);
  if (!file) return file.error();
  auto model = std::make_unique<Model>();
  model->file = std::move(*file);
  // Every weight is read on every forward pass. When the file fits in half
  // the memory available now, hold it in anonymous huge pages (1.1-1.4x
  // faster generation here than 4 KiB page-cache pages: fewer TLB misses,
  // which virtual machines pay dearly); larger files stay mapped, pages
  // coming and going with the page cache. Before any tensor is looked up:
  // the bytes move.
  std::error_code ec;
  const auto bytes = static_cast<uint64_t>(std::filesystem::file_size(path, ec));
  if (!ec && bytes < available_memory() / 2 && !model->file->make_resident()) model->file->populate();
  auto cfg = read_config(*model->file);
  if (!cfg) return cfg.error();
  model->config = *cfg;
  const ModelConfig& c = model->config;
  const ArchTraits& a = *c.arch;
  Registry reg(*model->file);
  ModelWeights& w = model->weights;
  APEX_TRY_ASSIGN(w.token_embd, reg.get("token_embd.weight", {c.n_embd, c.n_vocab}));
  APEX_TRY_ASSIGN(w.output_norm, reg.get_f32("output_norm.weight", c.n_embd));
  APEX_TRY_ASSIGN(w.output, reg.get("output.weight", {c.n_embd, c.n_vocab}, false));
  if (!w.output) w.output = w.token_embd;  // tied embeddings
  if (a.load_globals != nullptr) {
    if (Status s = a.load_globals(*model->file, c, w); !s) return s.error();
  }
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int il = 0; il < c.n_layer; ++il) {
    LayerWeights& l = w.layers[static_cast<size_t>(il)];
    auto n = [&](const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); };
    if (a.load_layer != nullptr) {
      if (Status s = a.load_layer(*model->file, c, il, l); !s) return s.error();
      continue;
    }
    APEX_TRY_ASSIGN(l.attn_norm, reg.get_f32(n("attn_norm.weight"), c.n_embd));
    if (c.is_recurrent(il)) {
      const int64_t conv = c.ssm_conv_dim(), heads = c.ssm_dt_rank;
      APEX_TRY_ASSIGN(l.ssm_qkv, reg.get(n("attn_qkv.weight"), {c.n_embd, conv}));
      APEX_TRY_ASSIGN(l.ssm_z, reg.get(n("attn_gate.weight"), {c.n_embd, c.ssm_value_dim()}));
      APEX_TRY_ASSIGN(l.ssm_conv1d, reg.get(n("ssm_conv1d.weight"), {c.ssm_d_conv, conv}));
      if (l.ssm_conv1d.type != quant::TypeId::F32) {
        return make_error("{}: tensor {} must be F32", path, n("ssm_conv1d.weight"));
      }
      APEX_TRY_ASSIGN(l.ssm_dt, reg.get_f32(n("ssm_dt.bias"), heads));
      APEX_TRY_ASSIGN(l.ssm_a, reg.get_f32(n("ssm_a"), heads));
      APEX_TRY_ASSIGN(l.ssm_beta, reg.get(n("ssm_beta.weight"), {c.n_embd, heads}));
      APEX_TRY_ASSIGN(l.ssm_alpha, reg.get(n("ssm_alpha.weight"), {c.n_embd, heads}));
      APEX_TRY_ASSIGN(l.ssm_norm, reg.get_f32(n("ssm_norm.weight"), c.ssm_d_state));
      APEX_TRY_ASSIGN(l.ssm_out, reg.get(n("ssm_out.weight"), {c.ssm_value_dim(), c.n_embd}));
    } else {
      // A gated query projection carries each head's query and output gate.
      const int64_t q_rows = a.gated_q ? 2 * c.q_dim() : c.q_dim();
      APEX_TRY_ASSIGN(l.wq, reg.get(n("attn_q.weight"), {c.n_embd, q_rows}));
      APEX_TRY_ASSIGN(l.wk, reg.get(n("attn_k.weight"), {c.n_embd, c.kv_dim()}));
      APEX_TRY_ASSIGN(l.wv, reg.get(n("attn_v.weight"), {c.n_embd, c.kv_dim()}));
      APEX_TRY_ASSIGN(l.wo, reg.get(n("attn_output.weight"), {c.q_dim(), c.n_embd}));
    }
    if (a.qkv_bias) {
      APEX_TRY_ASSIGN(l.bq, reg.get_f32(n("attn_q.bias"), c.q_dim()));
      APEX_TRY_ASSIGN(l.bk, reg.get_f32(n("attn_k.bias"), c.kv_dim()));
      APEX_TRY_ASSIGN(l.bv, reg.get_f32(n("attn_v.bias"), c.kv_dim()));
    }
    if ((a.qk_norm || a.optional_qk_norm) && !c.is_recurrent(il)) {
      // Per-head gains, or gains spanning the whole projections (qk_norm_whole).
      const int64_t q_norm_n = a.qk_norm_whole ? c.q_dim() : c.head_dim;
      const int64_t k_norm_n = a.qk_norm_whole ? c.kv_dim() : c.head_dim;
      APEX_TRY_ASSIGN(l.q_norm, reg.get_f32(n("attn_q_norm.weight"), q_norm_n, a.qk_norm));
      APEX_TRY_ASSIGN(l.k_norm, reg.get_f32(n("attn_k_norm.weight"), k_norm_n, a.qk_norm));
    }
    APEX_TRY_ASSIGN(l.ffn_norm, reg.get_f32(n(fmt::format("{}.weight", a.ffn_norm_name).c_str()), c.n_embd));
    if (!c.is_moe_layer(il)) {
      const gguf::TensorInfo* up = model->file->find_tensor(n("ffn_up.weight"));
      if (up == nullptr || up->ne.size() < 2) return make_error("{}: missing tensor {}", path, n("ffn_up.weight"));
      const int64_t n_ff = up->ne[1];
      APEX_TRY_ASSIGN(l.ffn_gate, reg.get(n("ffn_gate.weight"), {c.n_embd, n_ff}));
      APEX_TRY_ASSIGN(l.ffn_up, reg.get(n("ffn_up.weight"), {c.n_embd, n_ff}));
      APEX_TRY_ASSIGN(l.ffn_down, reg.get(n("ffn_down.weight"), {n_ff, c.n_embd}));
      continue;
    }
    const gguf::TensorInfo* up = model->file->find_tensor(n("ffn_up_exps.weight"));
    if (up == nullptr || up->ne.size() < 2) return make_error("{}: missing tensor {}", path, n("ffn_up_exps.weight"));
    const int64_t n_ff = up->ne[1];
    APEX_TRY_ASSIGN(l.router, reg.get(n("ffn_gate_inp.weight"), {c.n_embd, c.n_expert}));
    APEX_TRY_ASSIGN(l.gate_exps, reg.get(n("ffn_gate_exps.weight"), {c.n_embd, n_ff, c.n_expert}));
    APEX_TRY_ASSIGN(l.up_exps, reg.get(n("ffn_up_exps.weight"), {c.n_embd, n_ff, c.n_expert}));
    APEX_TRY_ASSIGN(l.down_exps, reg.get(n("ffn_down_exps.weight"), {n_ff, c.n_embd, c.n_expert}));
    if (a.expert_selection_bias) {
      // llama.cpp's glm4moe and minimax-m2 loaders require it.
      APEX_TRY_ASSIGN(l.exp_probs_b, reg.get_f32(n("exp_probs_b.bias"), c.n_expert));
    }
    if (a.oai_moe) {
      APEX_TRY_ASSIGN(l.bo, reg.get_f32(n("attn_output.bias"), c.n_embd));
      APEX_TRY_ASSIGN(l.attn_sinks, reg.get_f32(n("attn_sinks.weight"), c.n_head));
      APEX_TRY_ASSIGN(l.router_b, reg.get_f32(n("ffn_gate_inp.bias"), c.n_expert));
      for (auto [dst, name, rows] : {std::tuple{&l.gate_exps_b, "ffn_gate_exps.bias", n_ff},
                                     std::tuple{&l.up_exps_b, "ffn_up_exps.bias", n_ff},
                                     std::tuple{&l.down_exps_b, "ffn_down_exps.bias", c.n_embd}}) {
        APEX_TRY_ASSIGN(*dst, reg.get(n(name), {rows, c.n_expert}));
        if (dst->type != quant::TypeId::F32) return make_error("{}: tensor {} must be F32", path, n(name));
      }
    }
    if (a.shared_expert) {
      const gguf::TensorInfo* sh = model->file->find_tensor(n("ffn_up_shexp.weight"));
      if (sh == nullptr || sh->ne.size() < 2) return make_error("{}: missing tensor {}", path, n("ffn_up_shexp.weight"));
      const int64_t n_ff_sh = sh->ne[1];
      if (!a.ungated_shared_expert) {
        APEX_TRY_ASSIGN(l.shexp_gate_inp, reg.get_f32(n("ffn_gate_inp_shexp.weight"), c.n_embd));
      }
      APEX_TRY_ASSIGN(l.gate_shexp, reg.get(n("ffn_gate_shexp.weight"), {c.n_embd, n_ff_sh}));
      APEX_TRY_ASSIGN(l.up_shexp, reg.get(n("ffn_up_shexp.weight"), {c.n_embd, n_ff_sh}));
      APEX_TRY_ASSIGN(l.down_shexp, reg.get(n("ffn_down_shexp.weight"), {n_ff_sh, c.n_embd}));
    }
  }
  return model;
}

}  // namespace apex::engine
