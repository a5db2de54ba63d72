// The legacy ".dat" imatrix format (see imatrix.h for the layout).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_set>

#include "imatrix/imatrix_io.h"

namespace apex::imatrix {
namespace {

// Bounds-checked little-endian cursor over the whole file; every failure
// names the byte offset so a broken file can be inspected with a hex dump.
class Cursor {
 public:
  Cursor(const std::string& path, const std::vector<char>& bytes) : path_(path), bytes_(bytes) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  Status read_i32(int32_t& out, std::string_view what) {
    if (remaining() < sizeof(out)) {
      return make_error("{}: truncated imatrix file: {} at offset {} needs 4 bytes, {} left", path_,
                        what, pos_, remaining());
    }
    std::memcpy(&out, bytes_.data() + pos_, sizeof(out));
    pos_ += sizeof(out);
    return Status::Ok();
  }

  Status read_bytes(void* out, size_t n, std::string_view what) {
    if (remaining() < n) {
      return make_error("{}: truncated imatrix file: {} at offset {} needs {} bytes, {} left",
                        path_, what, pos_, n, remaining());
    }
    std::memcpy(out, bytes_.data() + pos_, n);
    pos_ += n;
    return Status::Ok();
  }

 private:
  const std::string& path_;
  const std::vector<char>& bytes_;
  size_t pos_ = 0;
};

Result<std::vector<char>> read_whole_file(const std::string& path) {
  // POSIX reads: iostreams throw on some failures (e.g. a directory).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("{}: cannot open imatrix file: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error("{}: not a regular file", path);
  }
  std::vector<char> bytes(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t k = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      const std::string why = k < 0 ? std::strerror(errno) : "file shrank while reading";
      ::close(fd);
      return make_error("{}: read error at offset {}: {}", path, got, why);
    }
    got += static_cast<size_t>(k);
  }
  ::close(fd);
  return bytes;
}

}  // namespace

namespace detail {

Result<Imatrix> load_dat(const std::string& path) {
  APEX_ASSIGN_OR_RETURN(std::vector<char> bytes, read_whole_file(path));
  Cursor cur(path, bytes);
  Imatrix m;
  m.format = Format::kLegacyDat;

  int32_t n_entries = 0;
  if (bytes.size() < sizeof(n_entries)) {
    return make_error("{}: not an imatrix file (neither GGUF nor legacy .dat: {} bytes)", path,
                      bytes.size());
  }
  APEX_RETURN_IF_ERROR(cur.read_i32(n_entries, "entry count"));
  if (n_entries < 1) {
    return make_error("{}: not an imatrix file or no data: entry count {}", path, n_entries);
  }
  // Each entry needs at least 16 bytes (length, 1-byte name, ncall, nval,
  // one value), which rejects absurd counts before allocating.
  if (static_cast<uint64_t>(n_entries) > cur.remaining() / 16) {
    return make_error("{}: entry count {} does not fit in a {}-byte file", path, n_entries,
                      bytes.size());
  }
  m.entries.reserve(static_cast<size_t>(n_entries));
  std::unordered_set<std::string> seen;
  for (int32_t i = 0; i < n_entries; ++i) {
    const size_t entry_offset = cur.offset();
    int32_t len = 0;
    APEX_RETURN_IF_ERROR(cur.read_i32(len, fmt::format("name length of entry {}", i)));
    if (len < 1 || static_cast<size_t>(len) > cur.remaining()) {
      return make_error("{}: entry {} at offset {}: bad name length {}", path, i, entry_offset, len);
    }
    Entry e;
    e.name.resize(static_cast<size_t>(len));
    APEX_RETURN_IF_ERROR(cur.read_bytes(e.name.data(), e.name.size(), "entry name"));
    if (e.name.find('\0') != std::string::npos) {
      return make_error("{}: entry {} at offset {}: name contains a NUL byte", path, i,
                        entry_offset);
    }
    int32_t ncall = 0, nval = 0;
    APEX_RETURN_IF_ERROR(cur.read_i32(ncall, fmt::format("call count of '{}'", e.name)));
    APEX_RETURN_IF_ERROR(cur.read_i32(nval, fmt::format("value count of '{}'", e.name)));
    if (nval < 1 || static_cast<uint64_t>(nval) * sizeof(float) > cur.remaining()) {
      return make_error("{}: entry '{}' at offset {}: value count {} but {} bytes left", path,
                        e.name, entry_offset, nval, cur.remaining());
    }
    e.sums.resize(static_cast<size_t>(nval));
    APEX_RETURN_IF_ERROR(cur.read_bytes(e.sums.data(), e.sums.size() * sizeof(float), "values"));
    e.counts = {ncall};
    if (!seen.insert(e.name).second) {
      return make_error("{}: entry '{}' appears twice (second at offset {})", path, e.name,
                        entry_offset);
    }
    imatrix::compute_values(Format::kLegacyDat, e);
    APEX_RETURN_IF_ERROR(check_finite(path, e));
    m.entries.push_back(std::move(e));
  }

  // The trailer (chunk count, dataset name) is optional: files written by
  // old llama-imatrix versions end right after the entries. A trailer that
  // starts but is cut short is reported rather than half-read.
  if (cur.remaining() > 0) {
    APEX_RETURN_IF_ERROR(cur.read_i32(m.chunk_count, "trailer chunk count"));
    if (cur.remaining() > 0) {
      int32_t len = 0;
      APEX_RETURN_IF_ERROR(cur.read_i32(len, "trailer dataset name length"));
      if (len > 0) {
        std::string dataset(static_cast<size_t>(len), '\0');
        if (static_cast<size_t>(len) > cur.remaining()) {
          return make_error("{}: truncated imatrix file: dataset name of {} bytes at offset {}, {} left",
                            path, len, cur.offset(), cur.remaining());
        }
        APEX_RETURN_IF_ERROR(cur.read_bytes(dataset.data(), dataset.size(), "dataset name"));
        // Upstream keeps the name as a C string: it ends at the first NUL.
        dataset.resize(std::strlen(dataset.c_str()));
        m.datasets.push_back(std::move(dataset));
      }
    }
  }
  m.chunk_size = 0;
  m.reindex();
  return m;
}

}  // namespace detail

namespace {

void put_i32(std::string& out, int32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

}  // namespace

Status save_dat(const Imatrix& m, const std::string& path) {
  std::string out;
  std::vector<const Entry*> stored;
  for (const Entry& e : m.entries) {
    if (m.format == Format::kGguf &&
        std::all_of(e.counts.begin(), e.counts.end(), [](int64_t c) { return c == 0; })) {
      continue;  // llama-imatrix's legacy writer skips entries without any data
    }
    stored.push_back(&e);
  }
  if (m.format == Format::kGguf && m.chunk_size <= 0) {
    return make_error("{}: cannot convert to .dat: the imatrix has no chunk size", path);
  }
  put_i32(out, static_cast<int32_t>(stored.size()));
  for (const Entry* e : stored) {
    if (e->name.empty() || e->sums.empty() || e->counts.empty() ||
        e->sums.size() % e->counts.size() != 0) {
      return make_error("{}: imatrix entry '{}' is malformed ({} values, {} counts)", path, e->name,
                        e->sums.size(), e->counts.size());
    }
    put_i32(out, static_cast<int32_t>(e->name.size()));
    out.append(e->name);
    std::vector<float> values;
    int32_t ncall = 0;
    if (m.format == Format::kLegacyDat) {
      ncall = static_cast<int32_t>(e->counts[0]);
      values = e->sums;
    } else {
      // Same arithmetic as llama-imatrix: a rounded-up call count so that an
      // entry seen in part of one chunk does not get ncall 0, then each mean
      // scaled back up by it.
      const int64_t max_count = *std::max_element(e->counts.begin(), e->counts.end());
      ncall = static_cast<int32_t>((max_count + (m.chunk_size - 1)) / m.chunk_size);
      const size_t ne0 = e->sums.size() / e->counts.size();
      values.resize(e->sums.size());
      for (size_t i = 0; i < values.size(); ++i) {
        float count = static_cast<float>(e->counts[i / ne0]);
        float value = e->sums[i];
        if (count == 0.0f) {
          value = 1.0f;
          count = 1.0f;
        }
        values[i] = (value / count) * static_cast<float>(ncall);
      }
    }
    put_i32(out, ncall);
    put_i32(out, static_cast<int32_t>(values.size()));
    out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  }
  put_i32(out, m.chunk_count);
  const std::string dataset = m.datasets.empty() ? std::string() : m.datasets.back();
  put_i32(out, static_cast<int32_t>(dataset.size()));
  out.append(dataset);

  // Write beside the target and rename, so a failed write never leaves a
  // half-written imatrix under the final name.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return make_error("{}: cannot create: {}", tmp, std::strerror(errno));
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    f.flush();
    if (!f) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return make_error("{}: write failed", tmp);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return make_error("{}: cannot rename {} into place: {}", path, tmp, ec.message());
  }
  return Status::Ok();
}

}  // namespace apex::imatrix
