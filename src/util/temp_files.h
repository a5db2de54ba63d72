// Temp files that must not outlive an interrupted run. The GGUF writer
// registers its temp file here; when the process gets SIGINT, SIGTERM or
// SIGHUP the handler unlinks every registered file and then dies by the
// same signal, so Ctrl-C never leaves a half-written file behind. (SIGKILL
// cannot be caught: then the temp file stays, but the target never appears,
// because it is only created by the final rename.)
#pragma once

#include <string>

namespace apex {

// Installs the handlers (idempotent). The CLI calls it at start-up.
void install_temp_file_cleanup();

// Track/untrack a temp file path. Cheap; safe to call from any thread.
void register_temp_file(const std::string& path);
void unregister_temp_file(const std::string& path);

}  // namespace apex
