#pragma once
// Tensor's op methods, each the free function of the same name.
#include "linalg.hpp"
#include "softmax.hpp"
#include "unary.hpp"

namespace tapegrad {

// A copy of the values that stays in the graph (the gradient passes through), as PyTorch's.
template <class T>
Tensor<T> Tensor<T>::clone() const {
  checked("clone");
  return detail::copy_gradient(*this);
}

template <class T>
Tensor<T> Tensor<T>::exp() const { return tapegrad::exp(*this); }
template <class T>
Tensor<T> Tensor<T>::log() const { return tapegrad::log(*this); }
template <class T>
Tensor<T> Tensor<T>::sqrt() const { return tapegrad::sqrt(*this); }
template <class T>
Tensor<T> Tensor<T>::abs() const { return tapegrad::abs(*this); }
template <class T>
Tensor<T> Tensor<T>::pow(double exponent) const { return tapegrad::pow(*this, exponent); }
template <class T>
Tensor<T> Tensor<T>::tanh() const { return tapegrad::tanh(*this); }
template <class T>
Tensor<T> Tensor<T>::sigmoid() const { return tapegrad::sigmoid(*this); }
template <class T>
Tensor<T> Tensor<T>::relu() const { return tapegrad::relu(*this); }
template <class T>
Tensor<T> Tensor<T>::neg() const { return -*this; }
template <class T>
Tensor<T> Tensor<T>::reciprocal() const { return tapegrad::reciprocal(*this); }
template <class T>
Tensor<T> Tensor<T>::softmax(int64_t dim) const { return tapegrad::softmax(*this, dim); }
template <class T>
Tensor<T> Tensor<T>::log_softmax(int64_t dim) const { return tapegrad::log_softmax(*this, dim); }

template <class T>
Tensor<T> Tensor<T>::sum() const { return tapegrad::sum(*this); }
template <class T>
Tensor<T> Tensor<T>::sum(int64_t dim, bool keepdim) const { return tapegrad::sum(*this, dim, keepdim); }
template <class T>
Tensor<T> Tensor<T>::mean() const { return tapegrad::mean(*this); }
template <class T>
Tensor<T> Tensor<T>::mean(int64_t dim, bool keepdim) const { return tapegrad::mean(*this, dim, keepdim); }
template <class T>
Tensor<T> Tensor<T>::var() const { return tapegrad::var(*this); }
template <class T>
Tensor<T> Tensor<T>::var(int64_t dim, bool unbiased, bool keepdim) const {
  return tapegrad::var(*this, dim, unbiased, keepdim);
}
template <class T>
Tensor<T> Tensor<T>::max() const { return tapegrad::max(*this); }
template <class T>
Tensor<T> Tensor<T>::max(int64_t dim, bool keepdim) const { return tapegrad::max(*this, dim, keepdim); }
template <class T>
Tensor<T> Tensor<T>::reshape(const Shape& shape) const { return tapegrad::reshape(*this, shape); }
template <class T>
Tensor<T> Tensor<T>::view(const Shape& shape) const { return tapegrad::view(*this, shape); }
template <class T>
Tensor<T> Tensor<T>::unsqueeze(int64_t d) const { return tapegrad::unsqueeze(*this, d); }
template <class T>
Tensor<T> Tensor<T>::squeeze() const { return tapegrad::squeeze(*this); }
template <class T>
Tensor<T> Tensor<T>::squeeze(int64_t d) const { return tapegrad::squeeze(*this, d); }
template <class T>
Tensor<T> Tensor<T>::t() const { return tapegrad::t(*this); }
template <class T>
Tensor<T> Tensor<T>::transpose(int64_t d0, int64_t d1) const { return tapegrad::transpose(*this, d0, d1); }
template <class T>
Tensor<T> Tensor<T>::narrow(int64_t dim, int64_t start, int64_t length) const {
  return tapegrad::narrow(*this, dim, start, length);
}
template <class T>
Tensor<T> Tensor<T>::matmul(const Tensor& other) const { return tapegrad::matmul(*this, other); }

}  // namespace tapegrad
