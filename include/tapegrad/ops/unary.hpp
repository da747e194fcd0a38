#pragma once
// Elementwise functions: exp, log, sqrt, abs, pow, tanh, sigmoid, relu. Each backward is the
// derivative written beside its forward, in PyTorch's order of operations.
#include <cmath>

#include "arithmetic.hpp"

namespace tapegrad {
namespace detail {

// Records a one-input elementwise op whose backward is `gx = derivative(g, saved)`.
template <class T, class D>
void record_unary(Tensor<T>& out, const char* name, const Tensor<T>& x, Tensor<T> saved, D derivative) {
  if (!any_requires_grad(x)) return;
  record(out, name, [saved = std::move(saved), derivative](const Tensor<T>& g, GradOut<T>& in) {
    in[0] = evaluate<T>(g.sizes(), derivative(array(g), array(saved)));
  }, x);
}

// x ** p with PyTorch's special exponents, so results match it bit for bit.
template <class T>
Tensor<T> pow_values(const Tensor<T>& x, T p) {
  auto a = array(x);
  const Dims& s = x.sizes();
  if (p == T(0)) return make_tensor<T>(s).fill_(T(1));  // 1 even for inf and NaN, as PyTorch
  if (p == T(1)) return evaluate<T>(s, a);
  if (p == T(2)) return evaluate<T>(s, a * a);
  if (p == T(3)) return evaluate<T>(s, a * a * a);
  if (p == T(0.5)) return evaluate<T>(s, exact_sqrt(a));
  if (p == T(-0.5)) return evaluate<T>(s, exact_sqrt(a).inverse());
  if (p == T(-1)) return evaluate<T>(s, a.inverse());
  if (p == T(-2)) return evaluate<T>(s, (a * a).inverse());
  return evaluate<T>(s, a.pow(p));
}

}  // namespace detail

template <class T>
Tensor<T> exp(const Tensor<T>& x) {
  x.checked("exp");  // before the expression below reads it
  Tensor<T> y = detail::evaluate<T>(x.sizes(), detail::array(x).exp());
  // Eigen 3.4's vectorized exp clamps its argument at -88.723 (float) / -709.784 (double), giving
  // a denormal for every x below where the true value (and PyTorch's) is smaller or 0: redo those.
  const T clamp = std::is_same_v<T, float> ? T(-88.72) : T(-709.78);
  const T* px = x.data();
  T* py = y.data();
  for (int64_t i = 0, n = y.numel(); i < n; ++i) {
    if (px[i] < clamp) py[i] = std::exp(px[i]);
  }
  detail::record_unary(y, "ExpBackward", x, y.detach(), [](const auto& g, const auto& y) { return g * y; });
  return y;
}

template <class T>
Tensor<T> log(const Tensor<T>& x) {
  x.checked("log");  // before the expression below reads it
  Tensor<T> y = detail::evaluate<T>(x.sizes(), detail::array(x).log());
  detail::record_unary(y, "LogBackward", x, x.detach(), [](const auto& g, const auto& x) { return g / x; });
  return y;
}

template <class T>
Tensor<T> sqrt(const Tensor<T>& x) {
  x.checked("sqrt");  // before the expression below reads it
  Tensor<T> y = detail::evaluate<T>(x.sizes(), detail::exact_sqrt(detail::array(x)));
  detail::record_unary(y, "SqrtBackward", x, y.detach(), [](const auto& g, const auto& y) { return g / (2 * y); });
  return y;
}

template <class T>
Tensor<T> abs(const Tensor<T>& x) {
  x.checked("abs");  // before the expression below reads it
  Tensor<T> y = detail::evaluate<T>(x.sizes(), detail::array(x).abs());
  // d|x| = sign(x), with sign(0) = 0
  detail::record_unary(y, "AbsBackward", x, x.detach(), [](const auto& g, const auto& x) { return g * x.sign(); });
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
        in[0] = detail::evaluate<T>(g.sizes(), detail::array(g) * T(0));
      } else {
        Tensor<T> d = detail::pow_values(xs, p - T(1));
        in[0] = detail::evaluate<T>(g.sizes(), detail::array(g) * (p * detail::array(d)));
      }
    }, x);
  }
  return y;
}

template <class T>
Tensor<T> tanh(const Tensor<T>& x) {
  x.checked("tanh");  // before the expression below reads it
  Tensor<T> y = detail::evaluate<T>(x.sizes(), detail::array(x).tanh());
  detail::record_unary(y, "TanhBackward", x, y.detach(), [](const auto& g, const auto& y) { return g * (1 - y * y); });
  return y;
}

template <class T>
Tensor<T> sigmoid(const Tensor<T>& x) {
  // 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving exactly 0, never NaN.
  x.checked("sigmoid");  // before the expression below reads it
  Tensor<T> y = detail::evaluate<T>(x.sizes(), (T(1) + (-detail::array(x)).exp()).inverse());
  detail::record_unary(y, "SigmoidBackward", x, y.detach(), [](const auto& g, const auto& y) { return g * (1 - y) * y; });
  return y;
}

template <class T>
Tensor<T> relu(const Tensor<T>& x) {
  // x < 0 ? 0 : x lets NaN through, as PyTorch does
  x.checked("relu");  // before the expression below reads it
  Tensor<T> y = detail::evaluate<T>(x.sizes(),
                                    detail::array(x).unaryExpr([](T v) { return v < T(0) ? T(0) : v; }));
  detail::record_unary(y, "ReluBackward", x, y.detach(), [](const auto& g, const auto& y) {
    return g.binaryExpr(y, [](T gv, T yv) { return yv <= T(0) ? T(0) : gv; });  // relu'(0) = 0
  });
  return y;
}

}  // namespace tapegrad
