#pragma once
// More elementwise functions, PyTorch's vocabulary: sin, cos, square, rsqrt, log1p, expm1,
// clamp / clamp_max (clamp_min is in unary.hpp), minimum, maximum. Values per element with the
// std:: functions (correctly rounded or within an ulp, as PyTorch's Sleef kernels), rsqrt as
// 1 / sqrt (PyTorch's kernel); each derivative is its derivatives.yaml formula written once,
// beside its forward, for values and for tensors, so create_graph differentiates it again.
#include <cmath>
#include <limits>
#include <optional>

#include "activation.hpp"
#include "unary.hpp"

// detail::gate(g, w), the masked gradient of where, masked_fill, clamp, minimum and maximum, is
// in unary.hpp (clamp_min's uses it too).
namespace tapegrad {

template <class T>
Tensor<T> sin(const Tensor<T>& x);
template <class T>
Tensor<T> cos(const Tensor<T>& x);

namespace detail {
namespace elem {

// Scalar twins of the tensor functions the derivatives use: a value finds these, a tensor the
// ops (by ADL).
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T sin(T x) {
  return std::sin(x);
}
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T cos(T x) {
  return std::cos(x);
}

using act::scalar_of_t;

// d sin = cos: grad * self.cos()
struct SinDerivative {
  template <class G, class X>
  auto operator()(const G& g, const X& x) const {
    return g * cos(x);
  }
};

// d cos = -sin: grad * -self.sin()
struct CosDerivative {
  template <class G, class X>
  auto operator()(const G& g, const X& x) const {
    return g * -sin(x);
  }
};

// square is pow(x, 2) in PyTorch 1.13: grad * (2 * self)
struct SquareDerivative {
  template <class G, class X>
  auto operator()(const G& g, const X& x) const {
    using S = scalar_of_t<X>;
    return g * (S(2) * x);
  }
};

// d x^-1/2 = -1/2 y^3: -0.5 * grad * result.pow(3)
struct RsqrtDerivative {
  template <class G, class Y>
  auto operator()(const G& g, const Y& y) const {
    using S = scalar_of_t<Y>;
    return (S(-0.5) * g) * (y * y * y);
  }
};

// d log(1 + x) = 1 / (1 + x): grad / (self + 1)
struct Log1pDerivative {
  template <class G, class X>
  auto operator()(const G& g, const X& x) const {
    using S = scalar_of_t<X>;
    return g / (x + S(1));
  }
};

// d (e^x - 1) = e^x = y + 1: grad * (result + 1)
struct Expm1Derivative {
  template <class G, class Y>
  auto operator()(const G& g, const Y& y) const {
    using S = scalar_of_t<Y>;
    return g * (y + S(1));
  }
};

// NaN-propagating maximum and minimum, as PyTorch's vectorised kernels: a NaN on either side
// gives NaN; a tie gives b (so the sign of a tie between 0 and -0 is b's).
struct MaximumOp {
  template <class T>
  static T apply(T a, T b) {
    return a != a ? a : (b != b ? b : (a > b ? a : b));
  }
};
struct MinimumOp {
  template <class T>
  static T apply(T a, T b) {
    return a != a ? a : (b != b ? b : (a < b ? a : b));
  }
};

// maximum's gradient weights (derivatives.yaml): self: where(self == other, grad / 2,
// grad).masked_fill_(self < other, 0); other the same with self > other. A NaN on either side
// passes the whole gradient to both, as there.
struct MaximumSelfWeight {
  template <class T>
  static T apply(T a, T b) { return a == b ? T(0.5) : (a < b ? T(0) : T(1)); }
};
struct MaximumOtherWeight {
  template <class T>
  static T apply(T a, T b) { return a == b ? T(0.5) : (a > b ? T(0) : T(1)); }
};

// Records minimum's or maximum's backward: each side's weights on the broadcast shape, the
// gradient gated by them and summed back to the side's shape.
template <class SelfWeight, class OtherWeight, class T>
void record_min_max(Tensor<T>& out, const char* name, const Tensor<T>& a, const Tensor<T>& b) {
  record(out, name, [a, b](const Tensor<T>& g, GradOut<T>& in) {
    if (in.needed(0)) in[0] = sum_to(gate(g, broadcast_binary<SelfWeight>(a, b, "maximum")), a.sizes());
    if (in.needed(1)) in[1] = sum_to(gate(g, broadcast_binary<OtherWeight>(a, b, "maximum")), b.sizes());
  }, a, b);
}

// Applies a scalar function to every element of x, recording `derivative` (see record_unary).
template <class T, class F, class D>
Tensor<T> map_unary(const Tensor<T>& x, const char* op, const char* node, bool saves_output, F f, D derivative) {
  x.checked(op);
  Tensor<T> y = map_tensor(x, f);
  record_unary(y, node, x, saves_output, derivative);
  return y;
}

}  // namespace elem

// clamp's gradient weight: 1 inside [lo, hi] (the bounds included, as
// PyTorch's clamp_backward), else 0 (NaN included).
template <class T>
Tensor<T> clamp_weights(const Tensor<T>& x, std::optional<T> lo, std::optional<T> hi) {
  return map_tensor(x, [lo, hi](T v) { return (!lo || v >= *lo) && (!hi || v <= *hi) ? T(1) : T(0); });
}

}  // namespace detail

template <class T>
Tensor<T> sin(const Tensor<T>& x) {
  return detail::elem::map_unary(x, "sin", "SinBackward0", false, [](T v) { return std::sin(v); }, detail::elem::SinDerivative());
}

template <class T>
Tensor<T> cos(const Tensor<T>& x) {
  return detail::elem::map_unary(x, "cos", "CosBackward0", false, [](T v) { return std::cos(v); }, detail::elem::CosDerivative());
}

template <class T>
Tensor<T> square(const Tensor<T>& x) {
  return detail::elem::map_unary(x, "square", "PowBackward0", false, [](T v) { return v * v; }, detail::elem::SquareDerivative());
}

// 1 / sqrt(x), the correctly rounded square root divided into 1 (PyTorch's kernel).
template <class T>
Tensor<T> rsqrt(const Tensor<T>& x) {
  x.checked("rsqrt");
  Tensor<T> y = detail::make_tensor<T>(x.sizes());
  detail::sqrt_values(x.data(), y.data(), x.numel(), true);
  detail::record_unary(y, "RsqrtBackward0", x, true, detail::elem::RsqrtDerivative());
  return y;
}

template <class T>
Tensor<T> log1p(const Tensor<T>& x) {
  return detail::elem::map_unary(x, "log1p", "Log1PBackward0", false, [](T v) { return std::log1p(v); }, detail::elem::Log1pDerivative());
}

template <class T>
Tensor<T> expm1(const Tensor<T>& x) {
  return detail::elem::map_unary(x, "expm1", "Expm1Backward0", true, [](T v) { return std::expm1(v); }, detail::elem::Expm1Derivative());
}

namespace detail {

// min(max(x, lo), hi) for the bounds given, recorded as `node`.
template <class T>
Tensor<T> clamp_bounds(const Tensor<T>& x, std::optional<double> min, std::optional<double> max, const char* node) {
  const std::optional<T> lo = min ? std::optional<T>(static_cast<T>(*min)) : std::nullopt;
  const std::optional<T> hi = max ? std::optional<T>(static_cast<T>(*max)) : std::nullopt;
  Tensor<T> y;
  if (lo && hi && (std::isnan(*lo) || std::isnan(*hi))) {
    y = make_tensor<T>(x.sizes()).fill_(std::numeric_limits<T>::quiet_NaN());
  } else {
    // std::min(std::max(v, lo), hi): max(v, lo) = v < lo ? lo : v, min(m, hi) = hi < m ? hi : m,
    // so one NaN bound alone changes nothing
    y = map_tensor(x, [lo, hi](T v) {
      const T m = lo && v < *lo ? *lo : v;
      return hi && *hi < m ? *hi : m;
    });
  }
  if (any_requires_grad(x)) {
    record(y, node, [x, lo, hi](const Tensor<T>& g, GradOut<T>& in) { in[0] = gate(g, clamp_weights(x, lo, hi)); }, x);
  }
  return y;
}

}  // namespace detail

// min(max(x, lo), hi) elementwise, as torch.clamp: a NaN x stays NaN; a NaN bound, with both
// given, makes every element NaN (one NaN bound alone changes nothing); lo > hi gives hi
// everywhere. Either bound may be left out (std::nullopt), not both. The gradient passes where
// lo <= x <= hi, the bounds included.
template <class T>
Tensor<T> clamp(const Tensor<T>& x, std::optional<double> min, std::optional<double> max = std::nullopt) {
  x.checked("clamp");
  detail::check(min.has_value() || max.has_value(), "clamp: at least one of min and max must be given");
  return detail::clamp_bounds(x, min, max, "ClampBackward1");
}

// min(x, hi) elementwise (NaN stays NaN); the gradient passes where x <= hi.
template <class T>
Tensor<T> clamp_max(const Tensor<T>& x, double max) {
  x.checked("clamp_max");
  return detail::clamp_bounds(x, std::nullopt, max, "ClampMaxBackward0");
}

// The elementwise maximum of a and b, broadcast together; NaN on either side gives NaN. At a
// tie each side gets half the gradient (PyTorch's derivatives.yaml).
template <class T>
Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::elem::MaximumOp>(a, b, "maximum");
  if (detail::any_requires_grad(a, b)) {
    detail::elem::record_min_max<detail::elem::MaximumSelfWeight, detail::elem::MaximumOtherWeight>(out, "MaximumBackward0", a, b);
  }
  return out;
}

// The elementwise minimum: maximum's gradient with the sides' roles swapped.
template <class T>
Tensor<T> minimum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::elem::MinimumOp>(a, b, "minimum");
  if (detail::any_requires_grad(a, b)) {
    detail::elem::record_min_max<detail::elem::MaximumOtherWeight, detail::elem::MaximumSelfWeight>(out, "MinimumBackward0", a, b);
  }
  return out;
}

}  // namespace tapegrad
