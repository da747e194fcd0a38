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

// The norm of order p (p > 0, or inf) of values given one at a time, summed in double in
// the order they come.
struct NormOfValues {
  double p, sum = 0;
  bool nan = false;
  void add(double v) {
    const double a = std::abs(v);
    if (std::isinf(p)) {
      nan = nan || std::isnan(a);  // a NaN is the max, as torch's max (std::max would drop it)
      sum = std::max(sum, a);
    } else if (p == 2) {
      sum += v * v;
    } else if (p == 1) {
      sum += a;
    } else {
      sum += std::pow(a, p);
    }
  }
  double value() const {
    if (std::isinf(p)) return nan ? std::numeric_limits<double>::quiet_NaN() : sum;
    return p == 2 ? std::sqrt(sum) : p == 1 ? sum : std::pow(sum, 1 / p);
  }
};

template <class T>
double norm_of(const T* x, int64_t n, double p) {
  NormOfValues norm{p};
  for (int64_t j = 0; j < n; ++j) norm.add(static_cast<double>(x[j]));  // x: (numel)
  return norm.value();
}

}  // namespace impl

template <class T>
double clip_grad_norm_(const std::vector<Tensor<T>>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false) {
  detail::check(max_norm >= 0, "clip_grad_norm_: max_norm must be >= 0, got ", max_norm);
  detail::check((norm_type > 0 && !std::isnan(norm_type)), "clip_grad_norm_: norm_type must be positive or inf, got ",
                norm_type);
  // Each gradient's norm, rounded to T as torch.norm gives it, then the norm of those (no
  // list of them: clipping allocates nothing).
  impl::NormOfValues norms{norm_type};
  bool any = false;
  for (const Tensor<T>& p : parameters) {
    if (!p.defined() || !p.grad().defined()) continue;
    any = true;
    norms.add(static_cast<T>(impl::norm_of(p.grad().data(), p.grad().numel(), norm_type)));
  }
  if (!any) return 0.0;
  const T total = static_cast<T>(norms.value());
  detail::check(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total norm of order ", norm_type,
                " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error "
                "and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=false`");
  // clip_coef = max_norm / (total + 1e-6) in T, as torch's reciprocal() * max_norm; clamped to 1
  const T denom = total + static_cast<T>(1e-6);
  T coef = (T(1) / denom) * static_cast<T>(max_norm);
  if (coef > T(1)) coef = T(1);  // torch.clamp(max=1.0) keeps a nan
  for (const Tensor<T>& p : parameters) {
    if (!p.defined() || !p.grad().defined()) continue;
    T* d = p.grad().data();
    const int64_t n = p.grad().numel();
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
