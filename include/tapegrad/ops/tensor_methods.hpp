#pragma once
// Tensor's op methods, each the free function of the same name: core/tensor.hpp calls them
// through detail::TensorOps, which only this header defines.
#include "indexing.hpp"
#include "layout.hpp"
#include "linalg.hpp"
#include "softmax.hpp"
#include "split.hpp"
#include "unary.hpp"

namespace tapegrad {

namespace detail {

// The bodies of Tensor's op methods (core/tensor.hpp declares this struct and calls it), each the
// free function of the same name.
template <class T>
struct TensorOps {
  static Tensor<T> exp(const Tensor<T>& self) { return tapegrad::exp(self); }
  static Tensor<T> log(const Tensor<T>& self) { return tapegrad::log(self); }
  static Tensor<T> sqrt(const Tensor<T>& self) { return tapegrad::sqrt(self); }
  static Tensor<T> abs(const Tensor<T>& self) { return tapegrad::abs(self); }
  static Tensor<T> pow(const Tensor<T>& self, double exponent) { return tapegrad::pow(self, exponent); }
  static Tensor<T> tanh(const Tensor<T>& self) { return tapegrad::tanh(self); }
  static Tensor<T> sigmoid(const Tensor<T>& self) { return tapegrad::sigmoid(self); }
  static Tensor<T> relu(const Tensor<T>& self) { return tapegrad::relu(self); }
  static Tensor<T> neg(const Tensor<T>& self) { return -self; }
  static Tensor<T> reciprocal(const Tensor<T>& self) { return tapegrad::reciprocal(self); }
  static Tensor<T> softmax(const Tensor<T>& self, int64_t dim) { return tapegrad::softmax(self, dim); }
  static Tensor<T> log_softmax(const Tensor<T>& self, int64_t dim) { return tapegrad::log_softmax(self, dim); }
  static Tensor<T> sum(const Tensor<T>& self) { return tapegrad::sum(self); }
  static Tensor<T> sum(const Tensor<T>& self, int64_t dim, bool keepdim) { return tapegrad::sum(self, dim, keepdim); }
  static Tensor<T> mean(const Tensor<T>& self) { return tapegrad::mean(self); }
  static Tensor<T> mean(const Tensor<T>& self, int64_t dim, bool keepdim) { return tapegrad::mean(self, dim, keepdim); }
  static Tensor<T> var(const Tensor<T>& self) { return tapegrad::var(self); }
  static Tensor<T> var(const Tensor<T>& self, int64_t dim, bool unbiased, bool keepdim) { return tapegrad::var(self, dim, unbiased, keepdim); }
  static Tensor<T> max(const Tensor<T>& self) { return tapegrad::max(self); }
  static Tensor<T> max(const Tensor<T>& self, int64_t dim, bool keepdim) { return tapegrad::max(self, dim, keepdim); }
  static Tensor<T> reshape(const Tensor<T>& self, const Shape& shape) { return tapegrad::reshape(self, shape); }
  static Tensor<T> view(const Tensor<T>& self, const Shape& shape) { return tapegrad::view(self, shape); }
  static Tensor<T> flatten(const Tensor<T>& self, int64_t start, int64_t end) { return tapegrad::flatten(self, start, end); }
  static Tensor<T> unsqueeze(const Tensor<T>& self, int64_t d) { return tapegrad::unsqueeze(self, d); }
  static Tensor<T> squeeze(const Tensor<T>& self) { return tapegrad::squeeze(self); }
  static Tensor<T> squeeze(const Tensor<T>& self, int64_t d) { return tapegrad::squeeze(self, d); }
  static Tensor<T> t(const Tensor<T>& self) { return tapegrad::t(self); }
  static Tensor<T> transpose(const Tensor<T>& self, int64_t d0, int64_t d1) { return tapegrad::transpose(self, d0, d1); }
  static Tensor<T> narrow(const Tensor<T>& self, int64_t dim, int64_t start, int64_t length) { return tapegrad::narrow(self, dim, start, length); }
  static Tensor<T> matmul(const Tensor<T>& self, const Tensor<T>& other) { return tapegrad::matmul(self, other); }

  // vocabulary: vocab-index
  static std::vector<Tensor<T>> split(const Tensor<T>& self, int64_t size, int64_t dim) { return tapegrad::split(self, size, dim); }
  static std::vector<Tensor<T>> split(const Tensor<T>& self, const std::vector<int64_t>& sizes, int64_t dim) { return tapegrad::split(self, sizes, dim); }
  static std::vector<Tensor<T>> chunk(const Tensor<T>& self, int64_t chunks, int64_t dim) { return tapegrad::chunk(self, chunks, dim); }
  static Tensor<T> select(const Tensor<T>& self, int64_t dim, int64_t index) { return tapegrad::select(self, dim, index); }
  static Tensor<T> index_select(const Tensor<T>& self, int64_t dim, const Tensor<T>& index) { return tapegrad::index_select(self, dim, index); }
  static Tensor<T> gather(const Tensor<T>& self, int64_t dim, const Tensor<T>& index) { return tapegrad::gather(self, dim, index); }
  static Tensor<T> permute(const Tensor<T>& self, const Shape& dims) { return tapegrad::permute(self, dims); }
  static Tensor<T> expand(const Tensor<T>& self, const Shape& shape) { return tapegrad::expand(self, shape); }
  static Tensor<T> contiguous(const Tensor<T>& self) { return tapegrad::contiguous(self); }
};

}  // namespace detail

}  // namespace tapegrad
