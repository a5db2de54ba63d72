#include "pipeline/quantize_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>

#include "imatrix/imatrix.h"
#include "pipeline/tensor_quantizer.h"
#include "quant/type_table.h"
#include "util/check.h"
#include "util/progress.h"

namespace apex::pipeline {
namespace {

// ggml's quantization format version, written as general.quantization_version.
constexpr uint32_t kQuantizationVersion = 2;
// llama.cpp marks a file type it inferred from tensor types with this bit.
constexpr uint32_t kFtypeGuessed = 1024;
// Output files always use GGUF's default alignment: llama_model_quantize pads
// with it even when the input declares another.
constexpr uint64_t kOutputAlignment = 32;

bool is_token_embd(std::string_view name) {
  return name == "token_embd.weight" || name == "per_layer_token_embd.weight";
}

// The ftype llama.cpp's loader names for the most common tensor type.
uint32_t ftype_for_type(quant::TypeId t) {
  using quant::TypeId;
  using plan::Ftype;
  static const std::map<TypeId, Ftype> kMap = {
      {TypeId::F32, Ftype::F32},         {TypeId::F16, Ftype::F16},
      {TypeId::BF16, Ftype::BF16},       {TypeId::Q4_0, Ftype::Q4_0},
      {TypeId::Q4_1, Ftype::Q4_1},       {TypeId::Q5_0, Ftype::Q5_0},
      {TypeId::Q5_1, Ftype::Q5_1},       {TypeId::Q8_0, Ftype::Q8_0},
      {TypeId::Q2_K, Ftype::Q2_K},       {TypeId::Q3_K, Ftype::Q3_K_M},
      {TypeId::Q4_K, Ftype::Q4_K_M},     {TypeId::Q5_K, Ftype::Q5_K_M},
      {TypeId::Q6_K, Ftype::Q6_K},       {TypeId::TQ1_0, Ftype::TQ1_0},
      {TypeId::TQ2_0, Ftype::TQ2_0},     {TypeId::IQ2_XXS, Ftype::IQ2_XXS},
      {TypeId::IQ2_XS, Ftype::IQ2_XS},   {TypeId::IQ2_S, Ftype::IQ2_S},
      {TypeId::IQ3_XXS, Ftype::IQ3_XXS}, {TypeId::IQ1_S, Ftype::IQ1_S},
      {TypeId::IQ1_M, Ftype::IQ1_M},     {TypeId::IQ4_NL, Ftype::IQ4_NL},
      {TypeId::IQ4_XS, Ftype::IQ4_XS},   {TypeId::IQ3_S, Ftype::IQ3_S},
      {TypeId::NVFP4, Ftype::NVFP4},     {TypeId::Q1_0, Ftype::Q1_0},
      {TypeId::Q2_0, Ftype::Q2_0},       {TypeId::MXFP4, Ftype::MXFP4_MOE},
  };
  auto it = kMap.find(t);
  return static_cast<uint32_t>(it == kMap.end() ? Ftype::F32 : it->second);
}

// Index of the first non-finite value of a float-typed tensor, or -1.
int64_t first_non_finite(quant::TypeId type, std::span<const uint8_t> data, int64_t n) {
  std::vector<float> buf(4096);
  for (int64_t i = 0; i < n; i += 4096) {
    const int64_t m = std::min<int64_t>(4096, n - i);
    const size_t esize = quant::traits(type).block_bytes;
    (void)quant::dequantize_row(type, data.data() + i * esize, buf.data(), m);
    for (int64_t j = 0; j < m; ++j)
      if (!std::isfinite(buf[j])) return i + j;
  }
  return -1;
}

// Applies job.zero_data_policy to one tensor whose imatrix entry has
// matrices (experts) without calibration data: either marks them to be
// quantized without weights (plain), or points `imat` at a copy with those
// slices set to 1 (ones), or refuses. Adds one warning line per tensor.
Status apply_zero_data_policy(const QuantizeJob& job, const imatrix::Imatrix& m, const imatrix::Entry& e,
                              const std::string& name, int64_t n_mat, quant::TypeId type, const float*& imat,
                              std::vector<uint8_t>& plain, std::vector<float>& ones,
                              std::vector<std::string>& warnings) {
  const std::vector<bool> none = imatrix::matrices_without_data(m, e, n_mat);
  std::vector<int64_t> empty;
  for (size_t j = 0; j < none.size(); ++j) {
    if (none[j]) empty.push_back(static_cast<int64_t>(j));
  }
  if (empty.empty()) return Status::Ok();
  const std::string which =
      n_mat > 1 ? fmt::format("{} of its {} experts ({})", empty.size(), n_mat, fmt::join(empty, " "))
                : std::string("the whole tensor");
  imatrix::ZeroDataPolicy policy = job.zero_data_policy;
  if (policy == imatrix::ZeroDataPolicy::kRefuse) {
    return make_error("{}: no calibration data for {} in {} (--zero-expert-policy refuse; "
                      "plain or ones quantize it anyway, more varied calibration text covers it)",
                      name, which, job.imatrix_path);
  }
  const bool needs_weights = quant::traits(type).needs_imatrix;
  if (policy == imatrix::ZeroDataPolicy::kPlain && !needs_weights) {
    plain.assign(static_cast<size_t>(n_mat), 0);
    for (int64_t j : empty) plain[static_cast<size_t>(j)] = 1;
    warnings.push_back(fmt::format("{}: no calibration data for {}: quantized without importance weights",
                                   name, which));
    return Status::Ok();
  }
  const int64_t ne0 = static_cast<int64_t>(e.values.size()) / n_mat;
  ones = e.values;
  for (int64_t j : empty) std::fill_n(ones.begin() + j * ne0, ne0, 1.0f);
  imat = ones.data();
  warnings.push_back(fmt::format("{}: no calibration data for {}: importance 1 for every column{}", name, which,
                                 policy == imatrix::ZeroDataPolicy::kPlain
                                     ? fmt::format(" ({} cannot be made without importance weights)",
                                                   quant::type_name(type))
                                     : std::string()));
  return Status::Ok();
}

}  // namespace

uint32_t loaded_file_type(const gguf::File& file, std::span<const size_t> order) {
  int64_t v = 0;
  if (file.get_int("general.file_type", v)) return static_cast<uint32_t>(v);
  std::map<int32_t, uint32_t> counts;
  uint32_t best_count = 0;
  quant::TypeId best = quant::TypeId::F32;
  for (size_t i : order) {
    const auto& t = file.tensors()[i];
    const uint32_t c = ++counts[t.type];
    if (best_count < c) {  // strict: the first type to reach the maximum wins
      best_count = c;
      best = static_cast<quant::TypeId>(t.type);
    }
  }
  return ftype_for_type(best) | kFtypeGuessed;
}

Result<QuantizeReport> quantize_model(const QuantizeJob& job) {
  const auto start = std::chrono::steady_clock::now();
  APEX_CHECK(job.ftype != nullptr, "quantize job without ftype");
  APEX_ASSIGN_OR_RETURN(auto file, gguf::File::open(job.input));
  APEX_ASSIGN_OR_RETURN(plan::ModelFacts facts, plan::model_facts_from_gguf(*file));

  // llama.cpp processes and writes tensors in its own order.
  std::vector<std::string> names;
  for (const auto& t : file->tensors()) names.push_back(t.name);
  const std::vector<size_t> order = plan::llama_tensor_order(names);
  std::vector<plan::TensorDesc> descs;
  for (size_t i : order) {
    const auto& t = file->tensors()[i];
    descs.push_back({t.name, t.ne, static_cast<quant::TypeId>(t.type)});
  }

  plan::QuantizeOptions rules = job.rules;
  rules.ftype = job.ftype->ftype;
  rules.only_copy = job.ftype->only_copy;

  std::optional<imatrix::Imatrix> imat;
  if (!job.imatrix_path.empty()) {
    APEX_ASSIGN_OR_RETURN(imat, imatrix::load(job.imatrix_path));
    rules.has_imatrix = true;
    // llama-quantize ignores entries it has no tensor for; an entry naming a
    // tensor this model lacks means the imatrix was computed for another
    // model (a deeper one, another architecture), so it is refused here.
    for (const imatrix::Entry& e : imat->entries) {
      if (file->find_tensor(e.name) == nullptr) {
        return make_error("{}: imatrix entry '{}' names no tensor of {}: the imatrix is from a different model",
                          job.imatrix_path, e.name, job.input);
      }
    }
  }

  APEX_ASSIGN_OR_RETURN(std::vector<plan::TensorChoice> choices,
                        plan::choose_tensor_types(facts, descs, rules));
  if (!job.dry_run) APEX_RETURN_IF_ERROR(plan::check_choices(descs, choices, rules));

  QuantizeReport report;
  report.input = job.input;
  report.output = job.output;
  report.dry_run = job.dry_run;
  report.ftype_name = job.ftype->name;
  report.file_type = rules.only_copy ? loaded_file_type(*file, order)
                                     : static_cast<uint32_t>(job.ftype->ftype);

  // Metadata: every input key in order, then llama-quantize's keys. Setting a
  // key moves it to the end, as upstream's gguf_set_* does.
  gguf::Layout layout;
  layout.kvs = file->kvs();
  layout.set("general.quantization_version", gguf::Value(kQuantizationVersion));
  layout.set("general.file_type", gguf::Value(report.file_type));
  layout.remove("split.no");
  layout.remove("split.count");
  layout.remove("split.tensors.count");
  if (imat) {
    for (auto& kv : imatrix::quantize_metadata(*imat, job.imatrix_path)) layout.set(kv.key, kv.value);
  }
  for (const auto& kv : job.extra_metadata) layout.set(kv.key, kv.value);

  // Tensor table and the importance vector of each tensor that is converted.
  std::vector<const float*> imatrix_of(descs.size(), nullptr);
  // The zero-data policy's per-tensor state: matrices quantized without
  // weights, and importance vectors with such matrices set to 1.
  std::vector<std::vector<uint8_t>> plain_of(descs.size());
  std::vector<std::vector<float>> ones_of(descs.size());
  for (size_t i = 0; i < descs.size(); ++i) {
    const auto& d = descs[i];
    const auto& src = file->tensors()[order[i]];
    const plan::TensorChoice& c = choices[i];
    TensorReport tr;
    tr.name = d.name;
    tr.ne = d.ne;
    tr.src_type = d.type;
    tr.dst_type = c.type;
    tr.src_bytes = src.nbytes;
    tr.quantized = c.type != d.type;
    tr.fell_back = c.fell_back;
    tr.source = c.source;
    tr.dst_bytes = tr.quantized ? quant::row_bytes(c.type, d.ne[0]) * src.n_rows() : src.nbytes;
    if (tr.quantized && imat) {
      const std::vector<float>* v = imat->find(d.name);
      const int64_t n_mat = d.ne.size() > 2 ? d.ne[2] : 1;
      if (v != nullptr) {
        if (static_cast<int64_t>(v->size()) == d.ne[0] * n_mat) {
          imatrix_of[i] = v->data();
        } else if (!is_token_embd(d.name)) {
          return make_error("{}: imatrix entry for {} has {} values, the tensor needs {} ({} per row x {} matrices)",
                            job.imatrix_path, d.name, v->size(), d.ne[0] * n_mat, d.ne[0], n_mat);
        }
      }
    }
    if (imatrix_of[i] != nullptr) {
      const int64_t n_mat = d.ne.size() > 2 ? d.ne[2] : 1;
      APEX_RETURN_IF_ERROR(apply_zero_data_policy(job, *imat, *imat->find_entry(d.name), d.name, n_mat,
                                                  c.type, imatrix_of[i], plain_of[i], ones_of[i],
                                                  report.warnings));
    }
    if (tr.quantized && c.requires_imatrix && imatrix_of[i] == nullptr && !job.dry_run) {
      return make_error("tensor {} needs an importance matrix for {} but {}", d.name,
                        quant::type_name(c.type),
                        imat ? fmt::format("{} has no usable entry for it", job.imatrix_path)
                             : std::string("none was given (--imatrix FILE)"));
    }
    tr.used_imatrix = imatrix_of[i] != nullptr;
    if (tr.fell_back) ++report.n_fallback;
    report.src_bytes += tr.src_bytes;
    report.dst_bytes += tr.dst_bytes;
    report.n_elements += src.n_elements();

    gguf::TensorInfo info;
    info.name = d.name;
    info.ne = d.ne;
    info.type = static_cast<int32_t>(c.type);
    info.nbytes = tr.dst_bytes;
    layout.tensors.push_back(std::move(info));
    report.tensors.push_back(std::move(tr));
  }
  layout.alignment = kOutputAlignment;
  layout.assign_offsets();
  report.output_file_bytes = layout.total_bytes();

  if (job.dry_run) {
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
  }

  // Fail before writing anything if a chosen format is not implemented yet.
  for (const TensorReport& tr : report.tensors) {
    if (tr.quantized && quant::traits(tr.dst_type).quantize == nullptr) {
      return make_error("tensor {}: writing {} is not implemented yet (--dry-run shows the plan)", tr.name,
                        quant::type_name(tr.dst_type));
    }
    if (tr.quantized && quant::traits(tr.src_type).dequantize == nullptr) {
      return make_error("tensor {}: reading {} data is not implemented yet", tr.name, quant::type_name(tr.src_type));
    }
  }

  APEX_ASSIGN_OR_RETURN(auto writer, gguf::Writer::create(job.output, std::move(layout)));
  ConvertOptions copts;
  copts.threads = job.threads > 0 ? job.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ProgressBar bar("quantize", static_cast<uint64_t>(report.n_elements), job.progress && ProgressBar::stderr_is_terminal());

  for (size_t i = 0; i < descs.size(); ++i) {
    const auto& src = file->tensors()[order[i]];
    const TensorReport& tr = report.tensors[i];
    const std::span<const uint8_t> data = file->tensor_data(src);
    bar.set_detail(tr.name);
    if (!tr.quantized) {
      // Copied unchanged, but checked like llama.cpp's loader checks tensors.
      if (!quant::validate_rows(tr.src_type, data.data(), data.size())) {
        const bool is_float = !quant::traits(tr.src_type).is_quantized;
        const int64_t e = is_float ? first_non_finite(tr.src_type, data, src.n_elements()) : -1;
        return e >= 0 ? make_error("tensor {}: non-finite value at element {}", tr.name, e)
                      : make_error("tensor {}: invalid {} data (non-finite scales)", tr.name,
                                   quant::type_name(tr.src_type));
      }
      APEX_RETURN_IF_ERROR(writer->write(data));
      bar.advance(static_cast<uint64_t>(src.n_elements()));
    } else {
      TensorJob tj;
      tj.name = tr.name;
      tj.src_type = tr.src_type;
      tj.dst_type = tr.dst_type;
      tj.src = data;
      tj.n_per_row = src.ne[0];
      tj.rows_per_matrix = src.ne.size() > 1 ? src.ne[1] : 1;
      tj.n_rows = src.n_rows();
      tj.imatrix = imatrix_of[i];
      tj.plain_matrices = plain_of[i];
      APEX_RETURN_IF_ERROR(convert_tensor(
          tj, copts, [&](std::span<const uint8_t> bytes) { return writer->write(bytes); },
          [&](int64_t rows) { bar.advance(static_cast<uint64_t>(rows * src.ne[0])); }));
    }
    APEX_RETURN_IF_ERROR(writer->end_tensor());
    file->release(src);
  }
  APEX_RETURN_IF_ERROR(writer->finish());
  bar.finish();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

namespace {
std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s;
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? " x " : "") + std::to_string(ne[i]);
  return s;
}
double mib(uint64_t b) { return b / 1048576.0; }
}  // namespace

std::string format_text(const QuantizeReport& r, bool per_tensor) {
  std::string out;
  if (per_tensor) {
    size_t w = 4;
    for (const auto& t : r.tensors) w = std::max(w, t.name.size());
    for (const auto& t : r.tensors) {
      out += fmt::format("{:<{}}  {:<20} {:>7} -> {:<7} {:>10.2f} MiB -> {:>9.2f} MiB{}{}\n", t.name, w,
                         shape_str(t.ne), quant::type_name(t.src_type), quant::type_name(t.dst_type),
                         mib(t.src_bytes), mib(t.dst_bytes), t.fell_back ? "  (fallback)" : "",
                         t.used_imatrix ? "  (imatrix)" : "");
    }
  }
  const double bpw_in = r.n_elements ? 8.0 * r.src_bytes / r.n_elements : 0.0;
  const double bpw_out = r.n_elements ? 8.0 * r.dst_bytes / r.n_elements : 0.0;
  out += fmt::format("{}{} -> {}: {}\n", r.dry_run ? "dry run: " : "", r.input,
                     r.dry_run ? std::string("(no file written)") : r.output, r.ftype_name);
  out += fmt::format("  tensors: {}, parameters: {}\n", r.tensors.size(), r.n_elements);
  out += fmt::format("  model size: {:.2f} MiB ({:.2f} bpw) -> {:.2f} MiB ({:.2f} bpw); output file {} bytes\n",
                     mib(r.src_bytes), bpw_in, mib(r.dst_bytes), bpw_out, r.output_file_bytes);
  if (r.n_fallback > 0)
    out += fmt::format("  {} of {} tensors needed a fallback type (row length not a multiple of the block size)\n",
                       r.n_fallback, r.tensors.size());
  if (!r.dry_run) out += fmt::format("  time: {:.2f} s\n", r.seconds);
  return out;
}

nlohmann::json to_json(const QuantizeReport& r) {
  nlohmann::json j;
  j["input"] = r.input;
  j["output"] = r.dry_run ? nlohmann::json(nullptr) : nlohmann::json(r.output);
  j["dry_run"] = r.dry_run;
  j["ftype"] = r.ftype_name;
  j["file_type"] = r.file_type;
  j["n_elements"] = r.n_elements;
  j["src_bytes"] = r.src_bytes;
  j["dst_bytes"] = r.dst_bytes;
  j["output_file_bytes"] = r.output_file_bytes;
  j["bpw"] = r.n_elements ? 8.0 * r.dst_bytes / r.n_elements : 0.0;
  j["n_fallback"] = r.n_fallback;
  j["seconds"] = r.seconds;
  j["warnings"] = r.warnings;
  j["tensors"] = nlohmann::json::array();
  for (const auto& t : r.tensors) {
    j["tensors"].push_back({{"name", t.name},
                            {"shape", t.ne},
                            {"src_type", quant::type_name(t.src_type)},
                            {"type", quant::type_name(t.dst_type)},
                            {"src_bytes", t.src_bytes},
                            {"bytes", t.dst_bytes},
                            {"quantized", t.quantized},
                            {"fallback", t.fell_back},
                            {"imatrix", t.used_imatrix}});
  }
  return j;
}

}  // namespace apex::pipeline
