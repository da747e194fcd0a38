#pragma once
// ExpandingArray<D>: D sizes given as one int for all of them or as a braced list of D, as
// libtorch's torch::ExpandingArray: the kernel, stride, padding and dilation of the 2-d layers,
// so nn::Conv2d(3, 8, 3) and nn::MaxPool2d({3, 2}) both compile.
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "error.hpp"

namespace tapegrad {

template <std::size_t D>
class ExpandingArray {
 public:
  ExpandingArray(int64_t value) { values_.fill(value); }  // NOLINT: implicit, as libtorch's
  ExpandingArray(std::initializer_list<int64_t> list) {   // NOLINT
    detail::check(list.size() == D, "ExpandingArray: expected ", static_cast<int64_t>(D), " values, got ",
                  static_cast<int64_t>(list.size()));
    std::size_t i = 0;
    for (int64_t v : list) values_[i++] = v;
  }
  ExpandingArray(const std::array<int64_t, D>& values) : values_(values) {}  // NOLINT

  int64_t operator[](std::size_t i) const { return values_[i]; }
  const std::array<int64_t, D>& operator*() const { return values_; }
  const int64_t* begin() const { return values_.data(); }
  const int64_t* end() const { return values_.data() + D; }
  static constexpr std::size_t size() { return D; }
  bool operator==(const ExpandingArray& o) const { return values_ == o.values_; }
  bool operator!=(const ExpandingArray& o) const { return values_ != o.values_; }

  // "[3, 2]", for error messages.
  std::string str() const {
    std::string s = "[";
    for (std::size_t i = 0; i < D; ++i) s += (i ? ", " : "") + std::to_string(values_[i]);
    return s + "]";
  }

 private:
  std::array<int64_t, D> values_{};
};

}  // namespace tapegrad
