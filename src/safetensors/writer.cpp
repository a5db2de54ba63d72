// safetensors writer. Tensors are declared up front so the header (which
// holds every offset) can be written first; then bytes stream in declaration
// order and a large tensor never has to be in memory at once. Like the GGUF
// writer, output goes to a temp file beside the target that is renamed only
// when complete, and is registered for removal on Ctrl-C.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_set>

#include "safetensors/safetensors.h"
#include "util/temp_files.h"

namespace apex::st {

namespace {

constexpr size_t kBufferBytes = size_t{1} << 20;

// Opens a fresh temp file beside `path` (same directory, so rename is atomic).
Result<int> create_temp(const std::string& path, std::string& temp_path) {
  std::random_device rd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    temp_path = fmt::format("{}.tmp.{}.{:08x}", path, getpid(), rd());
    const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      register_temp_file(temp_path);
      return fd;
    }
    if (errno != EEXIST) {
      return make_error("{}: cannot create temp file {}: {}", path, temp_path, std::strerror(errno));
    }
  }
  return make_error("{}: cannot find a free temp file name", path);
}

Status write_fd(int fd, const uint8_t* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t k = ::write(fd, data, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return make_error("{}: write error: {}", path, std::strerror(errno));
    }
    data += k;
    n -= static_cast<size_t>(k);
  }
  return Status::Ok();
}

// fsync, close and rename; the temp file is removed on any failure.
Status commit_temp(int fd, const std::string& temp_path, const std::string& path) {
  std::string err;
  if (::fsync(fd) != 0) err = fmt::format("fsync {}: {}", temp_path, std::strerror(errno));
  if (::close(fd) != 0 && err.empty()) err = fmt::format("closing {}: {}", temp_path, std::strerror(errno));
  if (err.empty() && ::rename(temp_path.c_str(), path.c_str()) != 0) {
    err = fmt::format("renaming {} to it: {}", temp_path, std::strerror(errno));
  }
  if (!err.empty()) ::unlink(temp_path.c_str());
  unregister_temp_file(temp_path);
  if (!err.empty()) return make_error("{}: {}", path, err);
  return Status::Ok();
}

}  // namespace

Result<std::vector<uint8_t>> serialize_header(const std::vector<TensorDecl>& tensors,
                                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    header[kMetadataKey] = std::move(md);
  }
  std::unordered_set<std::string_view> seen;
  uint64_t offset = 0;
  for (const TensorDecl& t : tensors) {
    if (t.name.empty()) return make_error("tensor with an empty name");
    if (t.name == kMetadataKey) return make_error("'{}' is reserved, not a tensor name", t.name);
    if (!seen.insert(t.name).second) return make_error("tensor '{}' declared twice", t.name);
    auto nbytes = tensor_nbytes(t.dtype, t.shape);
    if (!nbytes.ok()) return make_error("tensor '{}': {}", t.name, nbytes.message());
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = dtype_name(t.dtype);
    entry["shape"] = t.shape;
    entry["data_offsets"] = {offset, offset + *nbytes};
    header[t.name] = std::move(entry);
    offset += *nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception&) {
    return make_error("a tensor name or metadata string is not valid UTF-8");
  }
  // Pad with spaces (valid JSON whitespace) so the data area, at 8 + length,
  // starts 8-byte aligned, as the reference writer does.
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  if (text.size() > kMaxHeaderBytes) {
    return make_error("header of {} bytes exceeds the {} byte limit", text.size(), kMaxHeaderBytes);
  }
  std::vector<uint8_t> out(8 + text.size());
  const uint64_t len = text.size();
  std::memcpy(out.data(), &len, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  return out;
}

// ---- Writer ----

Result<std::unique_ptr<Writer>> Writer::create(const std::string& path,
                                               std::vector<TensorDecl> tensors,
                                               std::map<std::string, std::string> metadata) {
  auto header = serialize_header(tensors, metadata);
  if (!header.ok()) return make_error("{}: {}", path, header.message());
  std::unique_ptr<Writer> w(new Writer());
  w->path_ = path;
  w->tensors_ = std::move(tensors);
  w->total_bytes_ = header->size();
  for (const TensorDecl& t : w->tensors_) {
    w->sizes_.push_back(*tensor_nbytes(t.dtype, t.shape));
    w->total_bytes_ += w->sizes_.back();
  }
  APEX_ASSIGN_OR_RETURN(w->fd_, create_temp(path, w->temp_path_));
  w->buffer_.reserve(kBufferBytes);
  APEX_RETURN_IF_ERROR(w->write_all(header->data(), header->size()));
  return w;
}

Writer::~Writer() {
  if (!finished_) discard();
}

void Writer::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(temp_path_.c_str());
    unregister_temp_file(temp_path_);
  }
}

Status Writer::fail(std::string message) {
  if (failed_.empty()) failed_ = std::move(message);
  discard();
  return Error{failed_};
}

Status Writer::flush_buffer() {
  if (buffer_.empty()) return Status::Ok();
  auto st = write_fd(fd_, buffer_.data(), buffer_.size(), temp_path_);
  buffer_.clear();
  if (!st.ok()) return fail(fmt::format("{}: {}", path_, st.message()));
  return Status::Ok();
}

Status Writer::write_all(const uint8_t* data, size_t n) {
  if (!failed_.empty()) return Error{failed_};
  if (buffer_.size() + n > kBufferBytes) {
    APEX_RETURN_IF_ERROR(flush_buffer());
    if (n >= kBufferBytes) {
      auto st = write_fd(fd_, data, n, temp_path_);
      if (!st.ok()) return fail(fmt::format("{}: {}", path_, st.message()));
      return Status::Ok();
    }
  }
  buffer_.insert(buffer_.end(), data, data + n);
  return Status::Ok();
}

Status Writer::write(std::span<const uint8_t> bytes) {
  if (!failed_.empty()) return Error{failed_};
  if (bytes.empty()) return Status::Ok();
  if (finished_ || current_ >= tensors_.size()) {
    return fail(fmt::format("{}: write after the last tensor", path_));
  }
  if (written_in_current_ + bytes.size() > sizes_[current_]) {
    return fail(fmt::format("{}: tensor '{}' gets more than its {} bytes", path_,
                            tensors_[current_].name, sizes_[current_]));
  }
  APEX_RETURN_IF_ERROR(write_all(bytes.data(), bytes.size()));
  written_in_current_ += bytes.size();
  return Status::Ok();
}

Status Writer::end_tensor() {
  if (!failed_.empty()) return Error{failed_};
  if (current_ >= tensors_.size()) return fail(fmt::format("{}: end_tensor after the last tensor", path_));
  if (written_in_current_ != sizes_[current_]) {
    return fail(fmt::format("{}: tensor '{}' ended after {} of its {} bytes", path_,
                            tensors_[current_].name, written_in_current_, sizes_[current_]));
  }
  ++current_;
  written_in_current_ = 0;
  return Status::Ok();
}

Status Writer::write_tensor(std::span<const uint8_t> bytes) {
  APEX_RETURN_IF_ERROR(write(bytes));
  return end_tensor();
}

Status Writer::finish() {
  if (!failed_.empty()) return Error{failed_};
  if (current_ != tensors_.size()) {
    return fail(fmt::format("{}: finish with tensor '{}' not written", path_,
                            tensors_[current_].name));
  }
  APEX_RETURN_IF_ERROR(flush_buffer());
  const int fd = fd_;
  fd_ = -1;
  finished_ = true;
  return commit_temp(fd, temp_path_, path_);
}

// ---- ShardedWriter ----

Result<std::unique_ptr<ShardedWriter>> ShardedWriter::create(
    const std::string& dir, std::vector<TensorDecl> tensors, uint64_t max_shard_bytes,
    std::map<std::string, std::string> metadata) {
  if (max_shard_bytes == 0) return make_error("{}: shard size must be positive", dir);
  // Validate names and shapes once for the whole checkpoint.
  auto header = serialize_header(tensors, {});
  if (!header.ok()) return make_error("{}: {}", dir, header.message());
  auto w = std::make_unique<ShardedWriter>();
  w->dir_ = dir;
  w->metadata_ = std::move(metadata);
  // Greedy split in declaration order: a shard closes when the next tensor
  // would push it past the limit (as transformers' save_pretrained does).
  size_t n_shards = 0;
  uint64_t in_shard = 0;
  for (const TensorDecl& t : tensors) {
    const uint64_t n = *tensor_nbytes(t.dtype, t.shape);
    if (n_shards == 0 || (in_shard > 0 && in_shard + n > max_shard_bytes)) {
      ++n_shards;
      in_shard = 0;
    }
    in_shard += n;
    w->total_tensor_bytes_ += n;
    w->shard_of_.push_back(n_shards - 1);
  }
  if (n_shards == 0) n_shards = 1;
  for (size_t i = 0; i < n_shards; ++i) {
    w->shard_files_.push_back(n_shards == 1 ? std::string(kSingleFileName)
                                            : fmt::format("model-{:05d}-of-{:05d}.safetensors",
                                                          i + 1, n_shards));
  }
  w->tensors_ = std::move(tensors);
  APEX_RETURN_IF_ERROR(w->open_shard(0));
  return w;
}

Status ShardedWriter::open_shard(size_t shard) {
  if (writer_) APEX_RETURN_IF_ERROR(writer_->finish());
  std::vector<TensorDecl> decls;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (shard_of_[i] == shard) decls.push_back(tensors_[i]);
  }
  // Every shard carries the metadata plus the customary {"format": "pt"}
  // that transformers expects in a checkpoint's files.
  std::map<std::string, std::string> md = metadata_;
  md.emplace("format", "pt");
  APEX_ASSIGN_OR_RETURN(writer_, Writer::create((std::filesystem::path(dir_) / shard_files_[shard]).string(),
                                                std::move(decls), std::move(md)));
  open_shard_ = shard;
  return Status::Ok();
}

Status ShardedWriter::write(std::span<const uint8_t> bytes) {
  if (current_ >= tensors_.size()) return make_error("{}: write after the last tensor", dir_);
  if (shard_of_[current_] != open_shard_) APEX_RETURN_IF_ERROR(open_shard(shard_of_[current_]));
  return writer_->write(bytes);
}

Status ShardedWriter::end_tensor() {
  if (current_ >= tensors_.size()) return make_error("{}: end_tensor after the last tensor", dir_);
  if (shard_of_[current_] != open_shard_) APEX_RETURN_IF_ERROR(open_shard(shard_of_[current_]));
  APEX_RETURN_IF_ERROR(writer_->end_tensor());
  ++current_;
  return Status::Ok();
}

Status ShardedWriter::write_tensor(std::span<const uint8_t> bytes) {
  APEX_RETURN_IF_ERROR(write(bytes));
  return end_tensor();
}

Status ShardedWriter::finish() {
  if (current_ != tensors_.size()) {
    return make_error("{}: finish with tensor '{}' not written", dir_, tensors_[current_].name);
  }
  APEX_RETURN_IF_ERROR(writer_->finish());
  writer_.reset();
  if (shard_files_.size() == 1) return Status::Ok();
  nlohmann::ordered_json index;
  nlohmann::ordered_json md = nlohmann::ordered_json::object();
  md["total_size"] = total_tensor_bytes_;
  for (const auto& [k, v] : metadata_) md[k] = v;
  index["metadata"] = std::move(md);
  // transformers writes the weight map sorted by name.
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors_[a].name < tensors_[b].name; });
  nlohmann::ordered_json wm = nlohmann::ordered_json::object();
  for (size_t i : order) wm[tensors_[i].name] = shard_files_[shard_of_[i]];
  index["weight_map"] = std::move(wm);
  return write_text_file((std::filesystem::path(dir_) / kIndexFileName).string(),
                         index.dump(2) + "\n");
}

Status write_text_file(const std::string& path, std::string_view text) {
  std::string temp_path;
  APEX_ASSIGN_OR_RETURN(const int fd, create_temp(path, temp_path));
  auto st = write_fd(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), temp_path);
  if (!st.ok()) {
    ::close(fd);
    ::unlink(temp_path.c_str());
    unregister_temp_file(temp_path);
    return make_error("{}: {}", path, st.message());
  }
  return commit_temp(fd, temp_path, path);
}

}  // namespace apex::st
