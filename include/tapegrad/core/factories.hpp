#pragma once
// Factories: empty, zeros, ones, full, tensor, from_eigen and their *_like forms.
#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "autograd.hpp"

namespace tapegrad {

template <class T = float>
Tensor<T> empty(IntArrayRef shape) {
  return detail::make_tensor<T>(Dims(shape, "empty"));
}

template <class T = float>
Tensor<T> full(IntArrayRef shape, T value) {
  Tensor<T> t = detail::make_tensor<T>(Dims(shape, "full"));
  std::fill_n(t.data(), t.numel(), value);
  return t;
}

template <class T = float>
Tensor<T> zeros(IntArrayRef shape) {
  Tensor<T> t = detail::make_tensor<T>(Dims(shape, "zeros"));
  std::fill_n(t.data(), t.numel(), T(0));
  return t;
}

template <class T = float>
Tensor<T> ones(IntArrayRef shape) {
  Tensor<T> t = detail::make_tensor<T>(Dims(shape, "ones"));
  std::fill_n(t.data(), t.numel(), T(1));
  return t;
}

template <class T>
Tensor<T> empty_like(const Tensor<T>& t) {
  return detail::make_tensor<T>(t.checked("empty_like").sizes);
}
template <class T>
Tensor<T> zeros_like(const Tensor<T>& t) {
  return empty_like(t).fill_(T(0));
}
template <class T>
Tensor<T> ones_like(const Tensor<T>& t) {
  return empty_like(t).fill_(T(1));
}
template <class T>
Tensor<T> full_like(const Tensor<T>& t, T value) {
  return empty_like(t).fill_(value);
}

// A tensor holding `values` in row-major order under `shape`.
template <class T = float>
Tensor<T> tensor(std::vector<T> values, IntArrayRef shape) {
  const Dims sizes(shape, "tensor");
  detail::check(static_cast<int64_t>(values.size()) == sizes.numel(), "tensor: ", values.size(),
                " values cannot fill shape ", sizes, " (", sizes.numel(), " elements)");
  Tensor<T> t = detail::make_tensor<T>(sizes);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

// A 1-D tensor of `values`.
template <class T = float>
Tensor<T> tensor(std::vector<T> values) {
  const auto n = static_cast<int64_t>(values.size());
  return tensor<T>(std::move(values), Shape{n});
}

// A 0-d tensor.
template <class T = float>
Tensor<T> scalar_tensor(T value) {
  Tensor<T> t = detail::make_tensor<T>(Dims());
  t.data()[0] = value;
  return t;
}

// A copy of an Eigen matrix or vector expression as a 2-D tensor.
template <class Derived>
Tensor<typename Derived::Scalar> from_eigen(const Eigen::MatrixBase<Derived>& m) {
  using T = typename Derived::Scalar;
  Tensor<T> t = detail::make_tensor<T>(Dims{m.rows(), m.cols()});
  t.matrix() = m;
  return t;
}

template <class T>
Tensor<T>& Tensor<T>::fill_(T value) {
  Impl& i = checked("fill_");
  std::fill_n(i.data, i.sizes.numel(), value);
  detail::record_overwrite(*this);
  return *this;
}

}  // namespace tapegrad
