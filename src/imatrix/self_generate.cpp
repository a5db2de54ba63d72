#include "imatrix/self_generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/forward.h"
#include "engine/tokenizer/tokenizer.h"

namespace apex::imatrix {
namespace {

// One token from `logits`: the top_k largest (ties: lower id first), softmax
// at `temperature` in double, inverse-CDF with a 53-bit uniform draw.
int32_t sample(const std::vector<float>& logits, int top_k, double temperature, std::mt19937_64& rng) {
  const auto n = static_cast<int64_t>(logits.size());
  const int64_t k = top_k <= 0 ? n : std::min<int64_t>(top_k, n);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), 0);
  auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
  std::vector<double> p(static_cast<size_t>(k));
  const double top = logits[ids[0]];
  double sum = 0;
  for (int64_t i = 0; i < k; ++i) sum += (p[i] = std::exp((logits[ids[i]] - top) / temperature));
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * sum;
  double cdf = 0;
  for (int64_t i = 0; i < k; ++i) {
    cdf += p[i];
    if (u < cdf) return ids[i];
  }
  return ids[k - 1];
}

}  // namespace

Result<std::vector<int32_t>> self_generate(const engine::Model& model, const SelfGenerateOptions& opts,
                                           const GenerateCallback& progress) {
  if (opts.n_tokens < 1) return make_error("imatrix: --self-generate needs a token count > 0");
  if (opts.seq_len < 4) return make_error("imatrix: sequence length {} is too small", opts.seq_len);
  if (!(opts.temperature > 0.0f) || !std::isfinite(opts.temperature)) {
    return make_error("imatrix: temperature must be > 0, got {}", opts.temperature);
  }
  APEX_ASSIGN_OR_RETURN(tok::Tokenizer tk, tok::Tokenizer::from_file(*model.file));
  const int32_t bos = tk.vocab().bos;
  if (bos < 0) return make_error("imatrix: the model's vocabulary has no BOS token to start generating from");
  const int32_t eos = tk.vocab().eos;
  const int64_t n_seq = std::max<int64_t>(2, (opts.n_tokens + opts.seq_len - 1) / opts.seq_len);
  const int64_t total = n_seq * opts.seq_len;

  std::mt19937_64 rng(opts.seed);
  engine::Context ctx(model, opts.seq_len);
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(total));
  std::vector<float> last;
  for (int64_t s = 0; s < n_seq; ++s) {
    ctx.reset();
    int32_t next = bos;
    for (int64_t i = 0; i < opts.seq_len; ++i) {
      out.push_back(next);
      if (i + 1 == opts.seq_len) break;  // the last token needs no successor
      APEX_RETURN_IF_ERROR(ctx.eval(std::span<const int32_t>(&next, 1), nullptr, 1, &last));
      next = sample(last, opts.top_k, opts.temperature, rng);
      if (next == eos) {
        ctx.reset();
        next = bos;
      }
      if (progress) progress(static_cast<int64_t>(out.size()), total);
    }
  }
  if (progress) progress(total, total);
  return out;
}

}  // namespace apex::imatrix
