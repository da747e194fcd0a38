#pragma once
// Tensor's op methods, each the free function of the same name: core/tensor.hpp calls them
// through detail::TensorOps, which only this header defines.
#include "indexing.hpp"
#include "layout.hpp"
#include "linalg.hpp"
#include "softmax.hpp"
#include "split.hpp"
#include "unary.hpp"
// vocabulary: vocab-elem
#include "elementwise.hpp"
#include "masking.hpp"
// vocabulary: vocab-reduce
#include "sampling.hpp"
#include "selection.hpp"
#include "std_logsumexp.hpp"

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

  // vocabulary: vocab-reduce
  static Tensor<T> min(const Tensor<T>& self) { return tapegrad::min(self); }
  static Tensor<T> min(const Tensor<T>& self, int64_t dim, bool keepdim) { return tapegrad::min(self, dim, keepdim); }
  static Tensor<T> argmax(const Tensor<T>& self) { return tapegrad::argmax(self); }
  static Tensor<T> argmax(const Tensor<T>& self, int64_t dim, bool keepdim) { return tapegrad::argmax(self, dim, keepdim); }
  static Tensor<T> argmin(const Tensor<T>& self) { return tapegrad::argmin(self); }
  static Tensor<T> argmin(const Tensor<T>& self, int64_t dim, bool keepdim) { return tapegrad::argmin(self, dim, keepdim); }
  static Tensor<T> std(const Tensor<T>& self) { return tapegrad::std(self); }
  static Tensor<T> std(const Tensor<T>& self, int64_t dim, bool unbiased, bool keepdim) { return tapegrad::std(self, dim, unbiased, keepdim); }
  static Tensor<T> logsumexp(const Tensor<T>& self, int64_t dim, bool keepdim) { return tapegrad::logsumexp(self, dim, keepdim); }
  static std::pair<Tensor<T>, Tensor<T>> topk(const Tensor<T>& self, int64_t k, int64_t dim, bool largest, bool sorted) {
    return tapegrad::topk(self, k, dim, largest, sorted);
  }
  static Tensor<T> multinomial(const Tensor<T>& self, int64_t num_samples, bool replacement) { return tapegrad::multinomial(self, num_samples, replacement); }

  static Tensor<T> reshape(const Tensor<T>& self, IntArrayRef shape) { return tapegrad::reshape(self, shape); }
  static Tensor<T> view(const Tensor<T>& self, IntArrayRef shape) { return tapegrad::view(self, shape); }
  static Tensor<T> flatten(const Tensor<T>& self, int64_t start, int64_t end) { return tapegrad::flatten(self, start, end); }
  static Tensor<T> unsqueeze(const Tensor<T>& self, int64_t d) { return tapegrad::unsqueeze(self, d); }
  static Tensor<T> squeeze(const Tensor<T>& self) { return tapegrad::squeeze(self); }
  static Tensor<T> squeeze(const Tensor<T>& self, int64_t d) { return tapegrad::squeeze(self, d); }
  static Tensor<T> t(const Tensor<T>& self) { return tapegrad::t(self); }
  static Tensor<T> transpose(const Tensor<T>& self, int64_t d0, int64_t d1) { return tapegrad::transpose(self, d0, d1); }
  static Tensor<T> narrow(const Tensor<T>& self, int64_t dim, int64_t start, int64_t length) { return tapegrad::narrow(self, dim, start, length); }
  static Tensor<T> matmul(const Tensor<T>& self, const Tensor<T>& other) { return tapegrad::matmul(self, other); }
  // vocabulary: vocab-elem
  static Tensor<T> sin(const Tensor<T>& self) { return tapegrad::sin(self); }
  static Tensor<T> cos(const Tensor<T>& self) { return tapegrad::cos(self); }
  static Tensor<T> erf(const Tensor<T>& self) { return tapegrad::erf(self); }
  static Tensor<T> square(const Tensor<T>& self) { return tapegrad::square(self); }
  static Tensor<T> rsqrt(const Tensor<T>& self) { return tapegrad::rsqrt(self); }
  static Tensor<T> log1p(const Tensor<T>& self) { return tapegrad::log1p(self); }
  static Tensor<T> expm1(const Tensor<T>& self) { return tapegrad::expm1(self); }
  static Tensor<T> clamp(const Tensor<T>& self, std::optional<double> min, std::optional<double> max) { return tapegrad::clamp(self, min, max); }
  static Tensor<T> clamp_min(const Tensor<T>& self, double min) { return tapegrad::clamp_min(self, min); }
  static Tensor<T> clamp_max(const Tensor<T>& self, double max) { return tapegrad::clamp_max(self, max); }
  static Tensor<T> minimum(const Tensor<T>& self, const Tensor<T>& other) { return tapegrad::minimum(self, other); }
  static Tensor<T> maximum(const Tensor<T>& self, const Tensor<T>& other) { return tapegrad::maximum(self, other); }
  static Tensor<T> where(const Tensor<T>& condition, const Tensor<T>& self, const Tensor<T>& other) { return tapegrad::where(condition, self, other); }
  static Tensor<T> masked_fill(const Tensor<T>& self, const Tensor<T>& mask, double value) { return tapegrad::masked_fill(self, mask, value); }
  static Tensor<T> masked_fill(const Tensor<T>& self, const Tensor<T>& mask, const Tensor<T>& value) { return tapegrad::masked_fill(self, mask, value); }
  static Tensor<T> tril(const Tensor<T>& self, int64_t diagonal) { return tapegrad::tril(self, diagonal); }
  static Tensor<T> triu(const Tensor<T>& self, int64_t diagonal) { return tapegrad::triu(self, diagonal); }
  // end vocabulary: vocab-elem

  // vocabulary: vocab-index
  static std::vector<Tensor<T>> split(const Tensor<T>& self, int64_t size, int64_t dim) { return tapegrad::split(self, size, dim); }
  static std::vector<Tensor<T>> split(const Tensor<T>& self, const std::vector<int64_t>& sizes, int64_t dim) { return tapegrad::split(self, sizes, dim); }
  static std::vector<Tensor<T>> chunk(const Tensor<T>& self, int64_t chunks, int64_t dim) { return tapegrad::chunk(self, chunks, dim); }
  static Tensor<T> select(const Tensor<T>& self, int64_t dim, int64_t index) { return tapegrad::select(self, dim, index); }
  static Tensor<T> index_select(const Tensor<T>& self, int64_t dim, const Tensor<T>& index) { return tapegrad::index_select(self, dim, index); }
  static Tensor<T> gather(const Tensor<T>& self, int64_t dim, const Tensor<T>& index) { return tapegrad::gather(self, dim, index); }
  static Tensor<T> permute(const Tensor<T>& self, IntArrayRef dims) { return tapegrad::permute(self, dims); }
  static Tensor<T> expand(const Tensor<T>& self, IntArrayRef shape) { return tapegrad::expand(self, shape); }
  static Tensor<T> contiguous(const Tensor<T>& self) { return tapegrad::contiguous(self); }
};

}  // namespace detail

}  // namespace tapegrad
