// Errors for bad input. Library functions that read user data (files, flags,
// tables) return Result<T> or Status; the CLI prints the one-line message and
// exits non-zero. Broken invariants are not errors but bugs: see check.h.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>
#include <variant>

namespace apex {

struct Error {
  std::string message;  // one line, names the file/offset/tensor/flag at fault
};

// Builds an Error with fmt formatting: return make_error("{}: bad magic", path);
template <typename... Args>
Error make_error(fmt::format_string<Args...> f, Args&&... args) {
  return Error{fmt::format(f, std::forward<Args>(args)...)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  const std::string& message() const { return error().message; }

 private:
  std::variant<T, Error> v_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  static Status Ok() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  const std::string& message() const { return error_.message; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace apex

// Propagate an error from an expression yielding Status or Result<T>.
#define APEX_RETURN_IF_ERROR(expr)                 \
  do {                                             \
    auto apex_status_ = (expr);                    \
    if (!apex_status_.ok()) return apex_status_.error(); \
  } while (0)

#define APEX_CONCAT_INNER_(a, b) a##b
#define APEX_CONCAT_(a, b) APEX_CONCAT_INNER_(a, b)
// APEX_ASSIGN_OR_RETURN(auto file, gguf::File::open(path));
#define APEX_ASSIGN_OR_RETURN(lhs, expr)                         \
  auto APEX_CONCAT_(apex_result_, __LINE__) = (expr);            \
  if (!APEX_CONCAT_(apex_result_, __LINE__).ok())                \
    return APEX_CONCAT_(apex_result_, __LINE__).error();         \
  lhs = std::move(APEX_CONCAT_(apex_result_, __LINE__)).value()
