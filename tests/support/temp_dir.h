// Shared by every test module (tests/ is on their include path; this folder
// has no sources, so tests/CMakeLists.txt builds no binary for it): a
// scratch folder that lives as long as the object and is removed with it.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace apex::test_support {

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("apex-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  // Not copyable: a copy's destructor would remove the folder under the original.
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
  static inline int counter_ = 0;
};

// A folder shared by the tests of one process (fixture files made once):
// TMPDIR/<tag>_<pid>, made on first use and removed when the process exits,
// so that repeated test runs do not fill the disk (ctest runs every test in
// a process of its own).
inline std::filesystem::path process_scratch(const std::string& tag) {
  struct Folders {
    std::vector<std::filesystem::path> paths;
    ~Folders() {
      for (const auto& p : paths) {
        std::error_code ec;
        std::filesystem::remove_all(p, ec);
      }
    }
  };
  static Folders folders;
  const std::filesystem::path p =
      std::filesystem::temp_directory_path() / (tag + "_" + std::to_string(::getpid()));
  if (std::find(folders.paths.begin(), folders.paths.end(), p) == folders.paths.end()) {
    std::filesystem::create_directories(p);
    folders.paths.push_back(p);
  }
  return p;
}

}  // namespace apex::test_support
