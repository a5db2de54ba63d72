#include "synth/arch_gptoss.h"

#include <cmath>

#include "synth/synth.h"

namespace apex::synth {

void gptoss_metadata(const Options& o, gguf::Layout& l) {
  auto u32 = [](int64_t v) { return gguf::Value(static_cast<uint32_t>(v)); };
  l.set("gpt-oss.attention.sliding_window", u32(o.sliding_window));
  if (o.yarn_factor > 0.0f) {
    // gpt-oss's config.json: rope_type "yarn", factor 32,
    // original_max_position_embeddings 4096, beta_fast 32, beta_slow 1.
    l.set("gpt-oss.rope.scaling.type", gguf::Value(std::string("yarn")));
    l.set("gpt-oss.rope.scaling.factor", gguf::Value(o.yarn_factor));
    l.set("gpt-oss.rope.scaling.original_context_length", u32(o.yarn_orig_context));
    l.set("gpt-oss.rope.scaling.yarn_beta_fast", gguf::Value(o.yarn_beta_fast));
    l.set("gpt-oss.rope.scaling.yarn_beta_slow", gguf::Value(o.yarn_beta_slow));
  }
}

Status gptoss_validate(const Options& o) {
  if (o.sliding_window < 1 || o.sliding_window > (int64_t{1} << 24)) {
    return make_error("synth: sliding_window {} out of range 1..{}", o.sliding_window,
                      int64_t{1} << 24);
  }
  if (!(o.yarn_factor >= 0.0f) || !std::isfinite(o.yarn_factor)) {
    return make_error("synth: yarn_factor {} must be 0 (no scaling) or positive", o.yarn_factor);
  }
  if (o.yarn_factor > 0.0f) {
    if (o.yarn_orig_context < 1 || o.yarn_orig_context > (int64_t{1} << 24)) {
      return make_error("synth: yarn_orig_context {} out of range 1..{}", o.yarn_orig_context,
                        int64_t{1} << 24);
    }
    if (!(o.yarn_beta_fast > 0.0f) || !(o.yarn_beta_slow > 0.0f) ||
        !std::isfinite(o.yarn_beta_fast) || !std::isfinite(o.yarn_beta_slow)) {
      return make_error("synth: yarn_beta_fast {} and yarn_beta_slow {} must be positive",
                        o.yarn_beta_fast, o.yarn_beta_slow);
    }
  }
  return Status::Ok();
}

}  // namespace apex::synth
