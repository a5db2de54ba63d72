#include "convert/convert.h"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "convert/hf_config.h"
#include "convert/hf_metadata.h"
#include "convert/hf_names.h"
#include "convert/hf_values.h"
#include "quant/type_table.h"
#include "safetensors/safetensors.h"
#include "synth/arch.h"
#include "synth/hf_tokenizer.h"

namespace apex::convert {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Elements converted per slab: bounds the float scratch to 32 MiB.
constexpr int64_t kSlabElements = int64_t{1} << 23;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Symbolic shapes of the architecture's tensors (synth's table, which is
// llama.cpp's loader list) resolved with the checkpoint's hyper-parameters.
struct ExpectedDims {
  int64_t embd, vocab, q, kv, head_dim, ff, ff_shared, expert;
  // Gated DeltaNet hybrids only (0 otherwise).
  int64_t conv_kernel = 0, conv_dim = 0, ssm_inner = 0, ssm_heads = 0, ssm_state = 0;
  int64_t resolve(synth::Dim d) const {
    switch (d) {
      case synth::Dim::kNone: return 1;
      case synth::Dim::kEmbd: return embd;
      case synth::Dim::kVocab: return vocab;
      case synth::Dim::kQ: return q;
      case synth::Dim::kKV: return kv;
      case synth::Dim::kHeadDim: return head_dim;
      case synth::Dim::kFF: return ff;
      case synth::Dim::kFFShared: return ff_shared;
      case synth::Dim::kExpert: return expert;
      case synth::Dim::kQGate: return 2 * q;
      case synth::Dim::kConvKernel: return conv_kernel;
      case synth::Dim::kConvDim: return conv_dim;
      case synth::Dim::kSsmInner: return ssm_inner;
      case synth::Dim::kSsmHeads: return ssm_heads;
      case synth::Dim::kSsmState: return ssm_state;
      case synth::Dim::kEmbd2: return 2 * embd;
      default: return -1;  // dimensions of architectures convert has no table for
    }
  }
};

// GGUF name -> expected ne, for every tensor the architecture has.
std::map<std::string, std::vector<int64_t>> expected_shapes(const HfHparams& h, int64_t n_vocab) {
  const synth::ArchSpec* spec = synth::find_arch(h.names->arch);
  const int64_t hd = h.head_dim ? *h.head_dim : h.n_embd / h.n_head;
  const int64_t ff = h.n_ff_exp ? *h.n_ff_exp : (h.n_ff ? *h.n_ff : 0);
  ExpectedDims d{h.n_embd, n_vocab, hd * h.n_head, hd * h.n_head_kv.value_or(h.n_head), hd, ff,
                 h.n_ff_shexp ? *h.n_ff_shexp : ff, h.n_expert};
  if (h.linear) {
    const HfHparams::Linear& x = *h.linear;
    d.conv_kernel = x.conv_kernel;
    d.conv_dim = 2 * x.k_heads * x.k_dim + x.v_heads * x.v_dim;
    d.ssm_inner = x.v_heads * x.v_dim;
    d.ssm_heads = x.v_heads;
    d.ssm_state = x.k_dim;
  }
  std::map<std::string, std::vector<int64_t>> out;
  auto add = [&](const synth::TensorSpec& s, const std::string& name) {
    std::vector<int64_t> ne;
    for (synth::Dim dim : s.ne) {
      if (dim != synth::Dim::kNone) ne.push_back(d.resolve(dim));
    }
    out[name] = ne;
  };
  for (const auto& s : spec->head) add(s, s.name);
  // A hybrid's blocks are linear or full attention; MTP blocks follow the
  // trunk and are full-attention blocks with the MTP head's tensors.
  const int64_t n_mtp = h.linear ? h.linear->n_mtp : 0;
  for (int64_t il = 0; il < h.n_layer + n_mtp; ++il) {
    const bool recurrent = h.linear && h.linear->recurrent(il, h.n_layer);
    for (const auto& s : spec->layer) {
      switch (s.when) {
        case synth::When::kDense: continue;
        case synth::When::kRecurrent:
          if (!recurrent) continue;
          break;
        case synth::When::kFullAttn:
          if (recurrent) continue;
          break;
        case synth::When::kMtp:
          if (il < h.n_layer) continue;
          break;
        default: break;
      }
      add(s, fmt::format("blk.{}.{}", il, s.name));
    }
  }
  for (const auto& s : spec->tail) add(s, s.name);
  return out;
}

std::string shape_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// The HF tensor names in the order the converter reads them: shard files
// sorted, names sorted within each shard.
Result<std::vector<std::string>> reading_order(const std::string& dir, st::Checkpoint& ck) {
  const fs::path index = fs::path(dir) / st::kIndexFileName;
  if (!fs::exists(index)) return ck.names();
  std::ifstream in(index, std::ios::binary);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    return make_error("{}: no weight_map object", index.string());
  }
  std::map<std::string, std::vector<std::string>> by_shard;  // sorted shards
  for (auto& [name, shard] : j["weight_map"].items()) {
    if (!shard.is_string()) return make_error("{}: weight_map entry '{}' is not a file name", index.string(), name);
    by_shard[shard.get<std::string>()].push_back(name);
  }
  std::vector<std::string> order;
  for (auto& [shard, names] : by_shard) {
    std::sort(names.begin(), names.end());
    order.insert(order.end(), names.begin(), names.end());
  }
  return order;
}

// Tensors of other modalities, which the text converter leaves out (its
// TextModel.filter_tensors lists; those that can occur in the families here).
bool is_multimodal_tensor(std::string_view name) {
  for (std::string_view part : {"visual.", "vision.", "vision_", "audio.", "audio_", "merger.", "patch_embed"}) {
    if (name.find(part) != std::string_view::npos) return true;
  }
  return false;
}

// llama.cpp's converter keeps these F32 whatever the output type.
bool stays_f32(const std::string& gguf_name, size_t n_dims) {
  return n_dims <= 1 || ends_with(gguf_name, "_norm.weight") || ends_with(gguf_name, ".ffn_gate_inp.weight") ||
         ends_with(gguf_name, ".ffn_gate_inp_shexp.weight") || ends_with(gguf_name, ".ssm_conv1d.weight") ||
         !ends_with(gguf_name, ".weight");
}

std::optional<quant::TypeId> storage_type(st::DType d) {
  switch (d) {
    case st::DType::F32: return quant::TypeId::F32;
    case st::DType::F16: return quant::TypeId::F16;
    case st::DType::BF16: return quant::TypeId::BF16;
    default: return std::nullopt;
  }
}

// A chat template: tokenizer_config.json's "chat_template" string, else a
// chat_template.jinja beside it (gguf-py's SpecialVocab).
std::optional<std::string> chat_template(const std::string& dir, const std::string& config_path) {
  if (!config_path.empty()) {
    std::ifstream in(config_path, std::ios::binary);
    json c = json::parse(in, nullptr, false);
    if (!c.is_discarded() && c.is_object() && c.contains("chat_template") && c["chat_template"].is_string()) {
      return c["chat_template"].get<std::string>();
    }
  }
  const fs::path jinja = fs::path(dir) / "chat_template.jinja";
  if (fs::exists(jinja)) {
    std::ifstream in(jinja, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  return std::nullopt;
}

struct Planned {
  ConvertPlan plan;
  std::unique_ptr<st::Checkpoint> ck;
};

Result<Planned> make_plan(const ConvertOptions& o) {
  const quant::TypeId out = o.outtype;
  if (out != quant::TypeId::F32 && out != quant::TypeId::F16 && out != quant::TypeId::BF16 &&
      out != quant::TypeId::Q8_0) {
    return make_error("--outtype {}: must be f32, f16, bf16 or q8_0", quant::type_name(out));
  }
  const fs::path dir(o.hf_dir);
  if (!fs::is_directory(dir)) return make_error("{}: not a directory (expected a Hugging Face checkpoint)", o.hf_dir);
  const std::string config_path = (dir / "config.json").string();
  APEX_ASSIGN_OR_RETURN(HfHparams h, read_hf_config(config_path));
  const ArchNames& names = *h.names;

  // Tokenizer first: it is small, and a missing one should fail fast.
  const std::string tok_path = (dir / "tokenizer.json").string();
  if (!fs::exists(tok_path)) return make_error("{}: missing (the GGUF vocabulary comes from it)", tok_path);
  const std::string tok_config = fs::exists(dir / "tokenizer_config.json") ? (dir / "tokenizer_config.json").string() : "";
  APEX_ASSIGN_OR_RETURN(synth::HfVocab vocab, synth::load_hf_tokenizer(tok_path, tok_config));
  const int64_t n_tokens = static_cast<int64_t>(vocab.tokens.size());
  const int64_t n_vocab = h.n_vocab.value_or(n_tokens);
  if (n_vocab < n_tokens) {
    return make_error("{}: vocab_size {} is smaller than the {} tokens of {}", config_path, n_vocab, n_tokens, tok_path);
  }
  // The converter pads the vocabulary to vocab_size with unused tokens.
  for (int64_t i = n_tokens; i < n_vocab; ++i) {
    vocab.tokens.push_back(fmt::format("[PAD{}]", i));
    vocab.types.push_back(5);  // UNUSED
    if (!vocab.scores.empty()) vocab.scores.push_back(-1000.0f);
  }

  APEX_ASSIGN_OR_RETURN(std::unique_ptr<st::Checkpoint> ck, st::Checkpoint::open(o.hf_dir));
  APEX_ASSIGN_OR_RETURN(std::vector<std::string> order, reading_order(o.hf_dir, *ck));
  const auto expected = expected_shapes(h, n_vocab);

  Planned p;
  ConvertPlan& plan = p.plan;
  plan.arch = std::string(names.arch);
  plan.names = &names;
  if (h.linear) plan.linear = {h.linear->k_heads, h.linear->v_heads, h.linear->k_dim, h.linear->v_dim};
  const int64_t n_blocks = h.n_layer + (h.linear ? h.linear->n_mtp : 0);
  const int n_trunk = static_cast<int>(h.n_layer);
  std::vector<gguf::TensorInfo> infos;
  std::set<std::string> seen;
  // Per block: the expert tensors read so far, indexed [row][xid].
  std::map<int, std::vector<std::vector<std::string>>> experts;
  std::map<int, int64_t> experts_read;

  // The type a tensor gets, and its info.
  auto add_tensor = [&](const std::string& gguf_name, std::vector<int64_t> ne, std::vector<std::string> sources,
                        int value_row = -1, int fused_half = -1) {
    gguf::TensorInfo t;
    t.name = gguf_name;
    quant::TypeId type = stays_f32(gguf_name, ne.size()) ? quant::TypeId::F32 : out;
    if (type == quant::TypeId::Q8_0 && !quant::row_length_ok(type, ne[0])) type = quant::TypeId::F16;
    t.type = static_cast<int32_t>(type);
    t.ne = std::move(ne);
    infos.push_back(std::move(t));
    plan.sources.push_back(std::move(sources));
    plan.value_rows.push_back(value_row);
    plan.fused_halves.push_back(fused_half);
  };
  auto shard_of = [&](const std::string& hf_name) -> std::string {
    auto ref = ck->find(hf_name);
    return ref.ok() ? ref->file->path() : ck->path();
  };
  // Checks one HF tensor's dtype and shape against the GGUF tensor it feeds
  // (`ne` in ggml order; for an expert, one expert's slice).
  auto check_source = [&](const std::string& hf_name, const std::string& gguf_name,
                          const std::vector<int64_t>& ne, int hf_rank, bool conv = false) -> Status {
    APEX_ASSIGN_OR_RETURN(st::TensorRef ref, ck->find(hf_name));
    if (!st::is_float(ref.info->dtype)) {
      return make_error("{}: tensor '{}' has dtype {}, which apex convert does not handle (F32, F16, BF16, F64)",
                        ref.file->path(), hf_name, st::dtype_name(ref.info->dtype));
    }
    std::vector<int64_t> want(ne.rbegin(), ne.rend());
    while (hf_rank > 0 && static_cast<int>(want.size()) < hf_rank) want.insert(want.begin(), 1);
    // A Conv1d weight [channels, 1, kernel]; the converter squeezes it.
    if (conv && want.size() == 2) want = {want[0], 1, want[1]};
    if (ref.info->shape != want && !(conv && ref.info->shape == std::vector<int64_t>{want[0], want[2]})) {
      return make_error("{}: tensor '{}' has shape {}, but config.json implies {} for {}", ref.file->path(), hf_name,
                        shape_str(ref.info->shape), shape_str(want), gguf_name);
    }
    return Status::Ok();
  };

  for (std::string hf_name : order) {
    // Buffers the converter drops.
    if (ends_with(hf_name, ".attention.masked_bias") || ends_with(hf_name, ".attention.bias") ||
        ends_with(hf_name, ".rotary_emb.inv_freq")) {
      continue;
    }
    // A multimodal wrapper's vision tower (Qwen3.5 checkpoints carry
    // model.visual.*): the text converter skips it (TextModel.filter_tensors).
    if (is_multimodal_tensor(hf_name)) continue;
    const std::string stored = hf_name;
    hf_name = hf_table_name(names, stored, n_trunk);
    // transformers >= 5's fused expert parameters: one 3-D tensor per block
    // (gate_up_proj split into the gate and up stacks, down_proj as is).
    if (auto fm = hf_fused_to_gguf(names, hf_name)) {
      if (fm->bid >= n_blocks) {
        return make_error("{}: tensor '{}' is block {}, but config.json has {} blocks", shard_of(stored), stored,
                          fm->bid, n_blocks);
      }
      const auto ne0 = expected.at(fill_name(names.experts[fm->rows[0]].gguf, fm->bid));
      // gate_up_proj: [n_expert, 2 * ff, n_embd]; down_proj: [n_expert, n_embd, ff].
      std::vector<int64_t> ne = ne0;
      if (fm->rows.size() == 2) ne[1] *= 2;
      APEX_RETURN_IF_ERROR(check_source(stored, fill_name(names.experts[fm->rows[0]].gguf, fm->bid), ne, 0));
      for (size_t r : fm->rows) {
        const std::string g = fill_name(names.experts[r].gguf, fm->bid);
        if (seen.count(g)) return make_error("{}: tensor '{}' gives {} a second time", shard_of(stored), stored, g);
        seen.insert(g);
        add_tensor(g, expected.at(g), {stored}, -1, fm->rows.size() == 2 ? names.experts[r].fused_half : -1);
      }
      continue;
    }
    if (auto e = hf_expert_to_gguf(names, hf_name)) {
      if (e->bid >= n_blocks || e->xid >= h.n_expert) {
        return make_error("{}: tensor '{}' is block {} expert {}, but config.json has {} blocks of {} experts",
                          shard_of(stored), stored, e->bid, e->xid, n_blocks, h.n_expert);
      }
      auto& rows = experts[e->bid];
      if (rows.empty()) rows.assign(names.experts.size(), std::vector<std::string>(static_cast<size_t>(h.n_expert)));
      const auto ne = expected.at(e->name);
      APEX_RETURN_IF_ERROR(check_source(stored, e->name, {ne[0], ne[1]}, 0));
      rows[e->row][static_cast<size_t>(e->xid)] = stored;
      // The block's stacks are written once its last expert tensor is read.
      if (++experts_read[e->bid] == static_cast<int64_t>(names.experts.size()) * h.n_expert) {
        for (size_t r = 0; r < names.experts.size(); ++r) {
          const std::string g = fill_name(names.experts[r].gguf, e->bid);
          seen.insert(g);
          add_tensor(g, expected.at(g), rows[r]);
        }
        experts.erase(e->bid);
      }
      continue;
    }
    auto g = hf_to_gguf(names, hf_name);
    if (!g || !expected.count(g->name) || (g->bid >= n_blocks)) {
      return make_error("{}: tensor '{}' has no GGUF counterpart in {} (config.json: {} blocks)", shard_of(stored),
                        stored, names.arch, n_blocks);
    }
    const NamePair& row = names.tensors[g->row];
    APEX_RETURN_IF_ERROR(check_source(stored, g->name, expected.at(g->name), row.hf_rank, row.conv));
    seen.insert(g->name);
    add_tensor(g->name, expected.at(g->name), {stored}, changes_values(row) ? static_cast<int>(g->row) : -1);
  }
  for (const auto& [bid, rows] : experts) {
    for (size_t r = 0; r < rows.size(); ++r) {
      for (size_t x = 0; x < rows[r].size(); ++x) {
        if (rows[r][x].empty()) {
          return make_error("{}: tensor '{}' missing (block {} has {} of {} expert tensors)", ck->path(),
                            hf_stored_name(names, fill_name(names.experts[r].hf, bid, static_cast<int>(x)), bid, n_trunk),
                          bid, experts_read[bid],
                            static_cast<int64_t>(rows.size()) * h.n_expert);
        }
      }
    }
  }
  for (const auto& [gguf_name, ne] : expected) {
    // A tied head is absent from the checkpoint; llama.cpp then reuses the
    // token embedding.
    if (seen.count(gguf_name) || gguf_name == "output.weight") continue;
    std::string hf = gguf_name;
    if (auto m = gguf_to_hf(names, gguf_name, n_trunk)) hf = m->name;
    if (auto m = gguf_expert_to_hf(names, gguf_name, 0, n_trunk)) hf = m->name;
    return make_error("{}: tensor '{}' missing (needed for {}, config.json: {} blocks)", ck->path(), hf, gguf_name,
                      n_blocks);
  }

  // Metadata in the converter's order.
  gguf::Layout& l = plan.layout;
  l.set("general.architecture", gguf::Value(std::string(names.arch)));
  l.set("general.type", gguf::Value(std::string("model")));
  const std::string dir_name = fs::path(o.hf_dir).lexically_normal().filename().empty()
                                   ? fs::path(o.hf_dir).lexically_normal().parent_path().filename().string()
                                   : fs::path(o.hf_dir).lexically_normal().filename().string();
  add_general_metadata(h.name_or_path, dir_name, count_params(infos), l);
  add_gguf_hparams(h, file_type_of_outtype(out), l);
  l.set("general.quantization_version", gguf::Value(uint32_t{2}));
  synth::add_hf_vocab_metadata(vocab, l);
  if (auto tmpl = chat_template(o.hf_dir, tok_config)) l.set("tokenizer.chat_template", gguf::Value(*tmpl));

  l.tensors = std::move(infos);
  APEX_ASSIGN_OR_RETURN(auto header, gguf::serialize_header(l));
  (void)header;
  p.ck = std::move(ck);
  return p;
}

// Converts `count` elements of `src` (dtype) into `type`, appending to `out`.
Status convert_elements(st::DType dtype, std::span<const uint8_t> src, int64_t n_per_row, quant::TypeId type,
                        std::vector<float>& scratch, std::vector<uint8_t>& out) {
  const int64_t n = static_cast<int64_t>(src.size() / st::dtype_bytes(dtype));
  const int64_t rows = n / n_per_row;
  scratch.resize(static_cast<size_t>(n));
  out.resize(quant::row_bytes(type, n_per_row) * static_cast<size_t>(rows));
  const size_t in_row = static_cast<size_t>(n_per_row) * st::dtype_bytes(dtype);
  const size_t out_row = quant::row_bytes(type, n_per_row);
  std::atomic<bool> failed{false};
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, rows, std::max<int64_t>(1, 65536 / n_per_row)),
                    [&](const tbb::blocked_range<int64_t>& r) {
                      const int64_t nr = r.end() - r.begin();
                      float* f = scratch.data() + r.begin() * n_per_row;
                      if (!st::to_f32(dtype, src.subspan(static_cast<size_t>(r.begin()) * in_row, nr * in_row),
                                      {f, static_cast<size_t>(nr * n_per_row)})
                               .ok()) {
                        failed = true;
                        return;
                      }
                      auto q = quant::quantize_rows(type, f, out.data() + static_cast<size_t>(r.begin()) * out_row,
                                                    nr, n_per_row, nullptr);
                      if (!q.ok()) failed = true;
                    });
  if (failed) return make_error("cannot convert {} to {}", st::dtype_name(dtype), quant::type_name(type));
  return Status::Ok();
}

}  // namespace

uint32_t file_type_of_outtype(quant::TypeId t) {
  switch (t) {
    case quant::TypeId::F32: return 0;
    case quant::TypeId::F16: return 1;
    case quant::TypeId::Q8_0: return 7;
    case quant::TypeId::BF16: return 32;
    default: return 1;
  }
}

Result<ConvertPlan> plan_conversion(const ConvertOptions& opts) {
  APEX_ASSIGN_OR_RETURN(Planned p, make_plan(opts));
  return std::move(p.plan);
}

Result<ConvertPlan> convert_checkpoint(const ConvertOptions& opts, const ProgressFn& progress) {
  APEX_ASSIGN_OR_RETURN(Planned p, make_plan(opts));
  ConvertPlan& plan = p.plan;
  APEX_ASSIGN_OR_RETURN(std::unique_ptr<gguf::Writer> w, gguf::Writer::create(opts.out_path, plan.layout));
  uint64_t total = 0, done = 0;
  for (const auto& t : w->layout().tensors) total += t.nbytes;
  std::vector<float> scratch;
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < plan.sources.size(); ++i) {
    const gguf::TensorInfo& t = w->layout().tensors[i];
    const auto type = static_cast<quant::TypeId>(t.type);
    // Bytes of one source dtype -> the tensor's type, a slab at a time.
    auto emit = [&](const st::TensorRef& ref, std::span<const uint8_t> data) -> Status {
      const auto same = storage_type(ref.info->dtype);
      if (same && *same == type) {
        APEX_RETURN_IF_ERROR(w->write(data));
        done += data.size();
        return Status::Ok();
      }
      const size_t elt = st::dtype_bytes(ref.info->dtype);
      const int64_t rows_per_slab = std::max<int64_t>(1, kSlabElements / t.ne[0]);
      const size_t slab_bytes = static_cast<size_t>(rows_per_slab * t.ne[0]) * elt;
      for (size_t off = 0; off < data.size(); off += slab_bytes) {
        const auto piece = data.subspan(off, std::min(slab_bytes, data.size() - off));
        Status s = convert_elements(ref.info->dtype, piece, t.ne[0], type, scratch, buf);
        if (!s.ok()) return make_error("{}: tensor '{}': {}", ref.file->path(), ref.info->name, s.message());
        APEX_RETURN_IF_ERROR(w->write(buf));
        done += buf.size();
      }
      return Status::Ok();
    };
    for (const std::string& src_name : plan.sources[i]) {
      APEX_ASSIGN_OR_RETURN(st::TensorRef ref, p.ck->find(src_name));
      const std::span<const uint8_t> data = ref.data();
      if (plan.value_rows[i] >= 0) {
        // Values the converter changes: the whole tensor through F32.
        const NamePair& row = plan.names->tensors[static_cast<size_t>(plan.value_rows[i])];
        std::vector<float> v(static_cast<size_t>(t.n_elements()));
        APEX_RETURN_IF_ERROR(st::to_f32(ref.info->dtype, data, v));
        APEX_RETURN_IF_ERROR(hf_to_gguf_values(row, plan.linear, ref.info->shape, ref.info->dtype,
                                               fmt::format("{}: tensor '{}'", ref.file->path(), src_name), v));
        buf.resize(t.nbytes);
        APEX_ASSIGN_OR_RETURN(size_t n, quant::quantize_rows(type, v.data(), buf.data(), t.n_rows(), t.ne[0], nullptr));
        (void)n;
        APEX_RETURN_IF_ERROR(w->write(buf));
        done += buf.size();
      } else if (plan.fused_halves[i] >= 0) {
        // One half of gate_up_proj [n_expert, 2 * ff, n_embd]: per expert
        // the gate rows, then the up rows.
        const size_t part = data.size() / static_cast<size_t>(2 * t.ne[2]);
        for (int64_t x = 0; x < t.ne[2]; ++x) {
          APEX_RETURN_IF_ERROR(emit(ref, data.subspan((static_cast<size_t>(2 * x + plan.fused_halves[i])) * part, part)));
        }
      } else {
        APEX_RETURN_IF_ERROR(emit(ref, data));
      }
      ref.file->release(*ref.info);
      if (progress) progress(done, total, t.name);
    }
    APEX_RETURN_IF_ERROR(w->end_tensor());
  }
  APEX_RETURN_IF_ERROR(w->finish());
  return std::move(plan);
}

}  // namespace apex::convert
