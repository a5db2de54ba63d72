// export-int: plan the output tensors from the GGUF's (name table), then
// stream each one: dequantize a slab of source rows, quantize it group-wise
// in parallel, append the bytes to the safetensors writer, keep only the
// scales of the tensor being written. See int_export.h for the formats.
#include "export/int_export.h"

#include <sys/mman.h>
#include <unistd.h>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "convert/hf_config.h"
#include "convert/hf_values.h"
#include "export/hf_tensors.h"
#include "export/sha256.h"
#include "gguf/gguf.h"
#include "quant/fp16.h"
#include "quant/type_table.h"
#include "safetensors/safetensors.h"

namespace apex::xport {

namespace fs = std::filesystem;

Result<IntFormat> parse_int_format(std::string_view s) {
  if (s == "apex") return IntFormat::kApex;
  if (s == "compressed-tensors") return IntFormat::kCompressedTensors;
  return make_error("--format {}: expected apex or compressed-tensors", s);
}

const char* int_format_name(IntFormat f) {
  return f == IntFormat::kApex ? "apex" : "compressed-tensors";
}

namespace {

// Rows [row0, row0 + n_rows) of a GGUF tensor seen as a matrix of ne[0] columns.
struct Segment {
  const gguf::TensorInfo* t = nullptr;
  int64_t row0 = 0;
  int64_t n_rows = 0;
};
// One [out, in] matrix: segments stacked in order.
struct Matrix {
  std::vector<Segment> segs;
  int64_t rows() const {
    int64_t n = 0;
    for (const Segment& s : segs) n += s.n_rows;
    return n;
  }
};

enum class Out { kQuant, kBF16, kF32 };

// One unit of output: a float tensor, or a quantized weight (one matrix, or
// a stack of expert matrices) with its scale (and shape) tensors.
struct Job {
  Out out = Out::kF32;
  std::string name;     // float: the tensor; quantized: the weight tensor
  std::string scale_name, shape_name;  // quantized only ("" when absent)
  std::string source;   // GGUF tensor name(s), for the report
  std::vector<Matrix> mats;
  int64_t in = 0;       // columns
  std::vector<int64_t> shape;  // float tensors: the HF shape
  bool stacked = false; // quantized: [E, ...] stack
  // The converter changed the values (Qwen3.5): the single source tensor is
  // read whole and the change undone (hf_values.h) before export; hf_shape
  // is the HF tensor's shape.
  const convert::NamePair* values = nullptr;
  std::vector<int64_t> hf_shape;
};

struct Scheme {
  IntFormat format;
  int bits;
  int64_t group;
  int qmax() const { return bits == 8 ? 127 : 7; }
  int64_t n_groups(int64_t in) const { return (in + group - 1) / group; }
  // Bytes of one packed row of `in` values.
  int64_t row_bytes(int64_t in) const {
    if (format == IntFormat::kCompressedTensors) return (in * bits + 31) / 32 * 4;
    return bits == 8 ? in : (in + 1) / 2;
  }
};

// Smallest binary16 >= s (s >= 0, finite): the stored scale never makes a
// value exceed qmax, so nothing is clamped.
uint16_t fp16_round_up(float s) {
  uint16_t h = quant::fp32_to_fp16(s);
  if (quant::fp16_to_fp32(h) < s) ++h;  // positive halves order like their bits
  return h;
}

std::vector<st::TensorDecl> decls_of(const Job& j, const Scheme& sc) {
  std::vector<st::TensorDecl> d;
  if (j.out == Out::kBF16) return {{j.name, st::DType::BF16, j.shape}};
  if (j.out == Out::kF32) return {{j.name, st::DType::F32, j.shape}};
  const int64_t out = j.mats[0].rows();
  const int64_t ng = sc.n_groups(j.in);
  const auto e = static_cast<int64_t>(j.mats.size());
  if (sc.format == IntFormat::kCompressedTensors) {
    d.push_back({j.name, st::DType::I32, {out, sc.row_bytes(j.in) / 4}});
    d.push_back({j.scale_name, st::DType::F16, {out, ng}});
    d.push_back({j.shape_name, st::DType::I64, {2}});
    return d;
  }
  const st::DType wt = sc.bits == 8 ? st::DType::I8 : st::DType::U8;
  if (j.stacked) {
    d.push_back({j.name, wt, {e, out, sc.row_bytes(j.in)}});
    d.push_back({j.scale_name, st::DType::F16, {e, ng, out}});
  } else {
    d.push_back({j.name, wt, {out, sc.row_bytes(j.in)}});
    d.push_back({j.scale_name, st::DType::F16, {ng, out}});
  }
  return d;
}

// Pages of mapped source rows we are done with.
void drop_pages(const uint8_t* p, size_t n) {
  static const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  auto b = reinterpret_cast<uintptr_t>(p);
  const uintptr_t e = b + n;
  b = (b + page - 1) / page * page;  // only whole pages inside the range
  const uintptr_t ee = e / page * page;
  if (ee > b) madvise(reinterpret_cast<void*>(b), ee - b, MADV_DONTNEED);
}

struct ErrAcc {
  double max = 0, sum = 0, wmax = 0;
  uint64_t n = 0;
  void add(const ErrAcc& o) {
    max = std::max(max, o.max);
    wmax = std::max(wmax, o.wmax);
    sum += o.sum;
    n += o.n;
  }
};

class Exporter {
 public:
  Exporter(const gguf::File& f, const Scheme& sc, const convert::LinearAttnDims& lin) : f_(f), sc_(sc), lin_(lin) {}

  // Streams one job's tensors into the writer; fills `rep`.
  Status run(const Job& j, st::ShardedWriter& w, TensorReport& rep) {
    ErrAcc acc;
    std::vector<uint16_t> scales;
    const int64_t ng = sc_.n_groups(j.in);
    const int64_t out = j.mats[0].rows();
    if (j.out == Out::kQuant) scales.assign(static_cast<size_t>(ng * out) * j.mats.size(), 0);
    const int64_t obytes = j.out == Out::kQuant ? sc_.row_bytes(j.in)
                                                : j.in * (j.out == Out::kBF16 ? 2 : 4);
    // About 16 MiB of floats per slab.
    const int64_t slab = std::max<int64_t>(1, (int64_t{4} << 20) / std::max<int64_t>(j.in, 1));
    std::vector<float> rows;
    std::vector<uint8_t> bytes;
    std::vector<ErrAcc> row_err;
    // Values in HF order for a tensor whose values the converter changed.
    std::vector<float> undone;
    if (j.values != nullptr) {
      const gguf::TensorInfo& t = *j.mats[0].segs[0].t;
      undone.resize(static_cast<size_t>(t.n_elements()));
      APEX_RETURN_IF_ERROR(quant::dequantize_row(static_cast<quant::TypeId>(t.type), f_.tensor_data(t).data(),
                                                 undone.data(), t.n_elements()));
      APEX_RETURN_IF_ERROR(convert::gguf_to_hf_values(*j.values, lin_, j.hf_shape, st::DType::F32,
                                                      fmt::format("{}: tensor {}", f_.path(), t.name), undone));
    }
    for (size_t m = 0; m < j.mats.size(); ++m) {
      int64_t r_out = 0;  // row within the matrix
      for (const Segment& s : j.mats[m].segs) {
        const quant::TypeId type = static_cast<quant::TypeId>(s.t->type);
        const size_t src_row = quant::row_bytes(type, j.in);
        const uint8_t* base = f_.tensor_data(*s.t).data();
        for (int64_t r0 = 0; r0 < s.n_rows; r0 += slab) {
          const int64_t n = std::min(slab, s.n_rows - r0);
          rows.resize(static_cast<size_t>(n * j.in));
          bytes.assign(static_cast<size_t>(n * obytes), 0);
          row_err.assign(static_cast<size_t>(n), ErrAcc{});
          std::atomic<int64_t> bad_row{-1};
          tbb::parallel_for(int64_t{0}, n, [&](int64_t i) {
            float* x = rows.data() + i * j.in;
            if (!undone.empty()) {
              std::copy_n(undone.data() + (s.row0 + r0 + i) * j.in, j.in, x);
            } else {
              const uint8_t* src = base + static_cast<size_t>(s.row0 + r0 + i) * src_row;
              (void)quant::dequantize_row(type, src, x, j.in);
            }
            for (int64_t k = 0; k < j.in; ++k) {
              if (!std::isfinite(x[k])) {
                bad_row = s.row0 + r0 + i;
                return;
              }
            }
            uint8_t* dst = bytes.data() + i * obytes;
            ErrAcc& e = row_err[static_cast<size_t>(i)];
            if (j.out == Out::kQuant) {
              quantize_row(x, j.in, dst, scales, m, r_out + r0 + i, out, ng, e);
            } else {
              convert_row(x, j.in, dst, j.out, e);
            }
          });
          if (bad_row >= 0) {
            return make_error("{}: tensor {} row {} holds a NaN or infinity", f_.path(),
                              s.t->name, bad_row.load());
          }
          for (const ErrAcc& e : row_err) acc.add(e);
          APEX_RETURN_IF_ERROR(w.write(bytes));
          drop_pages(base + static_cast<size_t>(s.row0 + r0) * src_row,
                     static_cast<size_t>(n) * src_row);
        }
        r_out += s.n_rows;
      }
    }
    APEX_RETURN_IF_ERROR(w.end_tensor());
    if (j.out == Out::kQuant) {
      std::vector<uint8_t> sb(scales.size() * 2);
      std::memcpy(sb.data(), scales.data(), sb.size());
      APEX_RETURN_IF_ERROR(w.write_tensor(sb));
      if (sc_.format == IntFormat::kCompressedTensors) {
        const int64_t shape[2] = {out, j.in};
        APEX_RETURN_IF_ERROR(
            w.write_tensor({reinterpret_cast<const uint8_t*>(shape), sizeof(shape)}));
      }
    }
    rep.name = j.name;
    rep.source = j.source;
    rep.dtype = j.out == Out::kQuant ? (sc_.bits == 8 ? "int8" : "int4")
                                     : (j.out == Out::kBF16 ? "BF16" : "F32");
    rep.max_abs_err = acc.max;
    rep.mean_abs_err = acc.n ? acc.sum / static_cast<double>(acc.n) : 0.0;
    rep.max_abs_weight = acc.wmax;
    return Status::Ok();
  }

 private:
  const gguf::File& f_;
  Scheme sc_;
  convert::LinearAttnDims lin_;

  // One row: per group the scale, then q = round-half-even(w / scale).
  void quantize_row(const float* x, int64_t in, uint8_t* dst, std::vector<uint16_t>& scales,
                    size_t m, int64_t row, int64_t out, int64_t ng, ErrAcc& e) const {
    const int qmax = sc_.qmax();
    const bool ct = sc_.format == IntFormat::kCompressedTensors;
    const int offset = 1 << (sc_.bits - 1);  // compressed-tensors' unsigned shift; int4 nibble bias
    for (int64_t g = 0; g < ng; ++g) {
      const int64_t c0 = g * sc_.group, c1 = std::min(in, c0 + sc_.group);
      float amax = 0;
      for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(x[c]));
      const uint16_t h = fp16_round_up(amax / static_cast<float>(qmax));
      const float s = quant::fp16_to_fp32(h);
      // Scale layout: apex [E][n_groups][out], compressed-tensors [out][n_groups].
      const size_t si = ct ? static_cast<size_t>(row * ng + g)
                           : (m * static_cast<size_t>(ng) + static_cast<size_t>(g)) * static_cast<size_t>(out) +
                                 static_cast<size_t>(row);
      scales[si] = h;
      e.wmax = std::max(e.wmax, static_cast<double>(amax));
      for (int64_t c = c0; c < c1; ++c) {
        int q = 0;
        if (s > 0) q = static_cast<int>(std::nearbyint(x[c] / s));
        q = std::clamp(q, -qmax, qmax);
        const double err = std::fabs(static_cast<double>(x[c]) - static_cast<double>(q) * s);
        e.max = std::max(e.max, err);
        e.sum += err;
        ++e.n;
        if (ct) {
          // pack_to_int32: element c at bits [(c % pf) * bits, ...) of word
          // c / pf, unsigned after adding 2^(bits-1); words little-endian.
          const int64_t pf = 32 / sc_.bits;
          const uint32_t u = static_cast<uint32_t>(q + offset) & ((1u << sc_.bits) - 1);
          uint32_t word;
          std::memcpy(&word, dst + (c / pf) * 4, 4);
          word |= u << ((c % pf) * sc_.bits);
          std::memcpy(dst + (c / pf) * 4, &word, 4);
        } else if (sc_.bits == 8) {
          dst[c] = static_cast<uint8_t>(static_cast<int8_t>(q));
        } else {
          dst[c / 2] |= static_cast<uint8_t>((q + offset) << ((c % 2) * 4));
        }
      }
    }
  }

  static void convert_row(const float* x, int64_t in, uint8_t* dst, Out out, ErrAcc& e) {
    for (int64_t c = 0; c < in; ++c) {
      float back = x[c];
      if (out == Out::kBF16) {
        const uint16_t b = quant::fp32_to_bf16(x[c]);
        std::memcpy(dst + 2 * c, &b, 2);
        back = quant::bf16_to_fp32(b);
      } else {
        std::memcpy(dst + 4 * c, &x[c], 4);
      }
      const double err = std::fabs(static_cast<double>(x[c]) - back);
      e.max = std::max(e.max, err);
      e.wmax = std::max(e.wmax, static_cast<double>(std::fabs(x[c])));
      e.sum += err;
      ++e.n;
    }
  }
};

// The output plan: every GGUF tensor placed, experts split or fused.
Result<std::vector<Job>> plan_jobs(const gguf::File& f, const ArchTensors& arch, const Scheme& sc) {
  std::vector<Job> jobs;
  const bool ct = sc.format == IntFormat::kCompressedTensors;
  const char* w_suffix = sc.bits == 8 ? ".weight_i8" : ".weight_i4";
  const char* s_suffix = sc.bits == 8 ? ".weight_scale_i8" : ".weight_scale_i4";
  const char* e_suffix = sc.bits == 8 ? "_q8" : "_q4";
  const char* es_suffix = sc.bits == 8 ? "_scale_q8" : "_scale_q4";
  for (const gguf::TensorInfo& t : f.tensors()) {
    const auto place = place_tensor(arch, t.name);
    if (!place) {
      return make_error("{}: tensor {} has no place in a {} checkpoint (not in apex's {} table)",
                        f.path(), t.name, arch.names->hf_architecture, arch.names->arch);
    }
    const quant::TypeTraits* tt = quant::find_type(t.type);
    if (tt == nullptr || tt->dequantize == nullptr) {
      return make_error("{}: tensor {}: apex cannot dequantize type {}", f.path(), t.name,
                        tt ? tt->name : "unknown");
    }
    const Kind kind = place->kind;
    const bool expert = kind == Kind::kExpertGate || kind == Kind::kExpertUp || kind == Kind::kExpertDown;
    const size_t want_dims = expert ? 3 : (kind == Kind::kVector || kind == Kind::kRowVector) ? 1 : 2;
    if (t.ne.size() != want_dims) {
      return make_error("{}: tensor {} has {} dims, expected {}", f.path(), t.name, t.ne.size(), want_dims);
    }
    Job j;
    j.source = t.name;
    j.in = t.ne[0];
    const int64_t out = t.ne.size() > 1 ? t.ne[1] : 1;
    j.values = place->values;
    if (kind == Kind::kVector) {
      j.hf_shape = {j.in};
    } else if (kind == Kind::kConv) {
      j.hf_shape = {out, 1, j.in};
    } else {
      j.hf_shape = {out, j.in};
    }
    switch (kind) {
      case Kind::kConv:  // depthwise Conv1d: GGUF [kernel, channels] -> HF [channels, 1, kernel]
        j.out = Out::kF32;
        j.name = place->hf;
        j.shape = {out, 1, j.in};
        j.mats = {Matrix{{{&t, 0, out}}}};
        break;
      case Kind::kEmbedding:
      case Kind::kHead:
        j.out = Out::kBF16;
        j.name = place->hf;
        j.shape = {out, j.in};
        j.mats = {Matrix{{{&t, 0, out}}}};
        break;
      case Kind::kVector:
      case Kind::kRowVector:
        j.out = Out::kF32;
        j.name = place->hf;
        j.shape = kind == Kind::kVector ? std::vector<int64_t>{j.in} : std::vector<int64_t>{1, j.in};
        j.mats = {Matrix{{{&t, 0, 1}}}};
        break;
      case Kind::kRouter:
        if (ct) {  // vLLM builds the router without a quant method
          j.out = Out::kBF16;
          j.name = place->hf + ".weight";
          j.shape = {out, j.in};
          j.mats = {Matrix{{{&t, 0, out}}}};
          break;
        }
        [[fallthrough]];
      case Kind::kLinear:
        j.out = Out::kQuant;
        j.mats = {Matrix{{{&t, 0, out}}}};
        if (ct) {
          j.name = place->hf + ".weight_packed";
          j.scale_name = place->hf + ".weight_scale";
          j.shape_name = place->hf + ".weight_shape";
        } else {
          j.name = place->hf + w_suffix;
          j.scale_name = place->hf + s_suffix;
        }
        break;
      case Kind::kExpertUp:
        if (!ct) continue;  // fused into gate_up with the gate stack
        [[fallthrough]];
      case Kind::kExpertGate:
      case Kind::kExpertDown: {
        const int64_t n_expert = t.ne[2];
        j.out = Out::kQuant;
        if (ct) {
          for (int64_t e = 0; e < n_expert; ++e) {
            Job je = j;
            const std::string mod = expert_module(arch, t.name, static_cast<int>(e));
            je.name = mod + ".weight_packed";
            je.scale_name = mod + ".weight_scale";
            je.shape_name = mod + ".weight_shape";
            je.mats = {Matrix{{{&t, e * out, out}}}};
            jobs.push_back(std::move(je));
          }
          continue;
        }
        j.stacked = true;
        const std::string fused = fused_expert_name(arch, t.name);
        if (kind == Kind::kExpertDown) {
          j.name = fused + e_suffix;
          j.scale_name = fused + es_suffix;
          for (int64_t e = 0; e < n_expert; ++e) j.mats.push_back(Matrix{{{&t, e * out, out}}});
        } else {
          // transformers' fused gate_up_proj: per expert the gate rows, then the up rows.
          const std::string up_name = fmt::format("blk.{}.ffn_up_exps.weight", place->bid);
          const gguf::TensorInfo* up = f.find_tensor(up_name);
          if (up == nullptr || up->ne != t.ne) {
            return make_error("{}: tensor {} needs {} of the same shape beside it", f.path(), t.name, up_name);
          }
          const quant::TypeTraits* ut = quant::find_type(up->type);
          if (ut == nullptr || ut->dequantize == nullptr) {
            return make_error("{}: tensor {}: apex cannot dequantize type {}", f.path(), up_name,
                              ut ? ut->name : "unknown");
          }
          j.name = fused + e_suffix;
          j.scale_name = fused + es_suffix;
          j.source = t.name + " + " + up_name;
          for (int64_t e = 0; e < n_expert; ++e) {
            j.mats.push_back(Matrix{{{&t, e * out, out}, {up, e * out, out}}});
          }
        }
        break;
      }
    }
    jobs.push_back(std::move(j));
  }
  return jobs;
}

nlohmann::ordered_json quantization_config(const Scheme& sc, const ArchTensors& arch) {
  nlohmann::ordered_json q;
  if (sc.format == IntFormat::kCompressedTensors) {
    // compressed-tensors' QuantizationConfig as llm-compressor writes it for
    // W4A16 / W8A16 (weights-only, symmetric, group strategy).
    nlohmann::ordered_json weights = {
        {"num_bits", sc.bits}, {"type", "int"}, {"symmetric", true}, {"group_size", sc.group},
        {"strategy", "group"}, {"block_structure", nullptr}, {"dynamic", false},
        {"actorder", nullptr}, {"observer", "minmax"}, {"observer_kwargs", nlohmann::ordered_json::object()}};
    q["quant_method"] = "compressed-tensors";
    q["format"] = "pack-quantized";
    q["quantization_status"] = "compressed";
    q["config_groups"] = {{"group_0",
                           {{"targets", {"Linear"}},
                            {"weights", weights},
                            {"input_activations", nullptr},
                            {"output_activations", nullptr},
                            {"format", "pack-quantized"}}}};
    q["ignore"] = {"lm_head", "re:.*mlp.gate$", "re:.*shared_expert_gate$"};
    q["kv_cache_scheme"] = nullptr;
    q["sparsity_config"] = nlohmann::ordered_json::object();
    q["global_compression_ratio"] = nullptr;
    return q;
  }
  const bool b8 = sc.bits == 8;
  q["quant_method"] = "apex-int";
  q["format"] = "apex";
  q["bits"] = sc.bits;
  q["group_size"] = sc.group;
  q["symmetric"] = true;
  q["zero_point"] = false;
  q["qmax"] = sc.qmax();
  q["weight_suffix"] = b8 ? "weight_i8" : "weight_i4";
  q["weight_scale_suffix"] = b8 ? "weight_scale_i8" : "weight_scale_i4";
  q["weight_dtype"] = b8 ? "int8" : "uint8 (two int4 per byte)";
  q["expert_tensors"] = {fmt::format("{}{}", arch.fused_gate_up, b8 ? "_q8" : "_q4"),
                         fmt::format("{}{}", arch.fused_down, b8 ? "_q8" : "_q4")};
  q["expert_layout"] = "[num_experts, out_features, in_features]; gate_up_proj = gate rows then up rows";
  q["scale_dtype"] = "float16";
  q["scale_layout"] = "[n_groups, out_features] (experts: [num_experts, n_groups, out_features])";
  q["dequantize"] = "w[o, i] = q[o, i] * scale[i // group_size, o]";
  if (!b8) q["int4_packing"] = "byte j holds element 2j in the low nibble and 2j+1 in the high nibble, each as q + 8";
  q["scale_rule"] = "max|w| over the group / qmax, rounded up to float16; q = round-half-even(w / scale)";
  q["modules_not_converted"] = {"model.embed_tokens", "lm_head", "norms", "biases", "mlp.shared_expert_gate"};
  return q;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Removes the temp output directory unless released.
struct DirGuard {
  std::string path;
  ~DirGuard() {
    if (!path.empty()) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

}  // namespace

Result<IntExportReport> export_int(const IntExportOptions& opts) {
  if (opts.bits != 8 && opts.bits != 4) return make_error("--bits {}: expected 8 or 4", opts.bits);
  if (opts.group <= 0 || opts.group > (int64_t{1} << 20)) {
    return make_error("--group {}: expected a positive group size", opts.group);
  }
  if (opts.format == IntFormat::kCompressedTensors && opts.group % (32 / opts.bits) != 0) {
    return make_error("--group {}: compressed-tensors needs a multiple of {}", opts.group, 32 / opts.bits);
  }
  const Scheme sc{opts.format, opts.bits, opts.group};
  APEX_ASSIGN_OR_RETURN(auto file, gguf::File::open(opts.gguf_path));
  std::string arch_name;
  if (!file->get_string("general.architecture", arch_name)) {
    return make_error("{}: no general.architecture key", opts.gguf_path);
  }
  std::optional<ArchTensors> arch = find_arch_tensors(arch_name);
  if (!arch) {
    return make_error("{}: architecture {} is not supported by export-int (supported: {})",
                      opts.gguf_path, arch_name, arch_tensors_list());
  }
  // MTP blocks (after the trunk in GGUF) go under "mtp." in HF.
  int64_t n_blocks = 0, n_mtp = 0;
  if (arch->names->mtp && file->get_int(arch_name + ".nextn_predict_layers", n_mtp) && n_mtp > 0 &&
      file->get_int(arch_name + ".block_count", n_blocks)) {
    arch->n_trunk = static_cast<int>(n_blocks - n_mtp);
  }
  APEX_ASSIGN_OR_RETURN(auto jobs, plan_jobs(*file, *arch, sc));
  // config.json as `apex export-hf` writes it (one reading of the GGUF keys
  // for both), plus how the weights are quantized. Ordered from here on so
  // that quantization_config keeps the field order quantization_config() gives it.
  APEX_ASSIGN_OR_RETURN(const nlohmann::json hf_config,
                        convert::hf_config_from_gguf(*file, *arch->names, "bfloat16"));
  nlohmann::ordered_json config = hf_config;
  config["quantization_config"] = quantization_config(sc, *arch);

  std::vector<st::TensorDecl> decls;
  for (const Job& j : jobs) {
    for (auto& d : decls_of(j, sc)) decls.push_back(std::move(d));
  }

  std::error_code ec;
  const fs::path out_dir = fs::path(opts.out_dir).lexically_normal();
  if (out_dir.empty() || out_dir.filename().empty()) return make_error("output directory name is empty");
  if (fs::exists(out_dir, ec)) {
    return make_error("{}: already exists; remove it or choose another output directory", opts.out_dir);
  }
  const std::string tmp = fmt::format("{}.tmp.{}", out_dir.string(), getpid());
  fs::remove_all(tmp, ec);
  if (!fs::create_directories(tmp, ec)) {
    return make_error("{}: cannot create directory: {}", tmp, ec.message());
  }
  DirGuard guard{tmp};

  IntExportReport rep;
  rep.arch = arch_name;
  if (opts.hash_source) {
    APEX_ASSIGN_OR_RETURN(rep.source_sha256, sha256_file(opts.gguf_path));
  }

  std::unique_ptr<tbb::global_control> threads;
  if (opts.n_threads > 0) {
    threads = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                    static_cast<size_t>(opts.n_threads));
  }
  APEX_ASSIGN_OR_RETURN(auto writer, st::ShardedWriter::create(tmp, decls, opts.max_shard_bytes,
                                                                {{"format", "pt"}}));
  const uint64_t total = writer->total_tensor_bytes();
  uint64_t done = 0;
  // Gated DeltaNet head layout (Qwen3.5), for undoing the converter's
  // value-head reordering.
  convert::LinearAttnDims lin;
  int64_t inner = 0;
  file->get_int(arch_name + ".ssm.group_count", lin.k_heads);
  file->get_int(arch_name + ".ssm.time_step_rank", lin.v_heads);
  file->get_int(arch_name + ".ssm.state_size", lin.k_dim);
  file->get_int(arch_name + ".ssm.inner_size", inner);
  lin.v_dim = lin.v_heads > 0 ? inner / lin.v_heads : 0;
  Exporter ex(*file, sc, lin);
  for (const Job& j : jobs) {
    TensorReport tr;
    APEX_RETURN_IF_ERROR(ex.run(j, *writer, tr));
    for (const st::TensorDecl& d : decls_of(j, sc)) done += *st::tensor_nbytes(d.dtype, d.shape);
    rep.tensors.push_back(std::move(tr));
    if (opts.progress) opts.progress(done, total, j.name);
  }
  APEX_RETURN_IF_ERROR(writer->finish());
  rep.bytes_written = total;
  rep.n_shards = writer->n_shards();

  APEX_RETURN_IF_ERROR(st::write_text_file((fs::path(tmp) / "config.json").string(), config.dump(2) + "\n"));
  nlohmann::ordered_json prov;
  prov["tool"] = "apex export-int";
  prov["apex_version"] = APEX_VERSION;
  prov["created_utc"] = utc_now();
  std::string general_name;
  file->get_string("general.name", general_name);
  prov["source"] = {{"file", fs::absolute(opts.gguf_path, ec).string()},
                    {"size_bytes", file->file_size()},
                    {"sha256", opts.hash_source ? nlohmann::ordered_json(rep.source_sha256) : nlohmann::ordered_json(nullptr)},
                    {"architecture", arch_name},
                    {"general.name", general_name}};
  prov["quantization"] = {{"format", int_format_name(opts.format)},
                          {"bits", opts.bits},
                          {"group_size", opts.group},
                          {"symmetric", true},
                          {"qmax", sc.qmax()},
                          {"scale", "max|w| / qmax per group, float16 rounded up"},
                          {"rounding", "round half to even"}};
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const TensorReport& t : rep.tensors) {
    tensors.push_back({{"name", t.name},
                       {"source", t.source},
                       {"stored_as", t.dtype},
                       {"max_abs_error", t.max_abs_err},
                       {"mean_abs_error", t.mean_abs_err},
                       {"max_abs_weight", t.max_abs_weight}});
  }
  prov["tensors"] = std::move(tensors);
  APEX_RETURN_IF_ERROR(st::write_text_file((fs::path(tmp) / kProvenanceFileName).string(), prov.dump(2) + "\n"));

  if (fs::exists(out_dir, ec)) {
    return make_error("{}: appeared while exporting; not replaced", opts.out_dir);
  }
  fs::rename(tmp, out_dir, ec);
  if (ec) return make_error("{}: renaming {} to it: {}", opts.out_dir, tmp, ec.message());
  guard.path.clear();
  rep.out_dir = out_dir.string();
  return rep;
}

}  // namespace apex::xport
