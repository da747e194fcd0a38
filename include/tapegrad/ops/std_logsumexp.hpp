#pragma once
// std and logsumexp, over all elements or one dim (viewed as (outer, n, inner), ReduceLayout):
// their forwards and backwards as PyTorch 1.13 writes them (derivatives.yaml's std_backward and
// logsumexp_backward), each backward reading the op's own result.
#include <cmath>
#include <limits>

#include "reduction.hpp"
#include "shape_ops.hpp"
#include "unary.hpp"

namespace tapegrad {
namespace detail {

// sqrt of the variance over the middle axis of (outer, n, inner) (var_middle: NaN for one
// element, unbiased, or none).
template <class T>
void std_middle(const T* x, T* out, const ReduceLayout& l, int64_t correction) {
  var_middle(x, out, static_cast<T*>(nullptr), l, correction);
  for (int64_t k = 0, n = l.outer * l.inner; k < n; ++k) out[k] = std::sqrt(out[k]);
}

template <class T>
Tensor<T> std_impl(const Tensor<T>& x, const ReduceLayout& l, bool unbiased) {
  const int64_t correction = unbiased ? 1 : 0;
  Tensor<T> out = make_tensor<T>(l.out_sizes);
  std_middle(x.data(), out.data(), l, correction);
  if (any_requires_grad(x)) {
    record(out, "StdBackward", [l, x, saved = out.detach(), correction](const Tensor<T>& g, GradOut<T>& in) {
      // torch's std_backward: grad_var = g / (2 std), 0 where std is 0; then var's backward,
      // grad_var * 2 (x - mean) / (n - correction). The zero mask is added under the division
      // so that no 0/0 (and no NaN in a second derivative) arises there.
      const Tensor<T> s = in.output(saved);
      const Tensor<T> zero = map_tensor(saved, [](T v) { return v == T(0) ? T(1) : T(0); });
      const Tensor<T> kept = map_tensor(saved, [](T v) { return v == T(0) ? T(0) : T(1); });
      const Tensor<T> grad_var = g / (2 * s + zero) * kept;
      const T scale = T(2) / static_cast<T>(l.n - correction);
      const Tensor<T> m = mean(x, l.dim, true);  // under create_graph a function of x too
      in[0] = elementwise([scale](auto gv, auto c) { return (scale * gv) * c; }, expand_reduced(grad_var, l.kept_sizes, x.sizes()), x - m);
    }, x);
  }
  return out;
}

// log(sum(exp(x))) over the middle axis, shifted by the row's max unless that is infinite (as
// torch: an all -inf row gives -inf, a row with +inf gives inf, a NaN gives NaN).
template <class T>
void logsumexp_middle(const T* x, T* out, const ReduceLayout& l) {
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) {
      const T* p = x + o * l.n * l.inner + i;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t k = 0; k < l.n && !std::isnan(m); ++k) {
        if (!(p[k * l.inner] <= m)) m = p[k * l.inner];
      }
      const T shift = std::isinf(m) ? T(0) : m;
      T s = 0;
      for (int64_t k = 0; k < l.n; ++k) s += std::exp(p[k * l.inner] - shift);
      out[o * l.inner + i] = std::log(s) + shift;
    }
  }
}

}  // namespace detail

// The standard deviation along dim, sqrt(var); the gradient is 0 where it is 0, as torch's.
template <class T>
Tensor<T> std(const Tensor<T>& x, int64_t dim, bool unbiased = true, bool keepdim = false) {
  return detail::std_impl(x, detail::reduce_layout(x.checked("std").sizes, dim, keepdim, "std"), unbiased);
}

// The unbiased standard deviation of all elements (no `bool unbiased`, as var()).
template <class T>
Tensor<T> std(const Tensor<T>& x) {
  x.checked("std");
  return std(reshape(x, {-1}), 0, true, false);
}

// log(sum(exp(x), dim)), computed stably; its gradient is g * exp(x - result).
template <class T>
Tensor<T> logsumexp(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  const auto l = detail::reduce_layout(x.checked("logsumexp").sizes, dim, keepdim, "logsumexp");
  Tensor<T> out = detail::make_tensor<T>(l.out_sizes);
  detail::logsumexp_middle(x.data(), out.data(), l);
  if (detail::any_requires_grad(x)) {
    detail::record(out, "LogsumexpBackward", [l, x, saved = out.detach()](const Tensor<T>& g, detail::GradOut<T>& in) {
      const Tensor<T> r = detail::expand_reduced(in.output(saved), l.kept_sizes, x.sizes());
      in[0] = detail::expand_reduced(g, l.kept_sizes, x.sizes()) * exp(x - r);
    }, x);
  }
  return out;
}

}  // namespace tapegrad
