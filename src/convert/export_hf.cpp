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

// One HF tensor to write: where its bytes come from in the GGUF file.
struct Piece {
  const gguf::TensorInfo* src;
  uint64_t offset;   // into the GGUF tensor's data
  int64_t rows;      // rows of src->ne[0] elements
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
  for (const gguf::TensorInfo& t : f->tensors()) {
    const auto type = static_cast<quant::TypeId>(t.type);
    const st::DType dtype = forced ? *forced : dtype_of_gguf(type).value_or(st::DType::BF16);
    const uint64_t row_bytes = quant::row_bytes(type, t.ne[0]);
    if (gguf_expert_to_hf(*names, t.name, 0)) {
      if (t.ne.size() != 3 || t.ne[2] != n_expert) {
        return make_error("{}: tensor '{}' has shape {} but {}.expert_count = {}", o.gguf_path, t.name,
                          fmt::join(t.ne, "x"), arch, n_expert);
      }
      for (int64_t x = 0; x < t.ne[2]; ++x) {
        decls.push_back({gguf_expert_to_hf(*names, t.name, static_cast<int>(x))->name, dtype, {t.ne[1], t.ne[0]}});
        pieces.push_back({&t, static_cast<uint64_t>(x * t.ne[1]) * row_bytes, t.ne[1]});
      }
      continue;
    }
    auto m = gguf_to_hf(*names, t.name);
    if (!m) {
      return make_error("{}: tensor '{}' has no Hugging Face name for {}", o.gguf_path, t.name, arch);
    }
    std::vector<int64_t> shape(t.ne.rbegin(), t.ne.rend());
    while (static_cast<int>(shape.size()) < names->tensors[m->row].hf_rank) shape.insert(shape.begin(), 1);
    decls.push_back({m->name, dtype, shape});
    pieces.push_back({&t, 0, t.n_rows()});
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
    const auto type = static_cast<quant::TypeId>(p.src->type);
    const int64_t ne0 = p.src->ne[0];
    const uint64_t row_bytes = quant::row_bytes(type, ne0);
    const auto data = f->tensor_data(*p.src).subspan(p.offset, static_cast<size_t>(p.rows) * row_bytes);
    if (dtype_of_gguf(type) == decls[i].dtype) {
      APEX_RETURN_IF_ERROR(w->write(data));
      done += data.size();
    } else {
      // Dequantize / re-encode a slab of rows at a time.
      const quant::TypeId target = gguf_of_dtype(decls[i].dtype);
      const int64_t rows_per_slab = std::max<int64_t>(1, kSlabElements / ne0);
      for (int64_t r = 0; r < p.rows; r += rows_per_slab) {
        const int64_t nr = std::min(rows_per_slab, p.rows - r);
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
    APEX_RETURN_IF_ERROR(w->end_tensor());
    if (i + 1 == decls.size() || pieces[i + 1].src != p.src) f->release(*p.src);
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
