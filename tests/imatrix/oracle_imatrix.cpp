#include "imatrix/oracle_imatrix.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "oracle/oracle.h"

namespace apex::oracle {
namespace {

using LoadFn = bool (*)(const std::string&, CommonImatrix&);

LoadFn load_fn() {
  static LoadFn fn = [] {
    // Loading the base library through the oracle first installs its quiet
    // logger, so probing a .dat as GGUF does not print upstream's warning.
    gguf_api("gguf_init_from_file");
    const std::string path = library_dir() + "/libllama-common.so";
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (lib == nullptr) {
      std::fprintf(stderr, "oracle: cannot load %s: %s\n", path.c_str(), dlerror());
      std::abort();
    }
    // Mangled name of bool common_imatrix_load(const std::string&, common_imatrix&).
    void* p = dlsym(lib, "_Z19common_imatrix_loadRKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEER14common_imatrix");
    if (p == nullptr) {
      std::fprintf(stderr, "oracle: common_imatrix_load not found in %s\n", path.c_str());
      std::abort();
    }
    return reinterpret_cast<LoadFn>(p);
  }();
  return fn;
}

}  // namespace

bool imatrix_load(const std::string& path, CommonImatrix& out) { return load_fn()(path, out); }

std::unordered_map<std::string, std::vector<float>> quantize_imatrix_data(const CommonImatrix& m) {
  // Restated from quantize.cpp's load_imatrix (the tool is not in the oracle
  // libraries); kept deliberately literal so it can be checked by eye.
  std::unordered_map<std::string, std::vector<float>> out;
  for (const auto& [name, entry] : m.entries) {
    std::vector<float>& e = out[name];
    e.resize(entry.sums.size());
    if (!m.is_legacy) {
      const int64_t ncounts = static_cast<int64_t>(entry.counts.size());
      const int64_t ne0 = static_cast<int64_t>(entry.sums.size()) / ncounts;
      for (int64_t j = 0; j < ncounts; ++j) {
        const float count = static_cast<float>(entry.counts[j]);
        for (int64_t i = 0; i < ne0; ++i) {
          e[j * ne0 + i] = count > 0.0f ? entry.sums[j * ne0 + i] / count : 1.0f;
        }
      }
    } else {
      const int64_t ncall = entry.counts.empty() ? 0 : entry.counts[0];
      for (size_t i = 0; i < entry.sums.size(); ++i) {
        e[i] = ncall > 0 ? entry.sums[i] / ncall : entry.sums[i];
      }
    }
  }
  return out;
}

}  // namespace apex::oracle
