#pragma once
// + - * / and unary minus with NumPy broadcasting, a scalar of any arithmetic type on either
// side; comparisons giving 0/1 tensors without gradient.
#include <functional>
#include <type_traits>

#include "kernels.hpp"

namespace tapegrad {
namespace detail {

template <class S>
using if_scalar = std::enable_if_t<std::is_arithmetic_v<S>, int>;

struct AddOp {
  template <class T>
  static T apply(T a, T b) { return a + b; }
};
struct SubOp {
  template <class T>
  static T apply(T a, T b) { return a - b; }
};
struct MulOp {
  template <class T>
  static T apply(T a, T b) { return a * b; }
};
struct DivOp {
  template <class T>
  static T apply(T a, T b) { return a / b; }
};

// 1 where Cmp holds, else 0.
template <class Cmp>
struct CompareOp {
  template <class T>
  static T apply(T a, T b) { return Cmp{}(a, b) ? T(1) : T(0); }
};


// ---- broadcasting, differentiable ------------------------------------------------------------
// The pair every broadcast gradient goes through: sum_to sums a gradient back to an input's
// shape, expand_to spreads one over a larger shape; each is the other's backward.

template <class T>
Tensor<T> sum_to(const Tensor<T>& g, const Dims& shape);

// x (broadcastable to `shape`) materialised at `shape`.
template <class T>
Tensor<T> expand_to(const Tensor<T>& x, const Dims& shape) {
  if (x.sizes() == shape) return x;
  Tensor<T> out = broadcast_to(x, shape);
  if (any_requires_grad(x)) {
    record(out, "ExpandBackward", [s = x.sizes()](const Tensor<T>& g, GradOut<T>& in) { in[0] = sum_to(g, s); }, x);
  }
  return out;
}

// g summed over the dims along which `shape` was broadcast to g's shape.
template <class T>
Tensor<T> sum_to(const Tensor<T>& g, const Dims& shape) {
  if (g.sizes() == shape) return g;
  Tensor<T> out = reduce_to_shape(g, shape);
  if (any_requires_grad(g)) {
    record(out, "SumToBackward", [s = g.sizes()](const Tensor<T>& gg, GradOut<T>& in) { in[0] = expand_to(gg, s); }, g);
  }
  return out;
}

// Evaluates an elementwise derivative formula f(g, s), written once for both uses: in one
// fused loop over values when no graph is recorded, on tensors (recording a graph, so the
// derivative can be differentiated again) under create_graph.
template <class T, class F>
TAPEGRAD_COLD Tensor<T> elementwise_recorded(const F& f, const Tensor<T>& g, const Tensor<T>& s) {
  return f(g, s);
}
template <class T, class F>
Tensor<T> elementwise(const F& f, const Tensor<T>& g, const Tensor<T>& s) {
  // the recorded form is cold: only create_graph runs it, and so it costs less to compile
  if (any_requires_grad(g, s)) return elementwise_recorded(f, g, s);
  return zip_tensor(g, s, f);
}

}  // namespace detail

// ---- tensor (op) tensor ---------------------------------------------------------------------
// Saved inputs are the tensors themselves (not detached), so under create_graph the
// gradient's graph reaches them.

template <class T>
Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::AddOp>(a, b, "add");
  if (detail::any_requires_grad(a, b)) {
    detail::record(out, "AddBackward", [da = a.sizes(), db = b.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      if (in.needed(0)) in[0] = detail::sum_to(g, da);
      if (in.needed(1)) in[1] = detail::sum_to(g, db);
    }, a, b);
  }
  return out;
}

template <class T>
Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::SubOp>(a, b, "sub");
  if (detail::any_requires_grad(a, b)) {
    detail::record(out, "SubBackward", [da = a.sizes(), db = b.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      if (in.needed(0)) in[0] = detail::sum_to(g, da);
      if (in.needed(1)) in[1] = detail::sum_to(-g, db);
    }, a, b);
  }
  return out;
}

template <class T>
Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::MulOp>(a, b, "mul");
  if (detail::any_requires_grad(a, b)) {
    // d(a*b) = g*b da + g*a db: each side saves the other only when it is needed.
    Tensor<T> sa = b.requires_grad() ? a : Tensor<T>();
    Tensor<T> sb = a.requires_grad() ? b : Tensor<T>();
    detail::record(out, "MulBackward", [sa, sb, da = a.sizes(), db = b.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      if (in.needed(0)) in[0] = detail::sum_to(g * sb, da);
      if (in.needed(1)) in[1] = detail::sum_to(g * sa, db);
    }, a, b);
  }
  return out;
}

template <class T>
Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::DivOp>(a, b, "div");
  if (detail::any_requires_grad(a, b)) {
    Tensor<T> sa = b.requires_grad() ? a : Tensor<T>();
    detail::record(out, "DivBackward", [sa, sb = b, da = a.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      if (in.needed(0)) in[0] = detail::sum_to(g / sb, da);
      // d(a/b)/db = -g * ((a / b) / b), in PyTorch's order of operations
      if (in.needed(1)) in[1] = detail::sum_to(-(g * (sa / sb / sb)), sb.sizes());
    }, a, b);
  }
  return out;
}

template <class T>
Tensor<T> operator-(const Tensor<T>& a) {
  a.checked("neg");
  Tensor<T> out = detail::negated(a);
  if (detail::any_requires_grad(a)) {
    detail::record(out, "NegBackward", [](const Tensor<T>& g, detail::GradOut<T>& in) { in[0] = -g; }, a);
  }
  return out;
}

// ---- tensor (op) scalar ---------------------------------------------------------------------
// The scalar is converted to T first, as PyTorch does for a wrapped Python number.

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator+(const Tensor<T>& a, S s) {
  a.checked("add");
  const T v = static_cast<T>(s);
  Tensor<T> out = detail::map_tensor(a, [v](T x) { return x + v; });
  if (detail::any_requires_grad(a)) {
    detail::record(out, "AddBackward", [](const Tensor<T>& g, detail::GradOut<T>& in) { in[0] = g; }, a);
  }
  return out;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator+(S s, const Tensor<T>& a) {
  return a + s;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator-(const Tensor<T>& a, S s) {
  a.checked("sub");
  const T v = static_cast<T>(s);
  Tensor<T> out = detail::map_tensor(a, [v](T x) { return x - v; });
  if (detail::any_requires_grad(a)) {
    detail::record(out, "SubBackward", [](const Tensor<T>& g, detail::GradOut<T>& in) { in[0] = g; }, a);
  }
  return out;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator-(S s, const Tensor<T>& a) {
  a.checked("rsub");
  const T v = static_cast<T>(s);
  Tensor<T> out = detail::map_tensor(a, [v](T x) { return v - x; });
  if (detail::any_requires_grad(a)) {
    detail::record(out, "RsubBackward", [](const Tensor<T>& g, detail::GradOut<T>& in) { in[0] = -g; }, a);
  }
  return out;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator*(const Tensor<T>& a, S s) {
  const T v = static_cast<T>(s);
  a.checked("mul");
  Tensor<T> out = detail::map_tensor(a, [v](T x) { return x * v; });
  if (detail::any_requires_grad(a)) {
    detail::record(out, "MulBackward", [v](const Tensor<T>& g, detail::GradOut<T>& in) { in[0] = g * v; }, a);
  }
  return out;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator*(S s, const Tensor<T>& a) {
  return a * s;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator/(const Tensor<T>& a, S s) {
  const T v = static_cast<T>(s);
  a.checked("div");
  Tensor<T> out = detail::map_tensor(a, [v](T x) { return x / v; });
  if (detail::any_requires_grad(a)) {
    detail::record(out, "DivBackward", [v](const Tensor<T>& g, detail::GradOut<T>& in) { in[0] = g / v; }, a);
  }
  return out;
}

template <class T>
Tensor<T> reciprocal(const Tensor<T>& a) {
  a.checked("reciprocal");
  Tensor<T> out = detail::map_tensor(a, [](T x) { return T(1) / x; });
  if (detail::any_requires_grad(a)) {
    detail::record(out, "ReciprocalBackward", [y = out.detach()](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::elementwise([](auto gv, auto yv) { return -gv * (yv * yv); }, g, in.output(y));
    }, a);
  }
  return out;
}

// s / a is reciprocal(a) * s, as PyTorch computes it.
template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator/(S s, const Tensor<T>& a) {
  return reciprocal(a) * s;
}

// ---- comparisons --------------------------------------------------------------------------

#define TAPEGRAD_COMPARISON(OP, NAME, CMP)                                                       \
  template <class T>                                                                             \
  Tensor<T> operator OP(const Tensor<T>& a, const Tensor<T>& b) {                               \
    return detail::broadcast_binary<detail::CompareOp<CMP>>(a, b, NAME);                        \
  }                                                                                              \
  template <class T, class S, detail::if_scalar<S> = 0>                                          \
  Tensor<T> operator OP(const Tensor<T>& a, S s) {                                               \
    a.checked(NAME);                                                                             \
    const T v = static_cast<T>(s);                                                               \
    return detail::map_tensor(a, [v](T x) { return detail::CompareOp<CMP>::apply(x, v); });     \
  }                                                                                              \
  template <class T, class S, detail::if_scalar<S> = 0>                                          \
  Tensor<T> operator OP(S s, const Tensor<T>& a) {                                               \
    a.checked(NAME);                                                                             \
    const T v = static_cast<T>(s);                                                               \
    return detail::map_tensor(a, [v](T x) { return detail::CompareOp<CMP>::apply(v, x); });     \
  }

TAPEGRAD_COMPARISON(>, "gt", std::greater<>)
TAPEGRAD_COMPARISON(<, "lt", std::less<>)
TAPEGRAD_COMPARISON(>=, "ge", std::greater_equal<>)
TAPEGRAD_COMPARISON(<=, "le", std::less_equal<>)
TAPEGRAD_COMPARISON(==, "eq", std::equal_to<>)
TAPEGRAD_COMPARISON(!=, "ne", std::not_equal_to<>)
#undef TAPEGRAD_COMPARISON

}  // namespace tapegrad
