#include "eval/logits_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "quant/rounding.h"

namespace apex::eval {

double encode_log_probs(const float* logits, int64_t n_vocab, int32_t next, uint16_t* row) {
  float max = logits[0], min = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) {
    max = std::max(max, logits[i]);
    min = std::min(min, logits[i]);
  }
  // Only the top 16 nats are kept: exp(-16) ~ 1e-7 is below what KLD sums notice.
  min = std::max(min, max - 16);
  double sum_exp = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max);  // float exp, double sum
  const float log_sum_exp = static_cast<float>(std::log(sum_exp));
  const float min_log_prob = min - max - log_sum_exp;
  const float scale = (max - min) / 65535.f;
  std::memcpy(row, &scale, sizeof(float));
  std::memcpy(row + 2, &min_log_prob, sizeof(float));
  uint16_t* codes = row + 4;
  if (scale != 0) {
    const float inv_scale = 1 / scale;
    for (int64_t i = 0; i < n_vocab; ++i) {
      codes[i] = logits[i] > min ? static_cast<uint16_t>(quant::nearest_int(inv_scale * (logits[i] - min))) : 0;
    }
  } else {
    std::fill(codes, codes + n_vocab, uint16_t{0});
  }
  if (n_vocab % 2 != 0) codes[n_vocab] = 0;
  const float nll = max + log_sum_exp - logits[next];
  return nll;
}

LogProbRow decode_row(const uint16_t* row) {
  LogProbRow r;
  std::memcpy(&r.scale, row, sizeof(float));
  std::memcpy(&r.min_log_prob, row + 2, sizeof(float));
  r.codes = row + 4;
  return r;
}

Result<LogitsWriter> LogitsWriter::open(const std::string& path, const LogitsFileHeader& header) {
  LogitsWriter w;
  w.path_ = path;
  w.header_ = header;
  w.out_.open(path, std::ios::binary | std::ios::trunc);
  if (!w.out_) return make_error("{}: cannot open for writing", path);
  w.out_.write(kLogitsMagic, sizeof(kLogitsMagic));
  w.out_.write(reinterpret_cast<const char*>(&header.n_ctx), sizeof(int32_t));
  w.out_.write(reinterpret_cast<const char*>(&header.n_vocab), sizeof(int32_t));
  w.out_.write(reinterpret_cast<const char*>(&header.n_chunk), sizeof(int32_t));
  w.out_.write(reinterpret_cast<const char*>(header.tokens.data()),
               static_cast<std::streamsize>(header.tokens.size() * sizeof(int32_t)));
  if (!w.out_) return make_error("{}: write failed", path);
  w.rows_.assign(static_cast<size_t>(logits_rows_per_chunk(header.n_ctx) * logits_row_words(header.n_vocab)), 0);
  return w;
}

Status LogitsWriter::write_chunk(std::span<const int32_t> chunk, const float* logits) {
  const int64_t n_ctx = header_.n_ctx, n_vocab = header_.n_vocab, words = logits_row_words(n_vocab);
  const int64_t first = n_ctx / 2;
  for (int64_t i = first; i < n_ctx - 1; ++i) {
    encode_log_probs(logits + i * n_vocab, n_vocab, chunk[static_cast<size_t>(i + 1)],
                     rows_.data() + (i - first) * words);
  }
  out_.write(reinterpret_cast<const char*>(rows_.data()), static_cast<std::streamsize>(rows_.size() * sizeof(uint16_t)));
  if (!out_) return make_error("{}: write failed", path_);
  return Status::Ok();
}

Status LogitsWriter::close() {
  out_.close();
  if (!out_) return make_error("{}: write failed", path_);
  return Status::Ok();
}

Result<LogitsReader> LogitsReader::open(const std::string& path) {
  LogitsReader r;
  r.path_ = path;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return make_error("{}: cannot open base logits file", path);
  r.in_.open(path, std::ios::binary);
  if (!r.in_) return make_error("{}: cannot open base logits file", path);
  char magic[8] = {};
  int32_t dims[3] = {};
  r.in_.read(magic, sizeof(magic));
  r.in_.read(reinterpret_cast<char*>(dims), sizeof(dims));
  if (!r.in_ || std::memcmp(magic, kLogitsMagic, sizeof(magic)) != 0) {
    return make_error("{}: not a llama-perplexity logits file (no '_logits_' header)", path);
  }
  auto& h = r.header_;
  h.n_ctx = dims[0];
  h.n_vocab = dims[1];
  h.n_chunk = dims[2];
  if (h.n_ctx < 4 || h.n_vocab < 1 || h.n_chunk < 1) {
    return make_error("{}: bad header (n_ctx {}, n_vocab {}, n_chunk {})", path, h.n_ctx, h.n_vocab, h.n_chunk);
  }
  const uint64_t n_tokens = static_cast<uint64_t>(h.n_ctx) * static_cast<uint64_t>(h.n_chunk);
  const uint64_t chunk_bytes = static_cast<uint64_t>(logits_rows_per_chunk(h.n_ctx)) *
                               static_cast<uint64_t>(logits_row_words(h.n_vocab)) * sizeof(uint16_t);
  const uint64_t expected = 20 + n_tokens * sizeof(int32_t) + chunk_bytes * static_cast<uint64_t>(h.n_chunk);
  if (size < expected) {
    return make_error("{}: truncated: {} bytes, the header (n_ctx {}, n_vocab {}, {} chunks) needs {}", path, size,
                      h.n_ctx, h.n_vocab, h.n_chunk, expected);
  }
  if (size > expected) {
    return make_error("{}: {} bytes, the header (n_ctx {}, n_vocab {}, {} chunks) needs exactly {}", path, size,
                      h.n_ctx, h.n_vocab, h.n_chunk, expected);
  }
  h.tokens.resize(n_tokens);
  r.in_.read(reinterpret_cast<char*>(h.tokens.data()), static_cast<std::streamsize>(n_tokens * sizeof(int32_t)));
  if (!r.in_) return make_error("{}: cannot read the token ids", path);
  for (size_t i = 0; i < h.tokens.size(); ++i) {
    if (h.tokens[i] < 0 || h.tokens[i] >= h.n_vocab) {
      return make_error("{}: token {} at position {} is outside the vocabulary of {}", path, h.tokens[i], i, h.n_vocab);
    }
  }
  r.rows_.resize(chunk_bytes / sizeof(uint16_t));
  return r;
}

Result<std::span<const uint16_t>> LogitsReader::read_chunk(int c) {
  if (c != next_chunk_) return make_error("{}: chunk {} read out of order (next is {})", path_, c, next_chunk_);
  in_.read(reinterpret_cast<char*>(rows_.data()), static_cast<std::streamsize>(rows_.size() * sizeof(uint16_t)));
  if (!in_) return make_error("{}: cannot read the log-probabilities of chunk {}", path_, c);
  ++next_chunk_;
  return std::span<const uint16_t>(rows_);
}

}  // namespace apex::eval
