// llama-perplexity's log-probability file (--kl-divergence-base), so files move
// between apex and llama.cpp in both directions. Layout, little-endian:
//
//   char[8]  "_logits_"
//   int32    n_ctx
//   int32    n_vocab
//   int32    n_chunk
//   int32    tokens[n_chunk * n_ctx]   the tokenizer's stream (BOS not applied per chunk)
//   per chunk, per scored position (n_ctx - 1 - n_ctx/2 rows, positions n_ctx/2 .. n_ctx-2):
//     uint16 row[row_words(n_vocab)] = float scale, float min_log_prob,
//                                      uint16 code[n_vocab], one zero pad word when n_vocab is odd
//
// A row stores log-probabilities as log p_i ~= scale * code_i + min_log_prob,
// over a range of at most 16 nats below the most likely token (lower ones
// get code 0), so one code step is at most 16/65535 ~ 2.4e-4 nats.
#pragma once

#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "util/status.h"

namespace apex::eval {

inline constexpr char kLogitsMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

// uint16 words per stored row: two floats, the codes, padded to an even count.
inline int64_t logits_row_words(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }
// Rows stored per chunk: the scored half, as llama-perplexity scores it.
inline int64_t logits_rows_per_chunk(int64_t n_ctx) { return n_ctx - 1 - n_ctx / 2; }

// Encodes one row of logits into `row` (logits_row_words(n_vocab) words) with
// llama-perplexity's float arithmetic; returns -log p(next) as it computes it.
double encode_log_probs(const float* logits, int64_t n_vocab, int32_t next, uint16_t* row);

// Decoded view of one stored row.
struct LogProbRow {
  float scale = 0, min_log_prob = 0;
  const uint16_t* codes = nullptr;
  float log_prob(int64_t i) const { return scale * codes[i] + min_log_prob; }
};
LogProbRow decode_row(const uint16_t* row);

struct LogitsFileHeader {
  int32_t n_ctx = 0, n_vocab = 0, n_chunk = 0;
  std::vector<int32_t> tokens;  // n_chunk * n_ctx
};

// Writes a file chunk by chunk; the header goes out on open.
class LogitsWriter {
 public:
  static Result<LogitsWriter> open(const std::string& path, const LogitsFileHeader& header);
  // The scored rows of one chunk: `logits` holds n_ctx rows of n_vocab, `chunk`
  // the chunk's tokens (the targets of the scored rows).
  Status write_chunk(std::span<const int32_t> chunk, const float* logits);
  Status close();

 private:
  std::string path_;
  LogitsFileHeader header_;
  std::ofstream out_;
  std::vector<uint16_t> rows_;
};

// Reads a file: the header and the size are checked on open, so a truncated
// or mis-sized file is one error before any work is done.
class LogitsReader {
 public:
  static Result<LogitsReader> open(const std::string& path);
  const LogitsFileHeader& header() const { return header_; }
  const std::string& path() const { return path_; }
  // The rows of chunk `c` (chunks are read in order, 0, 1, ...):
  // logits_rows_per_chunk(n_ctx) rows of logits_row_words(n_vocab) words.
  Result<std::span<const uint16_t>> read_chunk(int c);

 private:
  std::string path_;
  LogitsFileHeader header_;
  std::ifstream in_;
  std::vector<uint16_t> rows_;
  int next_chunk_ = 0;
};

}  // namespace apex::eval
