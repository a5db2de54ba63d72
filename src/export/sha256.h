// SHA-256 (FIPS 180-4), for the provenance file of an export: the source
// GGUF's digest lets anyone check which file an export came from with
// `sha256sum`. Streaming: update() any number of times, then digest().
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "util/status.h"

namespace apex::xport {

class Sha256 {
 public:
  Sha256();
  void update(std::span<const uint8_t> data);
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> digest();
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// Hex SHA-256 of a whole file, read by mmap in pieces whose pages are
// dropped after hashing (bounded RSS on multi-GB files). `progress` (may be
// null) gets bytes done and total.
Result<std::string> sha256_file(const std::string& path,
                                void (*progress)(uint64_t, uint64_t, void*) = nullptr,
                                void* ctx = nullptr);

}  // namespace apex::xport
