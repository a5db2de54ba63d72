#include "util/temp_files.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace apex {
namespace {

// A fixed table, because a signal handler may not allocate or lock: each slot
// is claimed with an atomic flag and holds a NUL-terminated path.
constexpr int kSlots = 32;
constexpr size_t kPathMax = 4096;
struct Slot {
  std::atomic<int> state{0};  // 0 free, 1 being written, 2 live
  char path[kPathMax];
};
Slot g_slots[kSlots];

void on_signal(int sig) {
  for (Slot& s : g_slots) {
    if (s.state.load() == 2) ::unlink(s.path);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void install_temp_file_cleanup() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

void register_temp_file(const std::string& path) {
  if (path.size() >= kPathMax) return;
  for (Slot& s : g_slots) {
    int expected = 0;
    if (s.state.compare_exchange_strong(expected, 1)) {
      std::memcpy(s.path, path.c_str(), path.size() + 1);
      s.state.store(2);
      return;
    }
  }
}

void unregister_temp_file(const std::string& path) {
  for (Slot& s : g_slots) {
    if (s.state.load() == 2 && path == s.path) {
      s.state.store(0);
      return;
    }
  }
}

}  // namespace apex
