#pragma once
// The loops every op is built from: Eigen array views of a tensor, the broadcasting binary
// kernel with its fast paths, and reduce_to_shape, which sums a gradient back over the dims
// an input was broadcast along.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "../core/factories.hpp"

namespace tapegrad::detail {

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;
template <class T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatrixMap = Eigen::Map<RowMajorMatrix<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix<T>>;

// The correctly rounded square-root instruction for each packet type (double packets go
// through Eigen, whose double sqrt is always the exact instruction).
template <class Packet>
Packet packet_sqrt(const Packet& x) {
  return Eigen::internal::psqrt(x);
}
#if defined(EIGEN_VECTORIZE_SSE)
inline __m128 packet_sqrt(const __m128& x) { return _mm_sqrt_ps(x); }
#endif
#if defined(EIGEN_VECTORIZE_AVX)
inline __m256 packet_sqrt(const __m256& x) { return _mm256_sqrt_ps(x); }
#endif
#if defined(EIGEN_VECTORIZE_AVX512)
inline __m512 packet_sqrt(const __m512& x) { return _mm512_sqrt_ps(x); }
#endif

// sqrt rounded correctly, as PyTorch computes it. Eigen's own float sqrt under its default
// EIGEN_FAST_MATH is an rsqrt estimate plus one Newton step, off by an ulp or two.
template <class T>
struct ExactSqrt {
  T operator()(T x) const { return std::sqrt(x); }
  template <class Packet>
  Packet packetOp(const Packet& x) const {
    return packet_sqrt(x);
  }
};

// Whether ExactSqrt<T> has a vectorised form here: double always, float on x86 builds.
template <class T>
constexpr bool kExactSqrtPackets =
#if defined(EIGEN_VECTORIZE_SSE)
    true;
#else
    std::is_same_v<T, double>;
#endif

// exact_sqrt(e): e's elements' square roots, correctly rounded.
template <class Derived>
auto exact_sqrt(const Eigen::ArrayBase<Derived>& e) {
  return e.unaryExpr(ExactSqrt<typename Derived::Scalar>());
}

template <class T>
ArrayMap<T> array(const Tensor<T>& t) {
  return ArrayMap<T>(t.data(), t.numel());
}

// `t` viewed as (rows, cols) with cols the product of the last `trailing` dims.
template <class T>
MatrixMap<T> as_matrix(const Tensor<T>& t, int64_t rows, int64_t cols) {
  return MatrixMap<T>(t.data(), rows, cols);
}

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

// out = op(a, b) with NumPy broadcasting. `Op::apply` takes scalars or Eigen arrays.
template <class Op, class T>
Tensor<T> broadcast_binary(const Tensor<T>& a, const Tensor<T>& b, const char* name) {
  const Dims& da = a.checked(name).sizes;
  const Dims& db = b.checked(name).sizes;
  if (da == db) {
    Tensor<T> out = make_tensor<T>(da);
    array(out) = Op::apply(array(a), array(b));
    return out;
  }
  const Dims shape = broadcast_shape(da, db, name);
  Tensor<T> out = make_tensor<T>(shape);
  const int64_t n = shape.numel();
  if (n == 0) return out;
  const bool a_full = da.numel() == n, b_full = db.numel() == n;
  if (a_full && db.numel() == 1) {
    array(out) = Op::apply(array(a), b.data()[0]);
  } else if (b_full && da.numel() == 1) {
    array(out) = Op::apply(a.data()[0], array(b));
  } else if (a_full && is_trailing_block(db, shape)) {
    const int64_t cols = db.numel(), rows = n / cols;
    const ArrayMap<T> row(b.data(), cols);
    for (int64_t r = 0; r < rows; ++r) {
      Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out.data() + r * cols, cols) =
          Op::apply(Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(a.data() + r * cols, cols), row);
    }
  } else if (b_full && is_trailing_block(da, shape)) {
    const int64_t cols = da.numel(), rows = n / cols;
    const ArrayMap<T> row(a.data(), cols);
    for (int64_t r = 0; r < rows; ++r) {
      Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out.data() + r * cols, cols) =
          Op::apply(row, Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(b.data() + r * cols, cols));
    }
  } else {
    const T* pa = a.data();
    const T* pb = b.data();
    T* po = out.data();
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
    out.data()[0] = array(g).sum();
  } else if (is_trailing_block(shape, dg)) {
    const int64_t rows = dg.numel() / n;
    Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(out.data(), n) = as_matrix(g, rows, n).colwise().sum();
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
  array(acc) += array(g);
}

template <class T>
Tensor<T> add_values(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = make_tensor<T>(a.sizes());
  array(out) = array(a) + array(b);
  return out;
}

}  // namespace tapegrad::detail

namespace Eigen::internal {
template <class T>
struct functor_traits<tapegrad::detail::ExactSqrt<T>> {
  enum { Cost = NumTraits<T>::MulCost * 6, PacketAccess = tapegrad::detail::kExactSqrtPackets<T> };
};
}  // namespace Eigen::internal
