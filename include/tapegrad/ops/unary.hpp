#pragma once
// Elementwise functions: exp, log, sqrt, abs, pow, tanh, sigmoid, relu. Each backward is the
// derivative written beside its forward, in PyTorch's order of operations.
#include <cmath>

#include "arithmetic.hpp"

namespace tapegrad {
namespace detail {

// Records a one-input elementwise op whose backward is gx = derivative(g, saved), written
// once for values and for tensors (see elementwise). An output is saved detached and unpacked
// by its node, an input as it is.
template <class T, class D>
void record_unary(Tensor<T>& out, const char* name, const Tensor<T>& x, bool saves_output, D derivative) {
  if (!any_requires_grad(x)) return;
  record(out, name, [saved = saves_output ? out.detach() : x, saves_output, derivative](const Tensor<T>& g, GradOut<T>& in) {
    in[0] = elementwise(derivative, g, saves_output ? in.output(saved) : saved);
  }, x);
}

template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T sign(T x) {  // sign(0) = 0 and sign(NaN) = NaN (Eigen's sign)
  return std::isnan(x) ? x : T((x > T(0)) - (x < T(0)));
}

// sign(x) as a tensor: a recorded op whose derivative is zero (PyTorch's sgn), so |x|'s
// gradient g * sign(x) still depends on x and its second derivative is 0, not missing.
template <class T>
Tensor<T> sign(const Tensor<T>& x) {
  Tensor<T> y = map_tensor(x, [](T v) { return sign(v); });
  if (any_requires_grad(x)) {
    record(y, "SignBackward", [](const Tensor<T>& g, GradOut<T>& in) { in[0] = zeros_like(g); }, x);
  }
  return y;
}

// relu's backward as an op of its own (PyTorch's threshold_backward): g where y > 0, else 0;
// linear in g, and of zero derivative in y.
template <class T>
Tensor<T> relu_backward(const Tensor<T>& g, const Tensor<T>& y);

// relu_backward's own node: only create_graph records it (cold: compiled for size).
template <class T>
TAPEGRAD_COLD void record_relu_backward(Tensor<T>& gx, const Tensor<T>& g, const Tensor<T>& y) {
  record(gx, "ThresholdBackwardBackward", [y](const Tensor<T>& gg, GradOut<T>& in) {
    if (in.needed(0)) in[0] = relu_backward(gg, y);
    if (in.needed(1)) in[1] = zeros_like(gg);
  }, g, y);
}

template <class T>
Tensor<T> relu_backward(const Tensor<T>& g, const Tensor<T>& y) {
  Tensor<T> gx = zip_tensor(g, y, [](T gv, T yv) { return yv <= T(0) ? T(0) : gv; });  // relu'(0) = 0
  if (any_requires_grad(g, y)) record_relu_backward(gx, g, y);
  return gx;
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
  // Eigen 3.4's vectorised exp is not PyTorch's where the result is subnormal: SSE and AVX clamp
  // the argument at -88.723 (float) / -709.784 (double), AVX-512 flushes every subnormal result
  // to 0. Below log of the smallest normal (-87.34 / -708.40), std::exp redoes them.
  const T clamp = std::is_same_v<T, float> ? T(-87.33) : T(-708.39);
  const T* px = x.data();
  T* py = y.data();
  for (int64_t i = 0, n = y.numel(); i < n; ++i) {
    if (px[i] < clamp) py[i] = std::exp(px[i]);
  }
  detail::record_unary(y, "ExpBackward", x, true, [](auto g, auto y) { return g * y; });
  return y;
}

template <class T>
Tensor<T> log(const Tensor<T>& x) {
  x.checked("log");
  Tensor<T> y = detail::make_tensor<T>(x.sizes());
  detail::log_values(x.data(), y.data(), x.numel());
  detail::record_unary(y, "LogBackward", x, false, [](auto g, auto x) { return g / x; });
  return y;
}

template <class T>
Tensor<T> sqrt(const Tensor<T>& x) {
  x.checked("sqrt");
  Tensor<T> y = detail::make_tensor<T>(x.sizes());
  detail::sqrt_values(x.data(), y.data(), x.numel(), false);  // correctly rounded
  detail::record_unary(y, "SqrtBackward", x, true, [](auto g, auto y) { return g / (2 * y); });
  return y;
}

template <class T>
Tensor<T> abs(const Tensor<T>& x) {
  x.checked("abs");
  Tensor<T> y = detail::map_tensor(x, [](T v) { return std::abs(v); });
  // d|x| = sign(x)
  detail::record_unary(y, "AbsBackward", x, false, [](auto g, auto x) { return g * detail::sign(x); });
  return y;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> pow(const Tensor<T>& x, S exponent) {
  const T p = static_cast<T>(exponent);
  x.checked("pow");
  Tensor<T> y = detail::pow_values(x, p);
  if (detail::any_requires_grad(x)) {
    detail::record(y, "PowBackward", [p, x](const Tensor<T>& g, detail::GradOut<T>& in) {
      // d x^p = p x^(p-1); a zero exponent has zero gradient
      if (p == T(0)) {
        in[0] = g * T(0);
      } else {
        in[0] = detail::elementwise([p](auto gv, auto dv) { return gv * (p * dv); }, g, pow(x, p - T(1)));
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
  detail::record_unary(y, "TanhBackward", x, true, [](auto g, auto y) { return g * (1 - y * y); });
  return y;
}

template <class T>
Tensor<T> sigmoid(const Tensor<T>& x) {
  // 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving exactly 0, never NaN.
  x.checked("sigmoid");
  Tensor<T> y = detail::negated(x);
  detail::exp_values(y.data(), y.data(), y.numel());
  detail::map_values(y.data(), y.data(), y.numel(), [](T e) { return T(1) / (T(1) + e); });
  detail::record_unary(y, "SigmoidBackward", x, true, [](auto g, auto y) { return g * (1 - y) * y; });
  return y;
}

template <class T>
Tensor<T> relu(const Tensor<T>& x) {
  // x < 0 ? 0 : x lets NaN through, as PyTorch does
  x.checked("relu");
  Tensor<T> y = detail::map_tensor(x, [](T v) { return v < T(0) ? T(0) : v; });
  if (detail::any_requires_grad(x)) {
    detail::record(y, "ReluBackward", [ys = y.detach()](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::relu_backward(g, in.output(ys));
    }, x);
  }
  return y;
}

namespace detail {

// g * w where w != 0, else 0 (w a constant tensor of g's shape, values 0, 1/2 or 1): the masked
// gradient of where, masked_fill, clamp, clamp_min, minimum and maximum. A zero weight gives 0 even for an
// inf or NaN g, as PyTorch's where(mask, grad, 0) does; g * 1 and g * 0.5 are g and g / 2 exactly.
// Linear in g, so its own backward is gate(gg, w).
template <class T>
Tensor<T> gate(const Tensor<T>& g, const Tensor<T>& w);

template <class T>
TAPEGRAD_COLD void record_gate(Tensor<T>& out, const Tensor<T>& g, const Tensor<T>& w) {
  record(out, "WhereBackward0", [w](const Tensor<T>& gg, GradOut<T>& in) { in[0] = gate(gg, w); }, g);
}

template <class T>
Tensor<T> gate(const Tensor<T>& g, const Tensor<T>& w) {
  Tensor<T> out = zip_tensor(g, w, [](T gv, T wv) { return wv == T(0) ? T(0) : gv * wv; });
  if (any_requires_grad(g)) record_gate(out, g, w);
  return out;
}

}  // namespace detail

// max(x, lo) elementwise (NaN stays NaN; a NaN lo gives NaN everywhere); the gradient passes
// where x >= lo, masked (an inf or NaN g where x < lo gives 0, as PyTorch's
// where(self >= min, grad, 0)).
template <class T>
Tensor<T> clamp_min(const Tensor<T>& x, double lo) {
  x.checked("clamp_min");
  const T v = static_cast<T>(lo);
  // a NaN bound gives NaN everywhere, as torch 1.13's clamp_min_out fills it (clamp(x, NaN) does not)
  Tensor<T> y = std::isnan(v) ? detail::make_tensor<T>(x.sizes()).fill_(v)
                              : detail::map_tensor(x, [v](T e) { return std::max(e, v); });
  if (detail::any_requires_grad(x)) {
    detail::record(y, "ClampMinBackward", [x, v](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::gate(g, detail::map_tensor(x, [v](T e) { return e >= v ? T(1) : T(0); }));
    }, x);
  }
  return y;
}

namespace detail {

// Scalar twins of the tensor functions, so a derivative formula written once as a generic
// lambda runs on values (in a fused loop) and on tensors (under create_graph) alike: called
// unqualified from tapegrad::detail, a value finds these and a tensor the ops (by ADL).
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T log(T x) {
  return std::log(x);
}
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T clamp_min(T x, T lo) {
  return std::max(x, lo);
}

}  // namespace detail

}  // namespace tapegrad
