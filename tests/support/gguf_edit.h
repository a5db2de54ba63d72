// Shared by the bad-input tests: a good GGUF file written again with its
// metadata edited and some tensors left out, replaced or added, so that a
// test can name exactly what is wrong with the copy.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace apex::test_support {

// An F32 tensor of zeros with shape `ne` (ggml order).
struct ZeroTensor {
  std::string name;
  std::vector<int64_t> ne;
};

inline bool keep_all(const std::string&) { return true; }

// `src` written to `dst` with the tensors `keep` accepts, in their order;
// a tensor named in `zeros` is replaced in place by that F32 zero tensor
// (a wrong shape or type), the other `zeros` are appended; then `edit`
// changes the metadata.
inline void copy_edited(const std::string& src, const std::string& dst,
                        const std::function<void(gguf::Layout&)>& edit,
                        const std::function<bool(const std::string&)>& keep = keep_all,
                        const std::vector<ZeroTensor>& zeros = {}) {
  auto f = gguf::File::open(src);
  ASSERT_TRUE(f.ok()) << f.message();
  gguf::Layout layout;
  layout.kvs = (*f)->kvs();
  std::vector<std::span<const uint8_t>> data;
  std::vector<std::vector<uint8_t>> zero_bytes(zeros.size());  // outlives write_file
  std::vector<bool> used(zeros.size(), false);
  auto push_zero = [&](size_t i) {
    gguf::TensorInfo info;
    info.name = zeros[i].name;
    info.ne = zeros[i].ne;
    info.type = 0;  // F32
    info.nbytes = 4 * static_cast<uint64_t>(info.n_elements());
    zero_bytes[i].assign(info.nbytes, 0);
    layout.tensors.push_back(info);
    data.emplace_back(zero_bytes[i]);
    used[i] = true;
  };
  for (const gguf::TensorInfo& t : (*f)->tensors()) {
    if (!keep(t.name)) continue;
    size_t z = 0;
    while (z < zeros.size() && zeros[z].name != t.name) ++z;
    if (z < zeros.size()) {
      push_zero(z);
      continue;
    }
    gguf::TensorInfo info;
    info.name = t.name;
    info.ne = t.ne;
    info.type = t.type;
    info.nbytes = t.nbytes;
    layout.tensors.push_back(info);
    data.push_back((*f)->tensor_data(t));
  }
  for (size_t i = 0; i < zeros.size(); ++i) {
    if (!used[i]) push_zero(i);
  }
  edit(layout);
  const Status s = gguf::write_file(dst, std::move(layout), data);
  ASSERT_TRUE(s.ok()) << s.message();
}

}  // namespace apex::test_support
