// libFuzzer target for the APEX profile parser and the shapes JSON reader
// (not built by default). Build, e.g.:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -I<build>/generated \
//     tests/fuzz/profile_fuzz.cpp src/plan/*.cpp src/gguf/*.cpp src/quant/*.cpp \
//     <build>/generated/embedded_profiles.cpp -lfmt -lhwy -ltbb -o profile_fuzz
//   ./profile_fuzz data/profiles/
// (the shipped profiles are a good seed corpus).
//
// Properties checked beyond "no crash, no sanitizer report":
// - an error is one line that names the source;
// - a profile that parses gives a tensor-type file for any layer count whose
//   every line parses back as a llama-quantize PATTERN=TYPE item.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "plan/apex_plan.h"
#include "plan/profile.h"
#include "plan/tensor_type_overrides.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto p = apex::plan::parse_profile(text, "fuzz.profile");
  if (!p.ok()) {
    if (p.message().find('\n') != std::string::npos || p.message().rfind("fuzz.profile", 0) != 0) std::abort();
  } else {
    for (int layers : {1, 7, 40}) {
      for (const auto& line : apex::plan::tensor_type_lines(*p, layers)) {
        if (!apex::plan::parse_tensor_type_override(line.pattern + "=" + line.type_text).ok()) std::abort();
      }
    }
  }
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    auto m = apex::plan::parse_shapes_json(j, "fuzz.json");
    if (!m.ok() && m.message().find('\n') != std::string::npos) std::abort();
  }
  return 0;
}
