#pragma once
// tapegrad::Error and the helpers that build its messages.
#include <sstream>
#include <stdexcept>
#include <string>

namespace tapegrad {

// Every misuse of the library throws this; the message names the op and the shapes or values.
class Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(os.str());
}

// The parts are only formatted when the check fails, so passing shapes by reference is free.
template <class... Parts>
inline void check(bool ok, const Parts&... parts) {
  if (!ok) fail(parts...);
}

}  // namespace detail
}  // namespace tapegrad
