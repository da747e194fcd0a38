#pragma once
// tapegrad::Error and the helpers that build its messages.
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

// Keeps a cold or bulky function out of line: one copy for the compiler to optimise instead of
// one per call site (compile time), at the cost of a call.
#if defined(__GNUC__) || defined(__clang__)
#define TAPEGRAD_NOINLINE __attribute__((noinline))
#else
#define TAPEGRAD_NOINLINE
#endif
// For code that runs once or on errors only (building modules and optimizers, formatting
// error messages): out of line and optimised for size, which also compiles faster.
#if defined(__GNUC__) || defined(__clang__)
#define TAPEGRAD_COLD __attribute__((noinline, cold))
#else
#define TAPEGRAD_COLD
#endif

namespace tapegrad {

// Every misuse of the library throws this; the message names the op and the shapes or values.
class Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

// The message parts, formatted as an std::ostream would: the common types without a stream
// (one small function each, shared by every message), anything else through one.
inline void append_part(std::string& s, const char* p) { s += p; }
inline void append_part(std::string& s, const std::string& p) { s += p; }
inline void append_part(std::string& s, char c) { s += c; }
inline void append_part(std::string& s, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  s += buf;
}
inline void append_part(std::string& s, float v) { append_part(s, static_cast<double>(v)); }
TAPEGRAD_COLD inline void append_integer(std::string& s, long long v) { s += std::to_string(v); }
TAPEGRAD_COLD inline void append_unsigned(std::string& s, unsigned long long v) { s += std::to_string(v); }
template <class X>
void append_part(std::string& s, const X& x) {
  if constexpr (std::is_integral_v<X> && !std::is_same_v<X, char> && std::is_signed_v<X>) {
    append_integer(s, x);
  } else if constexpr (std::is_integral_v<X> && !std::is_same_v<X, char>) {
    append_unsigned(s, x);
  } else {
    std::ostringstream os;
    os << x;
    s += os.str();
  }
}

[[noreturn]] TAPEGRAD_COLD inline void throw_error(const std::string& message) { throw Error(message); }

// One part of a message: the value and the function that formats it, so that one function
// builds every message (no template per sequence of part types).
struct MessagePart {
  const void* value;
  void (*append)(std::string&, const void*);
};
template <class X>
TAPEGRAD_COLD void append_erased(std::string& s, const void* value) {
  append_part(s, *static_cast<const X*>(value));
}
TAPEGRAD_COLD inline void append_c_string(std::string& s, const void* value) { s += static_cast<const char*>(value); }
template <class X>
MessagePart message_part(const X& x) {
  if constexpr (std::is_array_v<X>) {
    return {x, &append_c_string};  // string literals
  } else {
    return {&x, &append_erased<X>};
  }
}

[[noreturn]] TAPEGRAD_COLD inline void fail_with(const MessagePart* parts, std::size_t n) {
  std::string message;
  for (std::size_t i = 0; i < n; ++i) parts[i].append(message, parts[i].value);
  throw_error(message);
}

template <class... Parts>
[[noreturn]] TAPEGRAD_COLD void fail(const Parts&... parts) {
  const MessagePart list[] = {message_part(parts)...};
  fail_with(list, sizeof...(Parts));
}

// The parts are only formatted when the check fails, so passing shapes by reference is free.
template <class... Parts>
inline void check(bool ok, const Parts&... parts) {
  if (!ok) fail(parts...);
}

}  // namespace detail
}  // namespace tapegrad
