#pragma once
// Elementwise functions: exp, log, sqrt, abs, pow, tanh, sigmoid, relu. Each backward is the
// derivative written beside its forward, in PyTorch's order of operations.
#include <cmath>

#include "arithmetic.hpp"

namespace tapegrad {
namespace detail {

// Records a one-input elementwise op whose backward is gx[i] = derivative(g[i], saved[i]).
template <class T, class D>
void record_unary(Tensor<T>& out, const char* name, const Tensor<T>& x, Tensor<T> saved, D derivative) {
  if (!any_requires_grad(x)) return;
  record(out, name, [saved = std::move(saved), derivative](const Tensor<T>& g, GradOut<T>& in) {
    in[0] = zip_tensor(g, saved, derivative);
  }, x);
}

// x ** p with PyTorch's special exponents, so results match it bit for bit (square roots
// correctly rounded).
template <class T>
Tensor<T> pow_values(const Tensor<T>& x, T p) {
  if (p == T(0)) return make_tensor<T>(x.sizes()).fill_(T(1));  // 1 even for inf and NaN, as PyTorch
  if (p == T(1)) return map_tensor(x, [](T v) { return v; });
  if (p == T(2)) return map_tensor(x, [](T v) { return v * v; });
  if (p == T(3)) return map_tensor(x, [](T v) { return v * v * v; });
  if (p == T(0.5) || p == T(-0.5)) {
    Tensor<T> y = make_tensor<T>(x.sizes());
    sqrt_values(x.data(), y.data(), x.numel(), p < T(0));
    return y;
  }
  if (p == T(-1)) return map_tensor(x, [](T v) { return T(1) / v; });
  if (p == T(-2)) return map_tensor(x, [](T v) { return T(1) / (v * v); });
  Tensor<T> y = make_tensor<T>(x.sizes());
  pow_scalar_values(x.data(), y.data(), x.numel(), p);
  return y;
}

}  // namespace detail

template <class T>
Tensor<T> exp(const Tensor<T>& x) {
  x.checked("exp");
  Tensor<T> y = detail::make_tensor<T>(x.sizes());
  detail::exp_values(x.data(), y.data(), x.numel());
  // Eigen 3.4's vectorized exp clamps its argument at -88.723 (float) / -709.784 (double), giving
  // a denormal for every x below where the true value (and PyTorch's) is smaller or 0: redo those.
  const T clamp = std::is_same_v<T, float> ? T(-88.72) : T(-709.78);
  const T* px = x.data();
  T* py = y.data();
  for (int64_t i = 0, n = y.numel(); i < n; ++i) {
    if (px[i] < clamp) py[i] = std::exp(px[i]);
  }
  detail::record_unary(y, "ExpBackward", x, y.detach(), [](T g, T y) { return g * y; });
  return y;
}

template <class T>
Tensor<T> log(const Tensor<T>& x) {
  x.checked("log");
  Tensor<T> y = detail::make_tensor<T>(x.sizes());
  detail::log_values(x.data(), y.data(), x.numel());
  detail::record_unary(y, "LogBackward", x, x.detach(), [](T g, T x) { return g / x; });
  return y;
}

template <class T>
Tensor<T> sqrt(const Tensor<T>& x) {
  x.checked("sqrt");
  Tensor<T> y = detail::make_tensor<T>(x.sizes());
  detail::sqrt_values(x.data(), y.data(), x.numel(), false);  // correctly rounded
  detail::record_unary(y, "SqrtBackward", x, y.detach(), [](T g, T y) { return g / (2 * y); });
  return y;
}

template <class T>
Tensor<T> abs(const Tensor<T>& x) {
  x.checked("abs");
  Tensor<T> y = detail::map_tensor(x, [](T v) { return std::abs(v); });
  // d|x| = sign(x), with sign(0) = 0 and sign(NaN) = NaN (Eigen's sign)
  detail::record_unary(y, "AbsBackward", x, x.detach(), [](T g, T x) {
    return g * (std::isnan(x) ? x : T((x > T(0)) - (x < T(0))));
  });
  return y;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> pow(const Tensor<T>& x, S exponent) {
  const T p = static_cast<T>(exponent);
  x.checked("pow");
  Tensor<T> y = detail::pow_values(x, p);
  if (detail::any_requires_grad(x)) {
    detail::record(y, "PowBackward", [p, xs = x.detach()](const Tensor<T>& g, detail::GradOut<T>& in) {
      // d x^p = p x^(p-1); a zero exponent has zero gradient
      if (p == T(0)) {
        in[0] = detail::map_tensor(g, [](T v) { return v * T(0); });
      } else {
        Tensor<T> d = detail::pow_values(xs, p - T(1));
        in[0] = detail::zip_tensor(g, d, [p](T gv, T dv) { return gv * (p * dv); });
      }
    }, x);
  }
  return y;
}

template <class T>
Tensor<T> tanh(const Tensor<T>& x) {
  x.checked("tanh");
  Tensor<T> y = detail::make_tensor<T>(x.sizes());
  detail::tanh_values(x.data(), y.data(), x.numel());
  detail::record_unary(y, "TanhBackward", x, y.detach(), [](T g, T y) { return g * (1 - y * y); });
  return y;
}

template <class T>
Tensor<T> sigmoid(const Tensor<T>& x) {
  // 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving exactly 0, never NaN.
  x.checked("sigmoid");
  Tensor<T> y = detail::negated(x);
  detail::exp_values(y.data(), y.data(), y.numel());
  detail::map_values(y.data(), y.data(), y.numel(), [](T e) { return T(1) / (T(1) + e); });
  detail::record_unary(y, "SigmoidBackward", x, y.detach(), [](T g, T y) { return g * (1 - y) * y; });
  return y;
}

template <class T>
Tensor<T> relu(const Tensor<T>& x) {
  // x < 0 ? 0 : x lets NaN through, as PyTorch does
  x.checked("relu");
  Tensor<T> y = detail::map_tensor(x, [](T v) { return v < T(0) ? T(0) : v; });
  detail::record_unary(y, "ReluBackward", x, y.detach(), [](T g, T y) { return y <= T(0) ? T(0) : g; });  // relu'(0) = 0
  return y;
}

}  // namespace tapegrad
