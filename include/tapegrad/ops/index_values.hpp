#pragma once
// Index tensors: a Tensor<T> whose values are integers (class targets, embedding rows, gather,
// index_select, one_hot). Their values are checked here, once, as they are read: a value that is
// not an integer or falls outside [0, size) throws, naming the op, the index and the size.
#include <cmath>

#include "../core/autograd.hpp"

namespace tapegrad::detail {

// Index values read from an index tensor, in a pool block the nodes that need them share.
using IndexValues = IntrusivePtr<Storage<int64_t>>;

// What an index counts into, for the messages: "for 5 embeddings" when `noun` is given (the
// size and the noun), else "for dim 1 of size 5".
struct IndexBound {
  const char* op;
  int64_t size;
  const char* noun = nullptr;
  int64_t dim = 0;
};

TAPEGRAD_COLD inline std::string describe_bound(const IndexBound& b) {
  std::string s = "for ";
  if (b.noun) {
    append_integer(s, b.size);
    return s + " " + b.noun;
  }
  s += "dim ";
  append_integer(s, b.dim);
  s += " of size ";
  append_integer(s, b.size);
  return s;
}

// The message for index value v at position k that is not an integer or is out of range.
template <class T>
[[noreturn]] TAPEGRAD_COLD void index_error(const IndexBound& b, T v, int64_t k) {
  if (!(std::isfinite(v) && v == std::floor(v))) {
    fail(b.op, ": index ", v, " at position ", k, " is not an integer (index tensors hold integer values, here in [0, ",
         b.size, ") ", describe_bound(b), ")");
  }
  fail(b.op, ": index ", v, " is out of range ", describe_bound(b), " (expected 0 <= index < ", b.size, ")");
}

// Whether v is an integer in [0, size): NaN and infinities fail both comparisons or the floor.
template <class T>
inline bool valid_index(T v, int64_t size) {
  return v >= 0 && v < static_cast<T>(size) && v == std::floor(v);
}

// The index tensor's values, each an integer in [0, bound.size), else an Error.
template <class T>
IndexValues index_values(const Tensor<T>& indices, const IndexBound& bound) {
  const int64_t n = indices.numel();
  IndexValues out = Storage<int64_t>::create(n);
  const T* pi = indices.data();
  int64_t* po = out->data;
  for (int64_t k = 0; k < n; ++k) {
    if (!valid_index(pi[k], bound.size)) index_error(bound, pi[k], k);
    po[k] = static_cast<int64_t>(pi[k]);
  }
  return out;
}

}  // namespace tapegrad::detail
