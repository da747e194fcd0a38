#pragma once
// Selections by a mask, PyTorch's vocabulary: where(cond, a, b), masked_fill(x, mask, v), and
// the triangles tril / triu of the last two dims. Masks are 0/1 tensors of T (PyTorch's bool
// tensors; any other value throws) and broadcast as in PyTorch. Each gradient is the output's
// gradient masked the same way (derivatives.yaml: where(cond, grad, 0), grad.masked_fill(mask,
// 0), grad.tril(k)), written with ops, so create_graph differentiates it again.
#include "elementwise.hpp"

namespace tapegrad {
namespace detail {

// Throws unless every value of `mask` is 0 or 1 (a NaN is neither).
template <class T>
void check_zero_one(const Tensor<T>& mask, const char* op, const char* what) {
  const T* p = mask.data();
  for (int64_t i = 0, n = mask.numel(); i < n; ++i) {
    if (!(p[i] == T(0) || p[i] == T(1))) {
      fail(op, ": expected a ", what, " of 0s and 1s, got ", p[i], " at element ", i, " of shape ", mask.sizes());
    }
  }
}

// The shape the three of cond, a and b broadcast to, or an Error naming all three.
TAPEGRAD_NOINLINE inline Dims where_shape(const Dims& c, const Dims& a, const Dims& b) {
  const int rank = std::max(c.size(), std::max(a.size(), b.size()));
  Dims out;
  for (int i = 0; i < rank; ++i) {
    auto size_at = [&](const Dims& d) { return d.size() - rank + i >= 0 ? d[d.size() - rank + i] : int64_t(1); };
    const int64_t sc = size_at(c), sa = size_at(a), sb = size_at(b);
    const int64_t s = std::max(sc, std::max(sa, sb));
    check((sc == s || sc == 1) && (sa == s || sa == 1) && (sb == s || sb == 1), "where: shapes ", c, " (condition), ", a,
          " (self) and ", b, " (other) cannot be broadcast together (", sc, ", ", sa, " and ", sb, " at dim ", i - rank, ")");
    out.push_back(sa == 1 && sb == 1 ? sc : s, "where");
  }
  return out;
}

// 1 - m for a 0/1 tensor.
template <class T>
Tensor<T> complement(const Tensor<T>& m) {
  return map_tensor(m, [](T v) { return T(1) - v; });
}

// x with the elements outside the lower (j - i <= k) or upper (j - i >= k) triangle of each
// (rows, cols) matrix of its last two dims set to 0.
template <class T>
Tensor<T> triangle(const Tensor<T>& x, int64_t k, bool lower, const char* op, const char* node) {
  const Dims& s = x.checked(op).sizes;
  check(s.size() >= 2, op, ": expected a tensor of at least 2 dimensions, got shape ", s);
  // x: (..., rows, cols)
  const int64_t rows = s[s.size() - 2], cols = s[s.size() - 1];
  const int64_t matrices = rows * cols == 0 ? 0 : s.numel() / (rows * cols);
  Tensor<T> y = make_tensor<T>(s);
  const T* px = x.data();
  T* py = y.data();
  for (int64_t m = 0; m < matrices; ++m) {
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t at = (m * rows + i) * cols + j;
        const bool keep = lower ? j - i <= k : j - i >= k;
        py[at] = keep ? px[at] : T(0);
      }
    }
  }
  if (any_requires_grad(x)) {
    record(y, node, [k, lower, op, node](const Tensor<T>& g, GradOut<T>& in) { in[0] = triangle(g, k, lower, op, node); }, x);
  }
  return y;
}

}  // namespace detail

// cond ? a : b elementwise, the three broadcast together (cond a 0/1 tensor); a gets the
// gradient where cond is 1, b where it is 0, each summed back to its shape. cond gets none.
template <class T>
Tensor<T> where(const Tensor<T>& condition, const Tensor<T>& a, const Tensor<T>& b) {
  const Dims& dc = condition.checked("where").sizes;
  const Dims& da = a.checked("where").sizes;
  const Dims& db = b.checked("where").sizes;
  const Dims shape = detail::where_shape(dc, da, db);
  detail::check_zero_one(condition, "where", "condition");
  const Tensor<T> cond = detail::broadcast_to(condition, shape);
  Tensor<T> out = detail::make_tensor<T>(shape);
  const T *pc = cond.data(), *pa = a.data(), *pb = b.data();
  T* po = out.data();
  detail::parallel_for_each_broadcast(shape, detail::broadcast_strides(da, shape), detail::broadcast_strides(db, shape),
                                      [&](int64_t i, int64_t ia, int64_t ib) { po[i] = pc[i] != T(0) ? pa[ia] : pb[ib]; });
  if (detail::any_requires_grad(a, b)) {
    detail::record(out, "WhereBackward0", [condition, shape, da, db](const Tensor<T>& g, detail::GradOut<T>& in) {
      const Tensor<T> keep = detail::broadcast_to(condition, shape);
      if (in.needed(0)) in[0] = detail::sum_to(detail::gate(g, keep), da);
      if (in.needed(1)) in[1] = detail::sum_to(detail::gate(g, detail::complement(keep)), db);
    }, a, b);
  }
  return out;
}

// where with a number for either branch (a 0-d tensor, as PyTorch wraps it).
template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> where(const Tensor<T>& condition, const Tensor<T>& a, S b) {
  return where(condition, a, scalar_tensor<T>(static_cast<T>(b)));
}
template <class T, class S, detail::if_scalar<S> = 0>
Tensor<T> where(const Tensor<T>& condition, S a, const Tensor<T>& b) {
  return where(condition, scalar_tensor<T>(static_cast<T>(a)), b);
}

namespace detail {

// masked_fill with the value `v`, or, when it is defined, the 0-d tensor `value` (which then
// gets the sum of the gradient where the mask is 1: derivatives.yaml's masked_select(grad,
// mask).sum()).
template <class T>
Tensor<T> masked_fill_with(const Tensor<T>& x, const Tensor<T>& mask, T v, const Tensor<T>& value) {
  const Dims& dx = x.checked("masked_fill").sizes;
  const Dims shape = broadcast_shape(dx, mask.checked("masked_fill").sizes, "masked_fill");
  if (value.defined()) {
    check(value.dim() == 0, "masked_fill: expected a 0-d value tensor, got shape ", value.sizes());
    v = value.data()[0];
  }
  check_zero_one(mask, "masked_fill", "mask");
  Tensor<T> out = x.sizes() == shape ? copy_of(x) : broadcast_to(x, shape);
  const Tensor<T> filled = broadcast_to(mask, shape);
  const T* pm = filled.data();
  T* po = out.data();
  for (int64_t i = 0, n = out.numel(); i < n; ++i) {
    if (pm[i] != T(0)) po[i] = v;
  }
  if (any_requires_grad(x, value)) {
    record(out, "MaskedFillBackward0", [mask, shape, dx](const Tensor<T>& g, GradOut<T>& in) {
      const Tensor<T> keep = broadcast_to(mask, shape);
      if (in.needed(0)) in[0] = sum_to(gate(g, complement(keep)), dx);
      if (in.needed(1)) in[1] = sum_to(gate(g, keep), Dims());
    }, x, value);
  }
  return out;
}

}  // namespace detail

// x with `value` where mask is 1, the two broadcast together (as PyTorch's out-of-place
// masked_fill); the gradient passes where mask is 0.
template <class T>
Tensor<T> masked_fill(const Tensor<T>& x, const Tensor<T>& mask, double value) {
  return detail::masked_fill_with(x, mask, static_cast<T>(value), Tensor<T>());
}

// The same with a 0-d tensor's value, as libtorch's masked_fill(mask, Tensor): the value gets
// the sum of the gradient where the mask is 1.
template <class T>
Tensor<T> masked_fill(const Tensor<T>& x, const Tensor<T>& mask, const Tensor<T>& value) {
  value.checked("masked_fill");
  return detail::masked_fill_with(x, mask, T(0), value);
}

// The lower triangle of the last two dims: elements with j - i <= diagonal kept, the rest 0.
template <class T>
Tensor<T> tril(const Tensor<T>& x, int64_t diagonal = 0) {
  return detail::triangle(x, diagonal, true, "tril", "TrilBackward0");
}

// The upper triangle: elements with j - i >= diagonal kept, the rest 0.
template <class T>
Tensor<T> triu(const Tensor<T>& x, int64_t diagonal = 0) {
  return detail::triangle(x, diagonal, false, "triu", "TriuBackward0");
}

}  // namespace tapegrad
