// A one-line progress bar on stderr, drawn only when stderr is a terminal
// (so logs and pipes stay clean). Thread-safe; redraws at most ~10 times a
// second.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace apex {

class ProgressBar {
 public:
  // total: units of work (e.g. bytes or elements); label: shown before the bar.
  ProgressBar(std::string label, uint64_t total, bool enabled = stderr_is_terminal());
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void advance(uint64_t units, const std::string& detail = {});
  void set_detail(const std::string& detail);
  // Draws the final state and moves to a new line.
  void finish();

  static bool stderr_is_terminal();

 private:
  void draw(bool force);
  std::mutex mutex_;
  std::string label_, detail_;
  uint64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace apex
