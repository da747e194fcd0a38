#pragma once
// nn::utils::clip_grad_norm_, as torch.nn.utils.clip_grad_norm_ (PyTorch 1.13) and libtorch's:
// the total norm is the norm of the per-parameter gradient norms; every gradient is scaled in
// place by min(1, max_norm / (total + 1e-6)); returns the total norm as a double.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <vector>

#include "../core/autograd.hpp"

namespace tapegrad::nn::utils {

namespace impl {

// The norm of order p of n values (p > 0, or inf); sums in double.
template <class T>
double norm_of(const T* x, int64_t n, double p) {
  if (std::isinf(p)) {
    double m = 0;
    for (int64_t j = 0; j < n; ++j) {  // x: (numel)
      const double v = std::abs(static_cast<double>(x[j]));
      if (std::isnan(v)) return v;  // a NaN is the max, as torch's max (std::max would drop it)
      m = std::max(m, v);
    }
    return m;
  }
  double sum = 0;
  if (p == 2) {
    for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(x[j]) * static_cast<double>(x[j]);
    return std::sqrt(sum);
  }
  if (p == 1) {
    for (int64_t j = 0; j < n; ++j) sum += std::abs(static_cast<double>(x[j]));
    return sum;
  }
  for (int64_t j = 0; j < n; ++j) sum += std::pow(std::abs(static_cast<double>(x[j])), p);
  return std::pow(sum, 1 / p);
}

}  // namespace impl

template <class T>
double clip_grad_norm_(const std::vector<Tensor<T>>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false) {
  detail::check(max_norm >= 0, "clip_grad_norm_: max_norm must be >= 0, got ", max_norm);
  detail::check((norm_type > 0 && !std::isnan(norm_type)), "clip_grad_norm_: norm_type must be positive or inf, got ",
                norm_type);
  std::vector<Tensor<T>> grads;
  for (const Tensor<T>& p : parameters) {
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return 0.0;
  // Each gradient's norm, rounded to T as torch.norm gives it, then the norm of those.
  std::vector<T> norms(grads.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    norms[i] = static_cast<T>(impl::norm_of(grads[i].data(), grads[i].numel(), norm_type));
  }
  const T total = static_cast<T>(impl::norm_of(norms.data(), static_cast<int64_t>(norms.size()), norm_type));
  detail::check(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total norm of order ", norm_type,
                " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error "
                "and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=false`");
  // clip_coef = max_norm / (total + 1e-6) in T, as torch's reciprocal() * max_norm; clamped to 1
  const T denom = total + static_cast<T>(1e-6);
  T coef = (T(1) / denom) * static_cast<T>(max_norm);
  if (coef > T(1)) coef = T(1);  // torch.clamp(max=1.0) keeps a nan
  for (Tensor<T>& g : grads) {
    T* d = g.data();
    const int64_t n = g.numel();
    for (int64_t j = 0; j < n; ++j) d[j] *= coef;  // grad: (numel), grad.detach().mul_(clip_coef)
  }
  return static_cast<double>(total);
}

template <class T>
double clip_grad_norm_(const Tensor<T>& parameter, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false) {
  return clip_grad_norm_(std::vector<Tensor<T>>{parameter}, max_norm, norm_type, error_if_nonfinite);
}

// A braced list, clip_grad_norm_({w, b}, 1.0), as libtorch's std::vector parameter takes one.
template <class T>
double clip_grad_norm_(std::initializer_list<Tensor<T>> parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false) {
  return clip_grad_norm_(std::vector<Tensor<T>>(parameters), max_norm, norm_type, error_if_nonfinite);
}

}  // namespace tapegrad::nn::utils
