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

// The result of an Eigen expression over `sizes`, evaluated into a fresh tensor.
template <class T, class Expr>
Tensor<T> evaluate(const Dims& sizes, const Expr& expr) {
  Tensor<T> t = make_tensor<T>(sizes);
  array(t) = expr;
  return t;
}

struct AddOp {
  template <class A, class B>
  static auto apply(const A& a, const B& b) { return a + b; }
};
struct SubOp {
  template <class A, class B>
  static auto apply(const A& a, const B& b) { return a - b; }
};
struct MulOp {
  template <class A, class B>
  static auto apply(const A& a, const B& b) { return a * b; }
};
struct DivOp {
  template <class A, class B>
  static auto apply(const A& a, const B& b) { return a / b; }
};

// 1 where Cmp holds, else 0, for scalars and Eigen arrays alike.
template <class Cmp>
struct CompareOp {
  template <class T>
  static T one(T a, T b) { return Cmp{}(a, b) ? T(1) : T(0); }
  template <class A, class B>
  static auto apply(const A& a, const B& b) {
    if constexpr (std::is_arithmetic_v<A> && std::is_arithmetic_v<B>) {
      return one(a, b);
    } else if constexpr (std::is_arithmetic_v<B>) {
      return a.unaryExpr([b](typename A::Scalar x) { return one(x, b); });
    } else if constexpr (std::is_arithmetic_v<A>) {
      return b.unaryExpr([a](typename B::Scalar x) { return one(a, x); });
    } else {
      return a.binaryExpr(b, [](typename A::Scalar x, typename A::Scalar y) { return one(x, y); });
    }
  }
};

}  // namespace detail

// ---- tensor (op) tensor ---------------------------------------------------------------------

template <class T>
Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::AddOp>(a, b, "add");
  if (detail::any_requires_grad(a, b)) {
    detail::record(out, "AddBackward", [da = a.sizes(), db = b.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      if (in.needed(0)) in[0] = detail::reduce_to_shape(g, da);
      if (in.needed(1)) in[1] = detail::reduce_to_shape(g, db);
    }, a, b);
  }
  return out;
}

template <class T>
Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::SubOp>(a, b, "sub");
  if (detail::any_requires_grad(a, b)) {
    detail::record(out, "SubBackward", [da = a.sizes(), db = b.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      if (in.needed(0)) in[0] = detail::reduce_to_shape(g, da);
      if (in.needed(1)) in[1] = detail::reduce_to_shape(detail::evaluate<T>(g.sizes(), -detail::array(g)), db);
    }, a, b);
  }
  return out;
}

template <class T>
Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::MulOp>(a, b, "mul");
  if (detail::any_requires_grad(a, b)) {
    // d(a*b) = g*b da + g*a db: each side saves the other only when it is needed.
    Tensor<T> sa = b.requires_grad() ? a.detach() : Tensor<T>();
    Tensor<T> sb = a.requires_grad() ? b.detach() : Tensor<T>();
    detail::record(out, "MulBackward", [sa, sb, da = a.sizes(), db = b.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      if (in.needed(0)) in[0] = detail::reduce_to_shape(detail::broadcast_binary<detail::MulOp>(g, sb, "mul"), da);
      if (in.needed(1)) in[1] = detail::reduce_to_shape(detail::broadcast_binary<detail::MulOp>(g, sa, "mul"), db);
    }, a, b);
  }
  return out;
}

template <class T>
Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::broadcast_binary<detail::DivOp>(a, b, "div");
  if (detail::any_requires_grad(a, b)) {
    Tensor<T> sa = b.requires_grad() ? a.detach() : Tensor<T>();
    detail::record(out, "DivBackward", [sa, sb = b.detach(), da = a.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      using detail::broadcast_binary;
      if (in.needed(0)) in[0] = detail::reduce_to_shape(broadcast_binary<detail::DivOp>(g, sb, "div"), da);
      if (in.needed(1)) {
        // d(a/b)/db = -g * ((a / b) / b), in PyTorch's order of operations
        Tensor<T> q = broadcast_binary<detail::DivOp>(broadcast_binary<detail::DivOp>(sa, sb, "div"), sb, "div");
        Tensor<T> gq = broadcast_binary<detail::MulOp>(g, q, "div");
        in[1] = detail::reduce_to_shape(detail::evaluate<T>(gq.sizes(), -detail::array(gq)), sb.sizes());
      }
    }, a, b);
  }
  return out;
}

template <class T>
Tensor<T> operator-(const Tensor<T>& a) {
  a.checked("neg");  // before the expression below reads it
  Tensor<T> out = detail::evaluate<T>(a.sizes(), -detail::array(a));
  if (detail::any_requires_grad(a)) {
    detail::record(out, "NegBackward", [](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::evaluate<T>(g.sizes(), -detail::array(g));
    }, a);
  }
  return out;
}

// ---- tensor (op) scalar ---------------------------------------------------------------------
// The scalar is converted to T first, as PyTorch does for a wrapped Python number.

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator+(const Tensor<T>& a, S s) {
  a.checked("add");  // before the expression below reads it
  Tensor<T> out = detail::evaluate<T>(a.sizes(), detail::array(a) + static_cast<T>(s));
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
  a.checked("sub");  // before the expression below reads it
  Tensor<T> out = detail::evaluate<T>(a.sizes(), detail::array(a) - static_cast<T>(s));
  if (detail::any_requires_grad(a)) {
    detail::record(out, "SubBackward", [](const Tensor<T>& g, detail::GradOut<T>& in) { in[0] = g; }, a);
  }
  return out;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator-(S s, const Tensor<T>& a) {
  a.checked("rsub");  // before the expression below reads it
  Tensor<T> out = detail::evaluate<T>(a.sizes(), static_cast<T>(s) - detail::array(a));
  if (detail::any_requires_grad(a)) {
    detail::record(out, "RsubBackward", [](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::evaluate<T>(g.sizes(), -detail::array(g));
    }, a);
  }
  return out;
}

template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> operator*(const Tensor<T>& a, S s) {
  const T v = static_cast<T>(s);
  a.checked("mul");  // before the expression below reads it
  Tensor<T> out = detail::evaluate<T>(a.sizes(), detail::array(a) * v);
  if (detail::any_requires_grad(a)) {
    detail::record(out, "MulBackward", [v](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::evaluate<T>(g.sizes(), detail::array(g) * v);
    }, a);
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
  a.checked("div");  // before the expression below reads it
  Tensor<T> out = detail::evaluate<T>(a.sizes(), detail::array(a) / v);
  if (detail::any_requires_grad(a)) {
    detail::record(out, "DivBackward", [v](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::evaluate<T>(g.sizes(), detail::array(g) / v);
    }, a);
  }
  return out;
}

template <class T>
Tensor<T> reciprocal(const Tensor<T>& a) {
  a.checked("reciprocal");  // before the expression below reads it
  Tensor<T> out = detail::evaluate<T>(a.sizes(), detail::array(a).inverse());
  if (detail::any_requires_grad(a)) {
    detail::record(out, "ReciprocalBackward", [y = out.detach()](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::evaluate<T>(g.sizes(), -detail::array(g) * (detail::array(y) * detail::array(y)));
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
    return detail::evaluate<T>(a.sizes(),                                            \
                               detail::CompareOp<CMP>::apply(detail::array(a), static_cast<T>(s))); \
  }                                                                                              \
  template <class T, class S, detail::if_scalar<S> = 0>                                          \
  Tensor<T> operator OP(S s, const Tensor<T>& a) {                                               \
    a.checked(NAME);                                                                             \
    return detail::evaluate<T>(a.sizes(),                                            \
                               detail::CompareOp<CMP>::apply(static_cast<T>(s), detail::array(a))); \
  }

TAPEGRAD_COMPARISON(>, "gt", std::greater<>)
TAPEGRAD_COMPARISON(<, "lt", std::less<>)
TAPEGRAD_COMPARISON(>=, "ge", std::greater_equal<>)
TAPEGRAD_COMPARISON(<=, "le", std::less_equal<>)
TAPEGRAD_COMPARISON(==, "eq", std::equal_to<>)
TAPEGRAD_COMPARISON(!=, "ne", std::not_equal_to<>)
#undef TAPEGRAD_COMPARISON

}  // namespace tapegrad
