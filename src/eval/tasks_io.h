// Small helpers the task readers share.
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace apex::eval {

Result<std::string> read_whole_file(const std::string& path);
// Lines split on '\n' (a trailing '\r' removed); no empty last line for a final '\n'.
std::vector<std::string> split_lines(const std::string& text);
bool ends_with(const std::string& s, const std::string& suffix);

}  // namespace apex::eval
