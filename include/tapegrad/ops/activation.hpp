#pragma once
// Activations: erf, leaky_relu, gelu (exact and tanh), silu. Values in PyTorch 1.13's formulas
// (aten/src/ATen/native/cpu/Activation.cpp); each derivative is its derivatives.yaml formula
// (leaky_relu_backward, gelu_backward, silu_backward) written once, beside its forward, for
// values and for tensors (record_unary), so create_graph differentiates it again.
#include <cmath>

#include "unary.hpp"

namespace tapegrad {

template <class T>
Tensor<T> erf(const Tensor<T>& x);

namespace detail {
namespace act {

// Scalar twins of the tensor functions the formulas below use: a value finds these, a tensor
// the ops (by ADL).
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T exp(T x) {
  return std::exp(x);
}
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T tanh(T x) {
  return std::tanh(x);
}
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T erf(T x) {
  return std::erf(x);
}
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// 1 where x > 0, else the slope: leaky_relu's derivative, a constant of x (zero derivative).
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T leaky_slope(T x, T slope) {
  return x > T(0) ? T(1) : slope;
}
template <class T>
Tensor<T> leaky_slope(const Tensor<T>& x, T slope) {
  return map_tensor(x, [slope](T v) { return v > T(0) ? T(1) : slope; });
}

// The element type of a value or a tensor: the formulas' constants are rounded to it, so float
// runs in float as PyTorch's kernels do.
template <class X>
struct scalar_of {
  using type = X;
};
template <class T>
struct scalar_of<Tensor<T>> {
  using type = T;
};
template <class X>
using scalar_of_t = typename scalar_of<X>::type;

// GELU's constants as PyTorch spells them: 1/sqrt(2), 1/sqrt(2 pi), sqrt(2/pi), 0.044715.
constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 1.12837916709551257390 * 0.70710678118654752440 * 0.5;  // M_2_SQRTPI * M_SQRT1_2 * 0.5
constexpr double kSqrt2OverPi = 1.41421356237309504880 * 1.12837916709551257390 * 0.5;  // M_SQRT2 * M_2_SQRTPI * 0.5
constexpr double kKappa = 0.044715;

// d erf(x) = 2/sqrt(pi) exp(-x^2)
struct ErfDerivative {
  template <class G, class X>
  auto operator()(const G& g, const X& x) const {
    using S = scalar_of_t<X>;
    return g * (exp(-(x * x)) * S(1.12837916709551257390));
  }
};

// leaky_relu_backward: x > 0 ? g : g * slope
template <class T>
struct LeakyReluDerivative {
  T slope;
  template <class G, class X>
  auto operator()(const G& g, const X& x) const {
    return g * leaky_slope(x, slope);
  }
};

// gelu_backward, approximate "none": g * (cdf + x * pdf)
struct GeluDerivative {
  template <class G, class X>
  auto operator()(const G& g, const X& x) const {
    using S = scalar_of_t<X>;
    const auto cdf = S(0.5) * (S(1) + erf(x * S(kSqrt1_2)));
    const auto pdf = S(kInvSqrt2Pi) * exp(x * x * S(-0.5));
    return g * (cdf + x * pdf);
  }
};

// gelu_backward, approximate "tanh": the product rule on 0.5 x (1 + tanh(inner))
struct GeluTanhDerivative {
  template <class G, class X>
  auto operator()(const G& g, const X& x) const {
    using S = scalar_of_t<X>;
    const S beta = S(kSqrt2OverPi), kappa = S(kKappa);
    const auto x_sq = x * x;
    const auto tanh_inner = tanh(beta * (x + kappa * (x_sq * x)));
    const auto left = S(0.5) * x;
    const auto right = S(1) + tanh_inner;
    const auto left_derivative = S(0.5) * right;
    const auto tanh_derivative = S(1) - tanh_inner * tanh_inner;
    const auto inner_derivative = beta * (S(1) + S(3) * kappa * x_sq);
    return g * (left_derivative + left * tanh_derivative * inner_derivative);
  }
};

// silu_backward: g * s * (1 + x * (1 - s)), s = sigmoid(x)
struct SiluDerivative {
  template <class G, class X>
  auto operator()(const G& g, const X& x) const {
    using S = scalar_of_t<X>;
    const auto s = sigmoid(x);
    return g * s * (S(1) + x * (S(1) - s));
  }
};

}  // namespace act

template <class T>
Tensor<T> leaky_relu(const Tensor<T>& x, double negative_slope) {
  const T slope = static_cast<T>(negative_slope);
  Tensor<T> y = map_tensor(x, [slope](T v) { return v > T(0) ? v : v * slope; });
  record_unary(y, "LeakyReluBackward0", x, false, act::LeakyReluDerivative<T>{slope});
  return y;
}

// ---- exact GELU's values in float, as PyTorch's vectorised CPU kernel computes them --------
// PyTorch 1.13's Vectorized<float>::erf is Abramowitz and Stegun's 7.1.26 (absolute error
// below 1.5e-7) over a vectorised exp, and its GELU kernels (GeluKernelImpl, GeluBackwardKernelImpl)
// use it for the floats of their vectorised loop (a short tail gets std::erf): so do these,
// over Eigen's packets, which also makes them several times faster than std::erf. Half of
// PyTorch's float GELU values are these bits exactly (with FMA: without it Eigen's pmadd is a
// multiply and an add), four times fewer are std::erf's. Doubles keep std::erf (PyTorch's
// double erf is Sleef's, within 1 ulp of it). The tail past the last whole packet runs through
// a padded packet, so every element gets the same arithmetic.
#if TAPEGRAD_EIGEN_PACKETS
namespace act {

template <class P>
P erf_as(const P& x) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<P>::type;
  const P one = pset1<P>(T(1)), a = pabs(x);
  const P t = pdiv(one, pmadd(pset1<P>(T(0.3275911)), a, one));
  P r = pmadd(pset1<P>(T(1.061405429)), t, pset1<P>(T(-1.453152027)));
  r = pmadd(r, t, pset1<P>(T(1.421413741)));
  r = pmadd(r, t, pset1<P>(T(-0.284496736)));
  r = pmadd(r, t, pset1<P>(T(0.254829592)));
  const P e = exp_packet(pnegate(pmul(x, x)));
  const P magnitude = pmadd(pmul(pnegate(e), t), r, one);  // 1 - r t exp(-x^2)
  return pselect(pcmp_lt(x, pzero(x)), pnegate(magnitude), magnitude);
}

// y = x / 2 (1 + erf(x / sqrt 2))
template <class P>
P gelu_packet(const P& x) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<P>::type;
  const P one = pset1<P>(T(1));
  return pmul(pmul(x, pset1<P>(T(0.5))), padd(one, erf_as(pmul(x, pset1<P>(T(kSqrt1_2))))));
}

// g (cdf + x pdf), cdf = (1 + erf(x / sqrt 2)) / 2, pdf = exp(-x^2 / 2) / sqrt(2 pi)
template <class P>
P gelu_backward_packet(const P& g, const P& x) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<P>::type;
  const P cdf = pmul(pset1<P>(T(0.5)), padd(pset1<P>(T(1)), erf_as(pmul(x, pset1<P>(T(kSqrt1_2))))));
  const P pdf = pmul(pset1<P>(T(kInvSqrt2Pi)), exp_packet(pmul(pmul(x, x), pset1<P>(T(-0.5)))));
  return pmul(g, pmadd(x, pdf, cdf));
}

// out[i] = f(packets of a[i] (and b[i])), for n floats, the tail through a zero-padded packet.
template <class F>
TAPEGRAD_NOINLINE void packet_map(const float* a, const float* b, float* out, int64_t n, F f) {
  using namespace Eigen::internal;
  using P = Packet<float>;
  constexpr int64_t ps = kPacketSize<float>;
  int64_t i = 0;
  for (; i + ps <= n; i += ps) pstoreu(out + i, f(ploadu<P>(a + i), b ? ploadu<P>(b + i) : pzero(P())));
  if (i < n) {
    alignas(64) float pa[ps] = {}, pb[ps] = {}, po[ps];
    std::copy(a + i, a + n, pa);
    if (b) std::copy(b + i, b + n, pb);
    pstore(po, f(pload<P>(pa), pload<P>(pb)));
    std::copy(po, po + (n - i), out + i);
  }
}

}  // namespace act
#endif

template <class T>
Tensor<T> gelu_values(const Tensor<T>& x) {
#if TAPEGRAD_EIGEN_PACKETS
  if constexpr (std::is_same_v<T, float>) {
    Tensor<T> y = make_tensor<T>(x.sizes());
    act::packet_map(x.data(), nullptr, y.data(), x.numel(), [](const auto& v, const auto&) { return act::gelu_packet(v); });
    return y;
  }
#endif
  const T alpha = static_cast<T>(act::kSqrt1_2);
  return map_tensor(x, [alpha](T v) { return v * T(0.5) * (T(1) + std::erf(v * alpha)); });
}

// gelu_backward for values (no graph); under create_graph, GeluDerivative on tensors.
template <class T>
Tensor<T> gelu_backward_values(const Tensor<T>& g, const Tensor<T>& x) {
#if TAPEGRAD_EIGEN_PACKETS
  if constexpr (std::is_same_v<T, float>) {
    Tensor<T> gx = make_tensor<T>(x.sizes());
    act::packet_map(g.data(), x.data(), gx.data(), x.numel(), [](const auto& gv, const auto& xv) {
      return act::gelu_backward_packet(gv, xv);
    });
    return gx;
  }
#endif
  return zip_tensor(g, x, act::GeluDerivative());
}

// approximate: false for x/2 (1 + erf(x / sqrt 2)), true for the tanh approximation.
template <class T>
Tensor<T> gelu(const Tensor<T>& x, bool tanh_approximation) {
  if (tanh_approximation) {
    const T beta = static_cast<T>(act::kSqrt2OverPi), kappa = static_cast<T>(act::kKappa);
    Tensor<T> y = map_tensor(x, [beta, kappa](T v) { return T(0.5) * v * (T(1) + std::tanh(beta * (v + kappa * (v * v * v)))); });
    record_unary(y, "GeluBackward0", x, false, act::GeluTanhDerivative());
    return y;
  }
  Tensor<T> y = gelu_values(x);
  if (any_requires_grad(x)) {
    record(y, "GeluBackward0", [x](const Tensor<T>& g, GradOut<T>& in) {
      in[0] = any_requires_grad(g, x) ? elementwise_recorded(act::GeluDerivative(), g, x) : gelu_backward_values(g, x);
    }, x);
  }
  return y;
}

template <class T>
Tensor<T> silu(const Tensor<T>& x) {
  Tensor<T> y = map_tensor(x, [](T v) { return v / (T(1) + std::exp(-v)); });
  record_unary(y, "SiluBackward0", x, false, act::SiluDerivative());
  return y;
}

}  // namespace detail

// The error function, elementwise (std::erf).
template <class T>
Tensor<T> erf(const Tensor<T>& x) {
  x.checked("erf");
  Tensor<T> y = detail::map_tensor(x, [](T v) { return std::erf(v); });
  detail::record_unary(y, "ErfBackward0", x, false, detail::act::ErfDerivative());
  return y;
}

}  // namespace tapegrad
