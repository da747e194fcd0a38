#pragma once
// The loops every op is built from, written for compile time as much as for speed: every op is
// a template that the user's translation unit instantiates, and Eigen's expression templates
// cost far more to compile than the loops they stand for. So:
//  * elementwise arithmetic, comparisons, copies and sequential sums are plain loops over
//    pointers: each element is the same IEEE operation as Eigen's vectorised form, so the same
//    bits;
//  * where Eigen's result depends on how it vectorises (its exp/log/tanh/pow approximations, the
//    pairwise order of a vectorised sum or column sum), one small kernel per scalar type calls
//    Eigen with the very expression the ops used before, and every op shares it;
//  * the matrix product calls Eigen's GEMM and GEMV kernels directly, after the same size-based
//    dispatch Eigen's product expression makes, so every shape gives Eigen's bits (see gemm).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "../core/factories.hpp"

namespace tapegrad::detail {

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;
template <class T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatrixMap = Eigen::Map<RowMajorMatrix<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix<T>>;

// A tensor's values as an Eigen array (tensor data is always 64-byte aligned).
template <class T>
ArrayMap<T> array(const Tensor<T>& t) {
  return ArrayMap<T>(t.data(), t.numel());
}

// `t` viewed as a row-major (rows, cols) matrix.
template <class T>
MatrixMap<T> as_matrix(const Tensor<T>& t, int64_t rows, int64_t cols) {
  return MatrixMap<T>(t.data(), rows, cols);
}

// ---- plain loops ------------------------------------------------------------------------

// y[i] = f(x[i]) for i < n (y may be x).
template <class T, class F>
void map_values(const T* x, T* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

// y[i] = f(a[i], b[i]) for i < n (y may be a or b).
template <class T, class F>
void zip_values(const T* a, const T* b, T* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}

// A fresh tensor of `sizes` holding f(x[i]).
template <class T, class F>
Tensor<T> map_tensor(const Tensor<T>& x, F f) {
  Tensor<T> out = make_tensor<T>(x.sizes());
  map_values(x.data(), out.data(), x.numel(), f);
  return out;
}

// A fresh tensor holding f(a[i], b[i]) for two tensors of the same element count.
template <class T, class F>
Tensor<T> zip_tensor(const Tensor<T>& a, const Tensor<T>& b, F f) {
  Tensor<T> out = make_tensor<T>(a.sizes());
  zip_values(a.data(), b.data(), out.data(), a.numel(), f);
  return out;
}

template <class T>
Tensor<T> negated(const Tensor<T>& g) {
  return map_tensor(g, [](T v) { return -v; });
}

// ---- Eigen kernels whose order of operations is Eigen's own ----------------------------
// Each is one instantiation per scalar type, shared by every op that needs it.

// The sum of p[0, n), in the order Eigen's vectorised sum adds (two packet accumulators from
// the first aligned element, the rest in order): what array(x).sum() gave.
template <class T>
T sum_values(const T* p, int64_t n) {
  return Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(p, n).sum();
}

// sum(a[i] * b[i]) in Eigen's vectorised order: its dot product of two contiguous vectors.
template <class T>
T dot_values(const T* a, const T* b, int64_t n) {
  using V = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
  return (V(a, n) * V(b, n)).sum();
}

// out[j] = the sum over rows of the row-major (rows, cols) matrix g, in Eigen's order.
template <class T>
void column_sums(const T* g, int64_t rows, int64_t cols, T* out) {
  Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(out, cols) = ConstMatrixMap<T>(g, rows, cols).colwise().sum();
}

// y = exp(x), log(x), tanh(x), x^p with Eigen's vectorised functions (y may be x; both aligned
// tensor data).
template <class T>
void exp_values(const T* x, T* y, int64_t n) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).exp();
}
template <class T>
void log_values(const T* x, T* y, int64_t n) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).log();
}
template <class T>
void tanh_values(const T* x, T* y, int64_t n) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).tanh();
}
template <class T>
void pow_scalar_values(const T* x, T* y, int64_t n, T p) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).pow(p);
}

// ---- broadcasting -----------------------------------------------------------------------

// Whether `small` (right-aligned against `big`) equals big's trailing dims exactly, ignoring
// leading 1s: then `small` repeats once per row of `big` (a bias row).
inline bool is_trailing_block(const Dims& small, const Dims& big) {
  int lead = 0;
  while (lead < small.size() && small[lead] == 1) ++lead;
  const int n = small.size() - lead;
  if (n > big.size()) return false;
  for (int i = 0; i < n; ++i) {
    if (small[lead + i] != big[big.size() - n + i]) return false;
  }
  return true;
}

// Calls f(i, ia, ib) for every element i of `out` with the matching offsets into a and b
// whose broadcast strides are `sa` and `sb` (all of out's rank).
template <class F>
void for_each_broadcast(const Dims& out, const Dims& sa, const Dims& sb, F&& f) {
  const int rank = out.size();
  const int64_t total = out.numel();
  if (total == 0) return;
  if (rank == 0) return f(int64_t(0), int64_t(0), int64_t(0));
  const int64_t inner = out[rank - 1], ia_step = sa[rank - 1], ib_step = sb[rank - 1];
  int64_t index[kMaxDims] = {};
  int64_t ia = 0, ib = 0;
  for (int64_t i = 0; i < total; i += inner) {
    for (int64_t k = 0; k < inner; ++k) f(i + k, ia + k * ia_step, ib + k * ib_step);
    // Advance the outer counters like an odometer.
    for (int d = rank - 2; d >= 0; --d) {
      ia += sa[d];
      ib += sb[d];
      if (++index[d] < out[d]) break;
      ia -= sa[d] * out[d];
      ib -= sb[d] * out[d];
      index[d] = 0;
    }
  }
}

// out = op(a, b) with NumPy broadcasting; `Op::apply` takes two scalars.
template <class Op, class T>
Tensor<T> broadcast_binary(const Tensor<T>& a, const Tensor<T>& b, const char* name) {
  const Dims& da = a.checked(name).sizes;
  const Dims& db = b.checked(name).sizes;
  const T* pa = a.data();
  const T* pb = b.data();
  if (da == db) {
    Tensor<T> out = make_tensor<T>(da);
    T* po = out.data();
    for (int64_t i = 0, n = da.numel(); i < n; ++i) po[i] = Op::apply(pa[i], pb[i]);
    return out;
  }
  const Dims shape = broadcast_shape(da, db, name);
  Tensor<T> out = make_tensor<T>(shape);
  const int64_t n = shape.numel();
  if (n == 0) return out;
  T* po = out.data();
  const bool a_full = da.numel() == n, b_full = db.numel() == n;
  if (a_full && db.numel() == 1) {
    const T s = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = Op::apply(pa[i], s);
  } else if (b_full && da.numel() == 1) {
    const T s = pa[0];
    for (int64_t i = 0; i < n; ++i) po[i] = Op::apply(s, pb[i]);
  } else if (a_full && is_trailing_block(db, shape)) {
    const int64_t cols = db.numel(), rows = n / cols;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) po[r * cols + c] = Op::apply(pa[r * cols + c], pb[c]);
    }
  } else if (b_full && is_trailing_block(da, shape)) {
    const int64_t cols = da.numel(), rows = n / cols;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) po[r * cols + c] = Op::apply(pa[c], pb[r * cols + c]);
    }
  } else {
    for_each_broadcast(shape, broadcast_strides(da, shape), broadcast_strides(db, shape),
                       [&](int64_t i, int64_t ia, int64_t ib) { po[i] = Op::apply(pa[ia], pb[ib]); });
  }
  return out;
}

// `t` materialised at the broadcast shape `shape` (no gradient).
template <class T>
Tensor<T> broadcast_to(const Tensor<T>& t, const Dims& shape) {
  if (t.sizes() == shape) return t;
  Tensor<T> out = make_tensor<T>(shape);
  const T* src = t.data();
  T* dst = out.data();
  const Dims zero_strides = broadcast_strides(Dims(), shape);
  for_each_broadcast(shape, broadcast_strides(t.sizes(), shape), zero_strides,
                     [&](int64_t i, int64_t is, int64_t) { dst[i] = src[is]; });
  return out;
}

// Sums `g` (shaped like a broadcast result) over the dims along which `shape` was broadcast.
template <class T>
Tensor<T> reduce_to_shape(const Tensor<T>& g, const Dims& shape) {
  const Dims& dg = g.sizes();
  if (dg == shape) return g;
  Tensor<T> out = make_tensor<T>(shape);
  const int64_t n = shape.numel();
  if (n == 0) return out;
  if (n == 1) {
    out.data()[0] = sum_values(g.data(), g.numel());
  } else if (is_trailing_block(shape, dg)) {
    column_sums(g.data(), dg.numel() / n, n, out.data());
  } else {
    std::fill_n(out.data(), n, T(0));
    const T* src = g.data();
    T* dst = out.data();
    const Dims zero_strides = broadcast_strides(Dims(), dg);
    for_each_broadcast(dg, broadcast_strides(shape, dg), zero_strides,
                       [&](int64_t i, int64_t io, int64_t) { dst[io] += src[i]; });
  }
  return out;
}

template <class T>
void add_in_place(Tensor<T>& acc, const Tensor<T>& g) {
  T* pa = acc.data();
  const T* pg = g.data();
  for (int64_t i = 0, n = acc.numel(); i < n; ++i) pa[i] += pg[i];
}

template <class T>
Tensor<T> add_values(const Tensor<T>& a, const Tensor<T>& b) {
  return zip_tensor(a, b, [](T x, T y) { return x + y; });
}

}  // namespace tapegrad::detail
