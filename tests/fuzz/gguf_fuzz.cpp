// libFuzzer target for the GGUF reader (not built by default). Build, e.g.:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//     tests/fuzz/gguf_fuzz.cpp src/gguf/*.cpp src/quant/*.cpp -lfmt -lhwy -o gguf_fuzz
//   ./gguf_fuzz -max_len=65536 corpus/
// (seed the corpus with small .gguf files, e.g. the ones test_gguf writes).
//
// Properties checked beyond "no crash, no sanitizer report":
// - a file that opens has every tensor's bytes readable inside the mapping;
// - what the reader accepts, the writer accepts back (serialize_header of
//   the same content succeeds), and the header it produces reads back to the
//   same metadata.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gguf/gguf.h"

namespace {

volatile uint64_t g_sink;  // keeps the data reads from being optimised away

// The reader takes a path; an anonymous memory file gives it one without
// touching the disk.
std::string memory_file(const uint8_t* data, size_t size, int& fd) {
  fd = memfd_create("gguf_fuzz", MFD_CLOEXEC);
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
  std::fprintf(stderr, "gguf_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace apex::gguf;
  int fd = -1;
  const std::string path = memory_file(data, size, fd);
  auto file = File::open(path);
  if (!file.ok()) {
    if (file.message().find('\n') != std::string::npos) fail("multi-line error", file.message());
    close(fd);
    return 0;
  }
  const File& f = **file;
  uint64_t checksum = 0;
  for (const TensorInfo& t : f.tensors()) {
    for (uint8_t b : f.tensor_data(t)) checksum += b;
    f.release(t);
  }
  for (const KeyValue& kv : f.kvs()) checksum += kv.value.to_string(4).size();

  Layout layout;
  layout.version = f.version();
  layout.kvs = f.kvs();
  layout.alignment = f.alignment();
  layout.tensors = f.tensors();
  auto header = serialize_header(layout);
  if (!header.ok()) fail("reader accepted what the writer refuses", header.message());

  int fd2 = -1;
  const std::string path2 = memory_file(header->data(), header->size(), fd2);
  // Zero-filled data section of the rewritten (compact) layout.
  if (ftruncate(fd2, static_cast<off_t>(layout.total_bytes())) != 0) std::abort();
  auto again = File::open(path2);
  if (!again.ok()) fail("rewritten header does not read back", again.message());
  if ((*again)->kvs().size() != f.kvs().size()) fail("kv count changed", path);
  for (size_t i = 0; i < f.kvs().size(); ++i) {
    if (!((*again)->kvs()[i].value == f.kvs()[i].value)) fail("value changed", f.kvs()[i].key);
  }
  close(fd2);
  close(fd);
  g_sink = checksum;
  return 0;
}
