#include "convert/export_hf.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>

#include "convert/hf_config.h"
#include "convert/hf_names.h"
#include "convert/hf_values.h"
#include "gguf/gguf.h"
#include "quant/type_table.h"
#include "safetensors/safetensors.h"

namespace apex::convert {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSlabElements = int64_t{1} << 23;

// The files a tokenizer directory may hold that a checkpoint carries.
constexpr const char* kTokenizerFiles[] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
    "merges.txt",     "tokenizer.model",       "chat_template.jinja",     "generation_config.json",
};

std::optional<st::DType> dtype_of_gguf(quant::TypeId t) {
  switch (t) {
    case quant::TypeId::F32: return st::DType::F32;
    case quant::TypeId::F16: return st::DType::F16;
    case quant::TypeId::BF16: return st::DType::BF16;
    default: return std::nullopt;
  }
}

quant::TypeId gguf_of_dtype(st::DType d) {
  switch (d) {
    case st::DType::F32: return quant::TypeId::F32;
    case st::DType::F16: return quant::TypeId::F16;
    default: return quant::TypeId::BF16;
  }
}

const char* torch_dtype_name(st::DType d) {
  switch (d) {
    case st::DType::F32: return "float32";
    case st::DType::F16: return "float16";
    default: return "bfloat16";
  }
}

// Rows of a GGUF tensor.
struct Segment {
  const gguf::TensorInfo* src;
  uint64_t offset;   // into the GGUF tensor's data
  int64_t rows;      // rows of src->ne[0] elements
};
// One HF tensor to write: where its bytes come from in the GGUF file, in
// order (several segments for a fused gate_up_proj), and the name-table row
// when the converter changes its values (then one segment, the whole tensor).
struct Piece {
  std::vector<Segment> segs;
  const NamePair* values = nullptr;
};

// Removes a partial output folder unless released.
struct PartialDir {
  fs::path path;
  bool keep = false;
  ~PartialDir() {
    if (!keep && !path.empty()) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

}  // namespace

Result<ExportHfReport> export_hf(const ExportHfOptions& o, const ExportProgressFn& progress) {
  std::optional<st::DType> forced;
  if (o.dtype == "bf16") {
    forced = st::DType::BF16;
  } else if (o.dtype == "f16") {
    forced = st::DType::F16;
  } else if (o.dtype == "f32") {
    forced = st::DType::F32;
  } else if (o.dtype != "auto") {
    return make_error("--dtype {}: must be auto, bf16, f16 or f32", o.dtype);
  }
  APEX_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> f, gguf::File::open(o.gguf_path));
  std::string arch;
  if (!f->get_string("general.architecture", arch)) return make_error("{}: no general.architecture", o.gguf_path);
  const ArchNames* names = find_arch_names(arch);
  if (names == nullptr) {
    return make_error("{}: architecture '{}' has no Hugging Face name table (supported: {})", o.gguf_path, arch,
                      arch_names_list());
  }
  if (!o.tokenizer_dir.empty() && !fs::exists(fs::path(o.tokenizer_dir) / "tokenizer.json")) {
    return make_error("{}: no tokenizer.json in --tokenizer-dir", o.tokenizer_dir);
  }
  const fs::path out = fs::path(o.out_dir).lexically_normal();
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out))) {
    return make_error("{}: already exists and is not an empty directory", o.out_dir);
  }

  // The HF tensors in GGUF order, experts expanded.
  std::vector<st::TensorDecl> decls;
  std::vector<Piece> pieces;
  int64_t n_expert = 0;
  f->get_int(arch + ".expert_count", n_expert);
  // MTP blocks (numbered after the trunk in GGUF) go under "mtp." in HF.
  int n_trunk = -1;
  int64_t n_blocks = 0, n_mtp = 0;
  if (names->mtp && f->get_int(arch + ".nextn_predict_layers", n_mtp) && n_mtp > 0 &&
      f->get_int(arch + ".block_count", n_blocks)) {
    n_trunk = static_cast<int>(n_blocks - n_mtp);
  }
  // Gated DeltaNet head layout, for the value-head reordering.
  LinearAttnDims lin;
  int64_t inner = 0;
  f->get_int(arch + ".ssm.group_count", lin.k_heads);
  f->get_int(arch + ".ssm.time_step_rank", lin.v_heads);
  f->get_int(arch + ".ssm.state_size", lin.k_dim);
  f->get_int(arch + ".ssm.inner_size", inner);
  lin.v_dim = lin.v_heads > 0 ? inner / lin.v_heads : 0;
  for (const gguf::TensorInfo& t : f->tensors()) {
    const auto type = static_cast<quant::TypeId>(t.type);
    const st::DType dtype = forced ? *forced : dtype_of_gguf(type).value_or(st::DType::BF16);
    const uint64_t row_bytes = quant::row_bytes(type, t.ne[0]);
    if (auto e = gguf_expert_to_hf(*names, t.name, 0, n_trunk)) {
      if (t.ne.size() != 3 || t.ne[2] != n_expert) {
        return make_error("{}: tensor '{}' has shape {} but {}.expert_count = {}", o.gguf_path, t.name,
                          fmt::join(t.ne, "x"), arch, n_expert);
      }
      if (o.fused_experts) {
        // transformers >= 5's layout: gate_up_proj [E, 2 * ff, n_embd] (per
        // expert the gate rows, then the up rows), down_proj [E, n_embd, ff].
        auto fm = gguf_expert_to_hf_fused(*names, t.name, n_trunk);
        if (!fm) return make_error("{}: tensor '{}' has no fused Hugging Face name", o.gguf_path, t.name);
        if (fm->xid == 1) continue;  // written with the gate stack
        Piece p;
        std::vector<int64_t> shape = {t.ne[2], t.ne[1], t.ne[0]};
        if (fm->xid == 0) {
          std::string up_name;
          for (const ExpertNames& x : names->experts) {
            if (x.fused_half == 1) up_name = fill_name(x.gguf, fm->bid);
          }
          const gguf::TensorInfo* up = f->find_tensor(up_name);
          if (up == nullptr || up->ne != t.ne || up->type != t.type) {
            return make_error("{}: tensor '{}' needs {} of the same shape and type beside it", o.gguf_path, t.name,
                              up_name);
          }
          shape[1] *= 2;
          for (int64_t x = 0; x < t.ne[2]; ++x) {
            p.segs.push_back({&t, static_cast<uint64_t>(x * t.ne[1]) * row_bytes, t.ne[1]});
            p.segs.push_back({up, static_cast<uint64_t>(x * t.ne[1]) * row_bytes, t.ne[1]});
          }
        } else {
          p.segs.push_back({&t, 0, t.n_rows()});
        }
        decls.push_back({fm->name, dtype, shape});
        pieces.push_back(std::move(p));
        continue;
      }
      for (int64_t x = 0; x < t.ne[2]; ++x) {
        decls.push_back({gguf_expert_to_hf(*names, t.name, static_cast<int>(x), n_trunk)->name, dtype,
                         {t.ne[1], t.ne[0]}});
        pieces.push_back({{{&t, static_cast<uint64_t>(x * t.ne[1]) * row_bytes, t.ne[1]}}});
      }
      continue;
    }
    auto m = gguf_to_hf(*names, t.name, n_trunk);
    if (!m) {
      return make_error("{}: tensor '{}' has no Hugging Face name for {}", o.gguf_path, t.name, arch);
    }
    const NamePair& row = names->tensors[m->row];
    std::vector<int64_t> shape(t.ne.rbegin(), t.ne.rend());
    while (static_cast<int>(shape.size()) < row.hf_rank) shape.insert(shape.begin(), 1);
    if (row.conv && shape.size() == 2) shape = {shape[0], 1, shape[1]};  // Conv1d [channels, 1, kernel]
    decls.push_back({m->name, dtype, shape});
    pieces.push_back({{{&t, 0, t.n_rows()}}, changes_values(row) ? &row : nullptr});
  }

  const gguf::TensorInfo* embd = f->find_tensor("token_embd.weight");
  const st::DType main_dtype =
      forced ? *forced : dtype_of_gguf(static_cast<quant::TypeId>(embd ? embd->type : 30)).value_or(st::DType::BF16);
  APEX_ASSIGN_OR_RETURN(nlohmann::json config, hf_config_from_gguf(*f, *names, torch_dtype_name(main_dtype)));

  // Assemble beside the target, rename when complete.
  PartialDir partial{fs::path(out.string() + fmt::format(".partial-{}", getpid()))};
  std::error_code ec;
  fs::remove_all(partial.path, ec);
  if (!fs::create_directories(partial.path, ec) || ec) {
    return make_error("{}: cannot create ({})", partial.path.string(), ec.message());
  }
  ExportHfReport report;
  report.arch = arch;
  report.n_tensors = decls.size();
  APEX_ASSIGN_OR_RETURN(std::unique_ptr<st::ShardedWriter> w,
                        st::ShardedWriter::create(partial.path.string(), decls, o.max_shard_bytes,
                                                  {{"format", "pt"}}));
  report.n_shards = w->n_shards();
  report.tensor_bytes = w->total_tensor_bytes();
  uint64_t done = 0;
  std::vector<float> scratch;
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < decls.size(); ++i) {
    const Piece& p = pieces[i];
    if (p.values != nullptr) {
      // Values the converter changes: the whole tensor through F32, then
      // the inverse of the converter's change (hf_values.h).
      const gguf::TensorInfo& t = *p.segs[0].src;
      const auto type = static_cast<quant::TypeId>(t.type);
      scratch.resize(static_cast<size_t>(t.n_elements()));
      APEX_RETURN_IF_ERROR(quant::dequantize_row(type, f->tensor_data(t).data(), scratch.data(), t.n_elements()));
      APEX_RETURN_IF_ERROR(gguf_to_hf_values(*p.values, lin, decls[i].shape, decls[i].dtype,
                                             fmt::format("{}: tensor '{}'", o.gguf_path, t.name), scratch));
      const quant::TypeId target = gguf_of_dtype(decls[i].dtype);
      buf.resize(quant::row_bytes(target, t.ne[0]) * static_cast<size_t>(t.n_rows()));
      APEX_ASSIGN_OR_RETURN(size_t n, quant::quantize_rows(target, scratch.data(), buf.data(), t.n_rows(), t.ne[0],
                                                           nullptr));
      (void)n;
      APEX_RETURN_IF_ERROR(w->write(buf));
      done += buf.size();
    } else {
      for (const Segment& sg : p.segs) {
        const auto type = static_cast<quant::TypeId>(sg.src->type);
        const int64_t ne0 = sg.src->ne[0];
        const uint64_t row_bytes = quant::row_bytes(type, ne0);
        const auto data = f->tensor_data(*sg.src).subspan(sg.offset, static_cast<size_t>(sg.rows) * row_bytes);
        if (dtype_of_gguf(type) == decls[i].dtype) {
          APEX_RETURN_IF_ERROR(w->write(data));
          done += data.size();
          continue;
        }
        // Dequantize / re-encode a slab of rows at a time.
        const quant::TypeId target = gguf_of_dtype(decls[i].dtype);
        const int64_t rows_per_slab = std::max<int64_t>(1, kSlabElements / ne0);
        for (int64_t r = 0; r < sg.rows; r += rows_per_slab) {
          const int64_t nr = std::min(rows_per_slab, sg.rows - r);
          scratch.resize(static_cast<size_t>(nr * ne0));
          APEX_RETURN_IF_ERROR(quant::dequantize_row(type, data.data() + static_cast<size_t>(r) * row_bytes,
                                                     scratch.data(), nr * ne0));
          buf.resize(quant::row_bytes(target, ne0) * static_cast<size_t>(nr));
          APEX_ASSIGN_OR_RETURN(size_t n, quant::quantize_rows(target, scratch.data(), buf.data(), nr, ne0, nullptr));
          (void)n;
          APEX_RETURN_IF_ERROR(w->write(buf));
          done += buf.size();
        }
      }
    }
    APEX_RETURN_IF_ERROR(w->end_tensor());
    // Release the GGUF tensors the next HF tensor does not read.
    for (const Segment& sg : p.segs) {
      bool needed = false;
      if (i + 1 < decls.size()) {
        for (const Segment& nx : pieces[i + 1].segs) needed = needed || nx.src == sg.src;
      }
      if (!needed) f->release(*sg.src);
    }
    if (progress) progress(done, report.tensor_bytes, decls[i].name);
  }
  APEX_RETURN_IF_ERROR(w->finish());
  APEX_RETURN_IF_ERROR(st::write_text_file((partial.path / "config.json").string(), config.dump(2) + "\n"));
  if (!o.tokenizer_dir.empty()) {
    for (const char* name : kTokenizerFiles) {
      const fs::path src = fs::path(o.tokenizer_dir) / name;
      if (!fs::exists(src)) continue;
      fs::copy_file(src, partial.path / name, fs::copy_options::overwrite_existing, ec);
      if (ec) return make_error("{}: cannot copy to {} ({})", src.string(), partial.path.string(), ec.message());
      report.copied.push_back(name);
    }
  }
  if (fs::exists(out)) fs::remove(out, ec);  // an empty directory, checked above
  fs::rename(partial.path, out, ec);
  if (ec) return make_error("{}: cannot rename {} to it ({})", o.out_dir, partial.path.string(), ec.message());
  partial.keep = true;
  return report;
}

}  // namespace apex::convert
