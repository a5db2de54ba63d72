#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>

#include "engine/forward.h"
#include "engine/tokenizer/tokenizer.h"
#include "eval/logits_file.h"

namespace apex::eval {

void NllSums::add(const float* logits, int64_t n_vocab, int32_t next) {
  float max = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) max = std::max(max, logits[i]);
  double sum_exp = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max);
  const double v = -(logits[next] - max - std::log(sum_exp));
  nll += v;
  nll2 += v * v;
  ++count;
}

double NllSums::ppl() const { return count > 0 ? std::exp(nll / count) : 0.0; }

double NllSums::ppl_stderr() const {
  if (count < 2) return 0.0;
  const double mean = nll / count;
  const double var = nll2 / count - mean * mean;
  return var > 0 ? std::sqrt(var / (count - 1)) * ppl() : 0.0;
}

Result<std::vector<std::vector<int32_t>>> make_chunks(std::span<const int32_t> tokens,
                                                      const PerplexityOptions& opts, int32_t bos) {
  if (opts.n_ctx < 4) return make_error("perplexity: context {} is too small", opts.n_ctx);
  const auto n = static_cast<int64_t>(tokens.size());
  if (n < 2 * opts.n_ctx) {
    return make_error("perplexity: {} tokens, need at least {} (2 x context {})", n,
                      2 * opts.n_ctx, opts.n_ctx);
  }
  int64_t n_chunks = n / opts.n_ctx;
  if (opts.n_chunks >= 0) n_chunks = std::min<int64_t>(n_chunks, opts.n_chunks);
  std::vector<std::vector<int32_t>> chunks;
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + c * opts.n_ctx, tokens.begin() + (c + 1) * opts.n_ctx);
    if (bos >= 0) chunk[0] = bos;
    chunks.push_back(std::move(chunk));
  }
  return chunks;
}

void score_chunk(const std::vector<int32_t>& chunk, const float* logits, int64_t n_vocab,
                 NllSums& sums) {
  const auto n_ctx = static_cast<int64_t>(chunk.size());
  // Note: the scored targets are the chunk's own tokens; a BOS written into
  // position 0 is never a target.
  for (int64_t i = n_ctx / 2; i < n_ctx - 1; ++i) sums.add(logits + i * n_vocab, n_vocab, chunk[i + 1]);
}

int32_t chunk_bos(const engine::Model& model) {
  const engine::ModelConfig& c = model.config;
  auto tk = tok::Tokenizer::from_file(*model.file);
  return tk && tk->vocab().add_bos ? tk->vocab().bos : (!tk && c.add_bos ? c.bos_id : -1);
}

Result<PerplexityResult> perplexity(const engine::Model& model, std::span<const int32_t> tokens,
                                    const PerplexityOptions& opts, const ChunkCallback& on_chunk) {
  const engine::ModelConfig& c = model.config;
  auto chunks = make_chunks(tokens, opts, chunk_bos(model));
  if (!chunks) return chunks.error();
  std::optional<LogitsWriter> writer;
  if (!opts.save_logits.empty()) {
    // The header holds the stream as tokenized (BOS not applied per chunk).
    LogitsFileHeader h;
    h.n_ctx = static_cast<int32_t>(opts.n_ctx);
    h.n_vocab = static_cast<int32_t>(c.n_vocab);
    h.n_chunk = static_cast<int32_t>(chunks->size());
    h.tokens.assign(tokens.begin(), tokens.begin() + static_cast<ptrdiff_t>(chunks->size() * opts.n_ctx));
    auto w = LogitsWriter::open(opts.save_logits, h);
    if (!w) return w.error();
    writer.emplace(std::move(*w));
  }
  PerplexityResult r;
  r.n_ctx = opts.n_ctx;
  r.n_chunks = static_cast<int>(chunks->size());
  NllSums sums;
  engine::Context ctx(model, opts.n_ctx);
  std::vector<float> logits;
  for (size_t i = 0; i < chunks->size(); ++i) {
    ctx.reset();
    if (Status s = ctx.eval((*chunks)[i], &logits, opts.n_batch); !s) return s.error();
    score_chunk((*chunks)[i], logits.data(), c.n_vocab, sums);
    if (writer) APEX_RETURN_IF_ERROR(writer->write_chunk((*chunks)[i], logits.data()));
    r.running_ppl.push_back(sums.ppl());
    if (on_chunk) on_chunk(static_cast<int>(i) + 1, sums.ppl());
  }
  if (writer) APEX_RETURN_IF_ERROR(writer->close());
  r.n_scored = sums.count;
  r.ppl = sums.ppl();
  r.ppl_stderr = sums.ppl_stderr();
  r.mean_nll = sums.count > 0 ? sums.nll / sums.count : 0.0;
  return r;
}

Result<PerplexityResult> perplexity_text(const engine::Model& model, const std::string& text,
                                         const PerplexityOptions& opts, const ChunkCallback& on_chunk) {
  auto tk = tok::Tokenizer::from_file(*model.file);
  if (!tk) return tk.error();
  const std::vector<int32_t> tokens = tk->tokenize(text, /*add_special=*/true, /*parse_special=*/false);
  return perplexity(model, tokens, opts, on_chunk);
}

Result<std::vector<int32_t>> read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("{}: cannot open token file", path);
  std::vector<int32_t> out;
  long long v = 0;
  while (in >> v) out.push_back(static_cast<int32_t>(v));
  if (!in.eof()) return make_error("{}: not a list of integer token ids (after {} ids)", path, out.size());
  return out;
}

nlohmann::json to_json(const PerplexityResult& r) {
  return {{"n_ctx", r.n_ctx},     {"chunks", r.n_chunks},    {"scored_tokens", r.n_scored},
          {"ppl", r.ppl},         {"ppl_stderr", r.ppl_stderr}, {"mean_nll", r.mean_nll},
          {"running_ppl", r.running_ppl}};
}

}  // namespace apex::eval
