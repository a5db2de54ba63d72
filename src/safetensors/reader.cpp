// safetensors reader: maps the file read-only and validates the header up
// front, so a File that opened can be trusted (every tensor's bytes inside
// the data area, sizes matching dtype and shape). Hostile input ends in a
// one-line error naming the file and tensor, never in a crash or a huge
// allocation: the header length is checked against the file and a fixed
// limit before anything is read, and JSON nesting is cut off early.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "quant/fp16.h"
#include "safetensors/safetensors.h"

namespace apex::st {

static_assert(std::endian::native == std::endian::little, "apex reads safetensors in host byte order");

namespace {

struct DTypeRow {
  DType dtype;
  const char* name;
  size_t bytes;
};
// The dtypes of the safetensors format (huggingface/safetensors Dtype).
constexpr DTypeRow kDTypes[] = {
    {DType::BOOL, "BOOL", 1},       {DType::U8, "U8", 1},    {DType::I8, "I8", 1},
    {DType::F8_E5M2, "F8_E5M2", 1}, {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::I16, "I16", 2},         {DType::U16, "U16", 2},  {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},       {DType::I32, "I32", 4},  {DType::U32, "U32", 4},
    {DType::F32, "F32", 4},         {DType::F64, "F64", 8},  {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},
};

const DTypeRow& row(DType d) {
  for (const DTypeRow& r : kDTypes) {
    if (r.dtype == d) return r;
  }
  return kDTypes[0];  // unreachable: every enumerator has a row
}

// Names from the file go into one-line messages: escape control bytes, cut long ones.
std::string printable(std::string_view s) {
  constexpr size_t kMaxShown = 80;
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == kMaxShown) {
      out += fmt::format("...({} bytes)", s.size());
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Thrown from the parser callback to stop a deeply nested document before it
// is built (nlohmann::json parses iteratively, but a 100 MB "[[[[..." would
// still cost gigabytes of nodes).
struct TooDeep {};

Result<nlohmann::json> parse_json(std::string_view text, const std::string& what) {
  try {
    nlohmann::json::parser_callback_t limit = [](int depth, nlohmann::json::parse_event_t,
                                                 nlohmann::json&) {
      if (depth > kMaxJsonDepth) throw TooDeep{};
      return true;
    };
    return nlohmann::json::parse(text.begin(), text.end(), limit);
  } catch (const TooDeep&) {
    return make_error("{}: JSON nested deeper than {} levels", what, kMaxJsonDepth);
  } catch (const nlohmann::json::exception& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    return make_error("{}: invalid JSON: {}", what, msg);
  }
}

bool read_u64(const nlohmann::json& v, uint64_t& out) {
  if (!v.is_number_unsigned()) {
    // A non-negative integer may parse as number_integer only if negative;
    // floats ("1.0") are refused like the reference implementation does.
    return false;
  }
  out = v.get<uint64_t>();
  return true;
}

}  // namespace

const char* dtype_name(DType d) { return row(d).name; }
size_t dtype_bytes(DType d) { return row(d).bytes; }
bool is_float(DType d) {
  return d == DType::F16 || d == DType::BF16 || d == DType::F32 || d == DType::F64;
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DTypeRow& r : kDTypes) {
    if (name == r.name) return r.dtype;
  }
  return std::nullopt;
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<uint64_t> tensor_nbytes(DType dtype, std::span<const int64_t> shape) {
  if (shape.size() > static_cast<size_t>(kMaxDims)) {
    return make_error("{} dims (at most {})", shape.size(), kMaxDims);
  }
  uint64_t n = dtype_bytes(dtype);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) return make_error("shape[{}] = {} is negative", i, shape[i]);
    const auto d = static_cast<uint64_t>(shape[i]);
    if (d != 0 && n > UINT64_MAX / d) return make_error("shape overflows 64-bit byte count");
    n *= d;
  }
  // Keep byte counts usable as int64/size_t/off_t everywhere downstream.
  if (n > (uint64_t{1} << 62)) return make_error("shape too large ({} bytes)", n);
  return n;
}

File::~File() {
  if (map_ != nullptr) munmap(const_cast<uint8_t*>(map_), size_);
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<File>> File::open(const std::string& path) {
  std::unique_ptr<File> f(new File());
  f->path_ = path;
  f->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd_ < 0) return make_error("{}: cannot open: {}", path, std::strerror(errno));
  struct stat sb {};
  if (fstat(f->fd_, &sb) != 0) return make_error("{}: cannot stat: {}", path, std::strerror(errno));
  if (!S_ISREG(sb.st_mode)) return make_error("{}: not a regular file", path);
  f->size_ = static_cast<uint64_t>(sb.st_size);
  if (f->size_ < 8) {
    return make_error("{}: {} bytes, too short for a safetensors header length", path, f->size_);
  }
  void* m = mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, f->fd_, 0);
  if (m == MAP_FAILED) return make_error("{}: cannot mmap: {}", path, std::strerror(errno));
  f->map_ = static_cast<const uint8_t*>(m);

  uint64_t header_len = 0;
  std::memcpy(&header_len, f->map_, 8);
  if (header_len > kMaxHeaderBytes) {
    return make_error("{}: header length {} exceeds the {} byte limit", path, header_len,
                      kMaxHeaderBytes);
  }
  if (header_len > f->size_ - 8) {
    return make_error("{}: header length {} runs past the end of the file ({} bytes)", path,
                      header_len, f->size_);
  }
  if (header_len < 2 || f->map_[8] != '{') {
    return make_error("{}: header does not start with a JSON object", path);
  }
  f->data_offset_ = 8 + header_len;
  const uint64_t data_size = f->size_ - f->data_offset_;
  const std::string_view text(reinterpret_cast<const char*>(f->map_ + 8), header_len);
  APEX_ASSIGN_OR_RETURN(nlohmann::json header, parse_json(text, path + ": header"));
  if (!header.is_object()) return make_error("{}: header is not a JSON object", path);

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == kMetadataKey) {
      if (!v.is_object()) return make_error("{}: __metadata__ is not an object", path);
      for (auto m_it = v.begin(); m_it != v.end(); ++m_it) {
        if (!m_it.value().is_string()) {
          return make_error("{}: __metadata__ value of '{}' is not a string", path,
                            printable(m_it.key()));
        }
        f->metadata_[m_it.key()] = m_it.value().get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", path, printable(name));
    if (name.empty()) return make_error("{}: empty tensor name", path);
    if (!v.is_object()) return make_error("{}: entry is not an object", where);
    const auto dt = v.find("dtype");
    const auto sh = v.find("shape");
    const auto off = v.find("data_offsets");
    if (dt == v.end() || sh == v.end() || off == v.end()) {
      return make_error("{}: needs dtype, shape and data_offsets", where);
    }
    TensorInfo t;
    t.name = name;
    if (!dt->is_string()) return make_error("{}: dtype is not a string", where);
    const auto dtype = parse_dtype(dt->get<std::string>());
    if (!dtype) {
      return make_error("{}: unknown dtype '{}'", where, printable(dt->get<std::string>()));
    }
    t.dtype = *dtype;
    if (!sh->is_array()) return make_error("{}: shape is not an array", where);
    if (sh->size() > static_cast<size_t>(kMaxDims)) {
      return make_error("{}: {} dims (at most {})", where, sh->size(), kMaxDims);
    }
    for (const nlohmann::json& d : *sh) {
      uint64_t dim = 0;
      if (!read_u64(d, dim) || dim > static_cast<uint64_t>(INT64_MAX)) {
        return make_error("{}: shape holds '{}', not a non-negative integer", where,
                          printable(d.dump()));
      }
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!off->is_array() || off->size() != 2 || !read_u64((*off)[0], t.begin) ||
        !read_u64((*off)[1], t.end)) {
      return make_error("{}: data_offsets is not [begin, end]", where);
    }
    if (t.begin > t.end) {
      return make_error("{}: data_offsets begin {} > end {}", where, t.begin, t.end);
    }
    if (t.end > data_size) {
      return make_error("{}: data_offsets end {} past the data area ({} bytes)", where, t.end,
                        data_size);
    }
    auto nbytes = tensor_nbytes(t.dtype, t.shape);
    if (!nbytes.ok()) return make_error("{}: {}", where, nbytes.message());
    if (*nbytes != t.end - t.begin) {
      return make_error("{}: data_offsets span {} bytes, but {} {} needs {}", where,
                        t.end - t.begin, dtype_name(t.dtype),
                        fmt::format("[{}]", fmt::join(t.shape, ", ")), *nbytes);
    }
    f->tensors_.push_back(std::move(t));
  }

  std::sort(f->tensors_.begin(), f->tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // The reference implementation requires the tensors to tile the data area
  // exactly: no overlap (two names aliasing bytes), no hole, nothing after.
  uint64_t expected = 0;
  for (const TensorInfo& t : f->tensors_) {
    if (t.begin < expected) {
      return make_error("{}: tensor '{}' overlaps the previous tensor (begins at {}, previous ends at {})",
                        path, printable(t.name), t.begin, expected);
    }
    if (t.begin > expected) {
      return make_error("{}: tensor '{}' leaves a hole in the data area ({} unused bytes before it)",
                        path, printable(t.name), t.begin - expected);
    }
    expected = t.end;
  }
  if (expected != data_size) {
    return make_error("{}: data area holds {} bytes but the tensors cover {}", path, data_size,
                      expected);
  }
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->index_[f->tensors_[i].name] = i;
  return f;
}

const TensorInfo* File::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> File::tensor_data(const TensorInfo& t) const {
  return {map_ + data_offset_ + t.begin, static_cast<size_t>(t.nbytes())};
}

void File::release(const TensorInfo& t) const {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t begin = (data_offset_ + t.begin) / page * page;
  const uint64_t end = data_offset_ + t.end;
  if (end > begin) {
    madvise(const_cast<uint8_t*>(map_) + begin, end - begin, MADV_DONTNEED);
  }
}

Status to_f32(DType dtype, std::span<const uint8_t> bytes, std::span<float> out) {
  if (!is_float(dtype)) return make_error("dtype {} is not a float type", dtype_name(dtype));
  if (bytes.size() != out.size() * dtype_bytes(dtype)) {
    return make_error("{} bytes for {} {} values", bytes.size(), out.size(), dtype_name(dtype));
  }
  const uint8_t* p = bytes.data();
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype) {
      case DType::F16: {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = quant::fp16_to_fp32(h);
        break;
      }
      case DType::BF16: {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = quant::bf16_to_fp32(h);
        break;
      }
      case DType::F32: std::memcpy(&out[i], p + 4 * i, 4); break;
      default: {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<float>(d);
        break;
      }
    }
  }
  return Status::Ok();
}

}  // namespace apex::st
