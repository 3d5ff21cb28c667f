// Expected failures of the storage layer as values (a corrupt file, a locked directory, a
// mismatched identity). Broken invariants and disk I/O failures do not come back this way: they
// abort with the file's name (see storage/io.h).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace storage {

/// Success, or a message meant for an operator: it names the file or directory concerned.
class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message)); }

  bool is_ok() const { return !message_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  /// Empty when ok.
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

/// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design, like expected<T>
  Result(Status status) : status_(std::move(status)) {
    if (status_.is_ok()) status_ = Status::error("internal error: Result built from an ok Status");
  }

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }
  const std::string& message() const { return status_.message(); }

  /// Taking the value of a failed Result is a bug in the caller: abort and say what failed.
  T& value() & { return check(); }
  const T& value() const& { return check(); }
  T&& value() && { return std::move(check()); }
  T* operator->() { return &check(); }
  const T* operator->() const { return &check(); }
  T& operator*() & { return check(); }
  const T& operator*() const& { return check(); }
  T&& operator*() && { return std::move(check()); }

 private:
  T& check() const {
    if (!value_) {
      std::fprintf(stderr, "storage: value() of a failed Result: %s\n", status_.message().c_str());
      std::abort();
    }
    return const_cast<T&>(*value_);
  }

  std::optional<T> value_;
  Status status_;
};

}  // namespace storage
