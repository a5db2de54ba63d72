// libFuzzer target for the safetensors reader (not built by default). Build, e.g.:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//     tests/fuzz/safetensors_fuzz.cpp src/safetensors/*.cpp src/util/temp_files.cpp
//     -lfmt -o safetensors_fuzz
//   ./safetensors_fuzz -max_len=65536 -dict=<(printf '"dtype"\n"shape"\n"data_offsets"\n"__metadata__"\n') corpus/
// (seed the corpus with small .safetensors files, e.g. from test_safetensors).
//
// Properties checked beyond "no crash, no sanitizer report":
// - an error is one line;
// - a file that opens has every tensor's bytes inside the mapping, and the
//   tensors tile the data area;
// - what the reader accepts, the writer accepts back, and the rewritten
//   file reads back with the same names, dtypes, shapes, bytes and metadata.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "safetensors/safetensors.h"

namespace {

volatile uint64_t g_sink;

std::string memory_file(const uint8_t* data, size_t size, int& fd) {
  fd = memfd_create("st_fuzz", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < size) {
    const ssize_t k = write(fd, data + done, size - done);
    if (k <= 0) std::abort();
    done += static_cast<size_t>(k);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "safetensors_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace apex::st;
  int fd = -1;
  const std::string path = memory_file(data, size, fd);
  auto file = File::open(path);
  if (!file.ok()) {
    if (file.message().find('\n') != std::string::npos) fail("multi-line error", file.message());
    close(fd);
    return 0;
  }
  const File& f = **file;
  uint64_t checksum = 0, covered = 0;
  std::vector<TensorDecl> decls;
  for (const TensorInfo& t : f.tensors()) {
    if (f.data_offset() + t.end > f.file_size()) fail("tensor past the end", t.name);
    for (uint8_t b : f.tensor_data(t)) checksum += b;
    covered += t.nbytes();
    decls.push_back({t.name, t.dtype, t.shape});
  }
  if (covered != f.file_size() - f.data_offset()) fail("tensors do not tile the data area", path);

  char dir_template[] = "/tmp/st_fuzz_XXXXXX";
  if (mkdtemp(dir_template) == nullptr) std::abort();
  const std::string out = std::string(dir_template) + "/x.safetensors";
  {
    auto w = Writer::create(out, decls, f.metadata());
    if (!w.ok()) fail("reader accepted what the writer refuses", w.message());
    for (const TensorInfo& t : f.tensors()) {
      if (!(*w)->write_tensor(f.tensor_data(t)).ok()) fail("rewrite failed", t.name);
    }
    if (!(*w)->finish().ok()) fail("rewrite finish failed", out);
  }
  auto again = File::open(out);
  if (!again.ok()) fail("rewritten file does not read back", again.message());
  if ((*again)->metadata() != f.metadata()) fail("metadata changed", out);
  for (const TensorInfo& t : f.tensors()) {
    const TensorInfo* u = (*again)->find(t.name);
    if (u == nullptr || u->dtype != t.dtype || u->shape != t.shape) fail("tensor changed", t.name);
    const auto a = f.tensor_data(t), b = (*again)->tensor_data(*u);
    if (a.size() != b.size() || (a.size() > 0 && std::memcmp(a.data(), b.data(), a.size()) != 0)) {
      fail("bytes changed", t.name);
    }
  }
  unlink(out.c_str());
  rmdir(dir_template);
  close(fd);
  g_sink = checksum;
  return 0;
}
