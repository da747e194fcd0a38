#pragma once
// Shapes: the public `Shape` (a std::vector, as users spell it) and the inline `Dims` every
// tensor carries, so that shape bookkeeping in an op never allocates. Broadcasting rules and
// dim normalisation live here too.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "error.hpp"

namespace tapegrad {

using Shape = std::vector<int64_t>;

// The most dimensions a tensor may have.
constexpr int kMaxDims = 8;

class Dims;

// A shape argument read where it lies, as libtorch's IntArrayRef: a braced list {B, L, E}, a
// Shape or a tensor's Dims, so that passing a shape allocates nothing. It refers to its
// values for as long as the call runs (a braced list's values live to the end of the full
// expression): ops copy what they keep into Dims.
class IntArrayRef {
 public:
  // Referring to a braced list's array past the constructor is the point (as c10::ArrayRef):
  // it lives as long as the call that the list is an argument of.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
  IntArrayRef(std::initializer_list<int64_t> values) : data_(values.begin()), size_(values.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  IntArrayRef(const Shape& values) : data_(values.data()), size_(values.size()) {}
  inline IntArrayRef(const Dims& dims);

  const int64_t* data() const { return data_; }
  const int64_t* begin() const { return data_; }
  const int64_t* end() const { return data_ + size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t operator[](size_t i) const { return data_[i]; }
  Shape vec() const { return Shape(begin(), end()); }

 private:
  const int64_t* data_;
  size_t size_;
};

// A fixed-capacity shape stored inline.
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> sizes) { assign_sizes(sizes.begin(), sizes.end(), "tensor"); }
  template <class It>
  Dims(It first, It last, const char* op) {
    if constexpr (std::is_convertible_v<It, const int64_t*>) {
      assign_sizes(first, last, op);
    } else {
      assign(first, last, op);
    }
  }
  Dims(IntArrayRef shape, const char* op) { assign_sizes(shape.begin(), shape.end(), op); }

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  const int64_t* begin() const { return d_; }
  const int64_t* end() const { return d_ + n_; }
  int64_t back() const { return d_[n_ - 1]; }

  void push_back(int64_t v, const char* op = "tensor") {
    check_rank(n_ + 1, op);
    d_[n_++] = v;
  }
  void insert(int pos, int64_t v, const char* op) {
    check_rank(n_ + 1, op);
    for (int i = n_; i > pos; --i) d_[i] = d_[i - 1];
    d_[pos] = v;
    ++n_;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < n_; ++i) d_[i] = d_[i + 1];
    --n_;
  }

  int64_t numel() const { return product(0, n_); }
  // Product of the sizes in [first, last). Ops compose shapes ([m, 0] @ [0, n] is [m, n]), so
  // it may not fit an int64: 0 if any size is 0 (whatever comes before), else an Error.
  int64_t product(int first, int last) const {
    int64_t n = 1;
    bool overflow = false;
    for (int i = first; i < last; ++i) {
      if (d_[i] == 0) return 0;
      overflow = overflow || multiply_overflows(n, d_[i]);
    }
    if (overflow) {
      detail::fail("tensor: shape ", format(begin() + first, begin() + last), " has more elements than an int64 can count");
    }
    return n;
  }

  Shape to_shape() const { return Shape(begin(), end()); }

  // "[a, b, c]" for any range of sizes.
  template <class It>
  static std::string format(It first, It last) {
    std::string s = "[";
    for (It it = first; it != last; ++it) {
      if (it != first) s += ", ";
      detail::append_integer(s, static_cast<long long>(*it));
    }
    return s + ']';
  }

  friend bool operator==(const Dims& a, const Dims& b) {
    return a.n_ == b.n_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const Dims& a, const Dims& b) { return !(a == b); }
  friend std::ostream& operator<<(std::ostream& os, const Dims& d) {
    os << '[';
    for (int i = 0; i < d.n_; ++i) os << (i ? ", " : "") << d.d_[i];
    return os << ']';
  }

 private:
  // n *= v for sizes n, v > 0; true (and n unspecified) when the product overflows.
  static bool multiply_overflows(int64_t& n, int64_t v) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_mul_overflow(n, v, &n);
#else
    if (n > std::numeric_limits<int64_t>::max() / v) return true;
    n *= v;
    return false;
#endif
  }
  static void check_rank(int rank, const char* op) {
    if (rank > kMaxDims) rank_error(rank, op);
  }
  // Too many dims; `shape` is the offending shape, formatted, when the caller has it.
  [[noreturn]] TAPEGRAD_COLD static void rank_error(long long rank, const char* op, const std::string& shape = "") {
    detail::fail(op, ": tensors have at most ", kMaxDims, " dimensions, got ", rank, shape.empty() ? "" : " in shape ", shape);
  }
  // The common case out of line: sizes given as int64s.
  TAPEGRAD_NOINLINE void assign_sizes(const int64_t* first, const int64_t* last, const char* op) {
    assign(first, last, op);
  }
  // A negative size (`negative` < 0) or, with 0, a shape too large to count.
  template <class It>
  [[noreturn]] TAPEGRAD_COLD static void shape_error(const char* op, It first, It last, long long negative) {
    if (negative < 0) detail::fail(op, ": negative size ", negative, " in shape ", format(first, last));
    detail::fail(op, ": shape ", format(first, last), " has more elements than an int64 can count");
  }
  template <class It>
  void assign(It first, It last, const char* op) {
    const auto rank = std::distance(first, last);
    if (rank > kMaxDims) rank_error(rank, op, format(first, last));
    n_ = 0;
    int64_t total = 1;
    for (It it = first; it != last; ++it) {
      if (*it < 0) shape_error(op, first, last, static_cast<long long>(*it));
      const auto v = static_cast<int64_t>(*it);
      if (v != 0 && total > std::numeric_limits<int64_t>::max() / v) shape_error(op, first, last, 0);
      total *= v;
      d_[n_++] = v;
    }
  }
  int64_t d_[kMaxDims] = {};
  int n_ = 0;
};

inline IntArrayRef::IntArrayRef(const Dims& dims) : data_(dims.begin()), size_(static_cast<size_t>(dims.size())) {}

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << Dims(s, "print"); }

// "[a, b, c]" in error messages.
TAPEGRAD_COLD inline void append_part(std::string& s, const Dims& d) { s += Dims::format(d.begin(), d.end()); }

namespace detail {

// Maps a possibly negative dim onto [0, rank); `rank` 0 tensors accept -1 and 0 like PyTorch.
TAPEGRAD_NOINLINE inline int normalize_dim(int64_t dim, int rank, const char* op, const Dims& shape) {
  const int64_t r = std::max(rank, 1);
  check(dim >= -r && dim < r, op, ": dim ", dim, " is out of range for a tensor of shape ", shape,
        " (expected a dim in [", -r, ", ", r - 1, "])");
  return static_cast<int>(dim < 0 ? dim + r : dim);
}

// NumPy broadcasting: align trailing dims; each pair must be equal or contain a 1.
TAPEGRAD_NOINLINE inline Dims broadcast_shape(const Dims& a, const Dims& b, const char* op) {
  const int rank = std::max(a.size(), b.size());
  Dims out;
  for (int i = 0; i < rank; ++i) {
    const int ia = a.size() - rank + i, ib = b.size() - rank + i;
    const int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
    check(sa == sb || sa == 1 || sb == 1, op, ": shapes ", a, " and ", b,
          " cannot be broadcast together (", sa, " != ", sb, " at dim ", i - rank, ")");
    out.push_back(sa == 1 ? sb : sa, op);
  }
  return out;
}

// Strides (in elements) of `shape` laid out row-major and viewed inside `out` (rank >= shape's
// rank): broadcast dims get stride 0.
TAPEGRAD_NOINLINE inline Dims broadcast_strides(const Dims& shape, const Dims& out) {
  Dims strides;
  for (int i = 0; i < out.size(); ++i) strides.push_back(0);
  int64_t stride = 1;
  for (int i = shape.size() - 1, o = out.size() - 1; i >= 0; --i, --o) {
    strides[o] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

}  // namespace detail
}  // namespace tapegrad
