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
//  * the matrix product is tapegrad's own packed GEMM over Eigen's packet functions (gemm.hpp).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "../core/factories.hpp"
#include "../core/parallel.hpp"

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

// ---- plain loops ------------------------------------------------------------------------

// body(begin, end) over [0, n) elements, split across threads when n is large (chunks of
// kElementwiseGrain, a multiple of every packet size).
template <class F>
void parallel_elementwise(int64_t n, const F& body) {
  parallel_for(n, kElementwiseGrain, body);
}

// y[i] = f(x[i]) for i < n (y may be x).
// (The chunk bodies copy f first: a functor reached through the closure could alias y, and its
// captured values would be reloaded at every element.)
template <class T, class F>
void map_values(const T* x, T* y, int64_t n, F f) {
  parallel_elementwise(n, [&](int64_t begin, int64_t end) {
    const F local = f;
    for (int64_t i = begin; i < end; ++i) y[i] = local(x[i]);
  });
}

// y[i] = f(a[i], b[i]) for i < n (y may be a or b).
template <class T, class F>
void zip_values(const T* a, const T* b, T* y, int64_t n, F f) {
  parallel_elementwise(n, [&](int64_t begin, int64_t end) {
    const F local = f;
    for (int64_t i = begin; i < end; ++i) y[i] = local(a[i], b[i]);
  });
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
// Each reproduces what an Eigen expression computed (the ops used those expressions before),
// one instantiation per scalar type shared by every op. With Eigen 3.4 and vectorisation on,
// they are Eigen's own loops written out over its packet functions (pload, padd, predux, pexp,
// ...), which compile several times faster than the expression machinery around them; with
// another Eigen version, or without vectorisation, the expressions themselves are used.

#if EIGEN_VERSION_AT_LEAST(3, 4, 0) && !EIGEN_VERSION_AT_LEAST(3, 4, 90)
#define TAPEGRAD_EIGEN_INTERNALS 1
#else
#define TAPEGRAD_EIGEN_INTERNALS 0
#endif
#if TAPEGRAD_EIGEN_INTERNALS && defined(EIGEN_VECTORIZE)
#define TAPEGRAD_EIGEN_PACKETS 1
#else
#define TAPEGRAD_EIGEN_PACKETS 0
#endif

#if TAPEGRAD_EIGEN_PACKETS
template <class T>
using Packet = typename Eigen::internal::packet_traits<T>::type;
template <class T>
constexpr int64_t kPacketSize = Eigen::internal::packet_traits<T>::size;

// Eigen's vectorised sum (redux_impl, LinearVectorizedTraversal) of the n values v(i), whose
// packets are packet(i): two packet accumulators from `start` on, reduced with predux, then
// the values before `start` and after the last whole packet in order.
template <class T, class V, class PacketAt>
TAPEGRAD_NOINLINE T eigen_redux_sum(int64_t n, int64_t start, V v, PacketAt packet) {
  using namespace Eigen::internal;
  constexpr int64_t ps = kPacketSize<T>;
  if (n == 0) return T(0);
  const int64_t size2 = ((n - start) / (2 * ps)) * (2 * ps), size1 = ((n - start) / ps) * ps;
  const int64_t end2 = start + size2, end1 = start + size1;
  if (size1 == 0) {
    T res = v(0);
    for (int64_t i = 1; i < n; ++i) res = res + v(i);
    return res;
  }
  Packet<T> r0 = packet(start);
  if (size1 > ps) {
    Packet<T> r1 = packet(start + ps);
    for (int64_t i = start + 2 * ps; i < end2; i += 2 * ps) {
      r0 = padd(r0, packet(i));
      r1 = padd(r1, packet(i + ps));
    }
    r0 = padd(r0, r1);
    if (end1 > end2) r0 = padd(r0, packet(end2));
  }
  T res = predux(r0);
  for (int64_t i = 0; i < start; ++i) res = res + v(i);
  for (int64_t i = end1; i < n; ++i) res = res + v(i);
  return res;
}
#endif

// The sum of p[0, n), in the order Eigen's vectorised sum adds: what array(x).sum() gave.
template <class T>
T sum_values(const T* p, int64_t n) {
#if TAPEGRAD_EIGEN_PACKETS
  const int64_t start = Eigen::internal::first_default_aligned(p, static_cast<Eigen::Index>(n));
  return eigen_redux_sum<T>(n, start, [p](int64_t i) { return p[i]; },
                            [p](int64_t i) { return Eigen::internal::ploadu<Packet<T>>(p + i); });
#else
  return Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(p, n).sum();
#endif
}

// out[j] = the sum over rows of the row-major (rows, cols) matrix g, in Eigen's order (its
// colwise().sum() into a row vector): whole packets of columns from the first packet-aligned
// element of `out` add rows pairwise in fours, the other columns add rows in order.
template <class T>
TAPEGRAD_NOINLINE void column_sums(const T* g, int64_t rows, int64_t cols, T* out) {
#if TAPEGRAD_EIGEN_PACKETS
  using namespace Eigen::internal;
  constexpr int64_t ps = kPacketSize<T>;
  constexpr int kAlign = static_cast<int>(ps * sizeof(T));  // a whole packet's alignment
  const int64_t start = first_aligned<kAlign>(out, static_cast<Eigen::Index>(cols));
  const int64_t end = start + ((cols - start) / ps) * ps;
  auto column = [&](int64_t j) {
    if (rows == 0) return T(0);
    T s = g[j];
    for (int64_t i = 1; i < rows; ++i) s = s + g[i * cols + j];
    return s;
  };
  for (int64_t j = 0; j < start; ++j) out[j] = column(j);
  // The packets of columns across threads: each packet's sum is the same on any of them.
  const int64_t packets = (end - start) / ps;
  parallel_for(packets, items_per_chunk(rows * ps), [&](int64_t first, int64_t last) {
    for (int64_t j = start + first * ps; j < start + last * ps; j += ps) {
      auto row = [&](int64_t i) { return ploadu<Packet<T>>(g + i * cols + j); };
      Packet<T> p = pset1<Packet<T>>(T(0));
      if (rows > 0) {
        const int64_t rows4 = (rows - 1) & ~int64_t(3);
        p = row(0);
        int64_t i = 1;
        for (; i < rows4; i += 4) p = padd(p, padd(padd(row(i), row(i + 1)), padd(row(i + 2), row(i + 3))));
        for (; i < rows; ++i) p = padd(p, row(i));
      }
      pstoreu(out + j, p);
    }
  });
  for (int64_t j = end; j < cols; ++j) out[j] = column(j);
#else
  Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(out, cols) = ConstMatrixMap<T>(g, rows, cols).colwise().sum();
#endif
}

// y = f(x) for an Eigen unary functor over aligned tensor data (y may be x), as an Eigen
// array assignment evaluates it: whole packets with f's packet op, the tail with its scalar op.
// Chunks start at multiples of kElementwiseGrain, so stay aligned and keep the whole loop's
// packets (only the last chunk has a scalar tail).
template <class T, class F>
TAPEGRAD_NOINLINE void eigen_map(const T* x, T* y, int64_t n, F f) {
  parallel_elementwise(n, [&](int64_t begin, int64_t end) {
    const T* xs = x + begin;
    T* ys = y + begin;
    const int64_t count = end - begin;
#if TAPEGRAD_EIGEN_PACKETS
    using namespace Eigen::internal;
    int64_t i = 0;
    if constexpr (functor_traits<F>::PacketAccess) {
      constexpr int64_t ps = kPacketSize<T>;
      for (; i + ps <= count; i += ps) pstore(ys + i, f.packetOp(pload<Packet<T>>(xs + i)));
    }
    for (; i < count; ++i) ys[i] = f(xs[i]);
#else
    ArrayMap<T>(ys, count) = ConstArrayMap<T>(xs, count).unaryExpr(f);
#endif
  });
}

#if TAPEGRAD_EIGEN_PACKETS && defined(EIGEN_VECTORIZE_SSE2)
#define TAPEGRAD_X86_PACKETS 1
// The correctly rounded square root of each lane: the instruction itself (Eigen's psqrt is an
// estimate for floats, and for doubles with AVX-512, under its default fast math).
inline __m128 exact_psqrt(const __m128& x) { return _mm_sqrt_ps(x); }
inline __m128d exact_psqrt(const __m128d& x) { return _mm_sqrt_pd(x); }
#if defined(EIGEN_VECTORIZE_AVX)
inline __m256 exact_psqrt(const __m256& x) { return _mm256_sqrt_ps(x); }
inline __m256d exact_psqrt(const __m256d& x) { return _mm256_sqrt_pd(x); }
#endif
#if defined(EIGEN_VECTORIZE_AVX512)
inline __m512 exact_psqrt(const __m512& x) { return _mm512_sqrt_ps(x); }
inline __m512d exact_psqrt(const __m512d& x) { return _mm512_sqrt_pd(x); }
#endif
#else
#define TAPEGRAD_X86_PACKETS 0
#endif

// y = sqrt(x), or 1 / sqrt(x) with `inverse`, correctly rounded, in packets where the
// instruction set has them (a scalar sqrt loop does not vectorise: std::sqrt may set errno).
template <class T>
TAPEGRAD_NOINLINE void sqrt_values(const T* x, T* y, int64_t n, bool inverse) {
  parallel_elementwise(n, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
#if TAPEGRAD_X86_PACKETS
    using namespace Eigen::internal;
    constexpr int64_t ps = kPacketSize<T>;
    const Packet<T> one = pset1<Packet<T>>(T(1));
    for (; i + ps <= end; i += ps) {
      const Packet<T> r = exact_psqrt(ploadu<Packet<T>>(x + i));
      pstoreu(y + i, inverse ? pdiv(one, r) : r);
    }
#endif
    for (; i < end; ++i) y[i] = inverse ? T(1) / std::sqrt(x[i]) : std::sqrt(x[i]);
  });
}

#if TAPEGRAD_EIGEN_PACKETS
// exp of a packet: Eigen's pexp, but exactly 0 below -104 (float) or -746 (double), where exp
// underflows to 0: Eigen clamps the argument at -88.7 first, so its exp(-inf) is about 2^-128,
// and a masked attention weight must be 0. Between the two, exp's subnormals come out as
// Eigen's 2^-128-ish value.
template <class P>
P exp_packet(const P& x) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<P>::type;
  const P underflow = pset1<P>(std::is_same_v<T, float> ? T(-104) : T(-746));
  return pselect(pcmp_lt(x, underflow), pzero(x), pexp(x));
}
#endif

// y = exp(x), log(x), tanh(x), x^p with Eigen's vectorised functions (y may be x; both aligned
// tensor data).
template <class T>
void exp_values(const T* x, T* y, int64_t n) {
  eigen_map(x, y, n, Eigen::internal::scalar_exp_op<T>());
}
template <class T>
void log_values(const T* x, T* y, int64_t n) {
  eigen_map(x, y, n, Eigen::internal::scalar_log_op<T>());
}
template <class T>
void tanh_values(const T* x, T* y, int64_t n) {
  eigen_map(x, y, n, Eigen::internal::scalar_tanh_op<T>());
}
template <class T>
void pow_scalar_values(const T* x, T* y, int64_t n, T p) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).pow(p);
}

// ---- broadcasting -----------------------------------------------------------------------

// Whether `small` (right-aligned against `big`) equals big's trailing dims exactly, ignoring
// leading 1s: then `small` repeats once per row of `big` (a bias row).
TAPEGRAD_NOINLINE inline bool is_trailing_block(const Dims& small, const Dims& big) {
  int lead = 0;
  while (lead < small.size() && small[lead] == 1) ++lead;
  const int n = small.size() - lead;
  if (n > big.size()) return false;
  for (int i = 0; i < n; ++i) {
    if (small[lead + i] != big[big.size() - n + i]) return false;
  }
  return true;
}

// The counters of a broadcast walk over all dims but the last, with the offsets they give
// into a and b (strides `sa`, `sb`).
struct BroadcastOdometer {
  int64_t index[kMaxDims] = {};
  int64_t ia = 0, ib = 0;
  // Starts at row `row` of `out` (its index over all dims but the last).
  TAPEGRAD_NOINLINE void seek(int64_t row, const Dims& out, const Dims& sa, const Dims& sb) {
    ia = ib = 0;
    for (int d = out.size() - 2; d >= 0; --d) {
      index[d] = row % out[d];
      row /= out[d];
      ia += index[d] * sa[d];
      ib += index[d] * sb[d];
    }
  }
  // Moves to the next row of `out`, like an odometer.
  TAPEGRAD_NOINLINE void advance(const Dims& out, const Dims& sa, const Dims& sb) {
    for (int d = out.size() - 2; d >= 0; --d) {
      ia += sa[d];
      ib += sb[d];
      if (++index[d] < out[d]) break;
      ia -= sa[d] * out[d];
      ib -= sb[d] * out[d];
      index[d] = 0;
    }
  }
};

// Calls f(i, ia, ib) for every element i of `out` with the matching offsets into a and b
// whose broadcast strides are `sa` and `sb` (all of out's rank).
template <class F>
void for_each_broadcast(const Dims& out, const Dims& sa, const Dims& sb, F&& f) {
  const int rank = out.size();
  const int64_t total = out.numel();
  if (total == 0) return;
  if (rank == 0) return f(int64_t(0), int64_t(0), int64_t(0));
  const int64_t inner = out[rank - 1], ia_step = sa[rank - 1], ib_step = sb[rank - 1];
  BroadcastOdometer o;
  for (int64_t i = 0; i < total; i += inner) {
    for (int64_t k = 0; k < inner; ++k) f(i + k, o.ia + k * ia_step, o.ib + k * ib_step);
    o.advance(out, sa, sb);
  }
}

// for_each_broadcast for an f that writes element i of `out` and nothing else: the elements
// across threads in chunks of `grain`, each chunk starting its odometer at its first row.
// (reduce_to_shape, whose f adds into shared outputs, keeps the serial walk.)
template <class F>
void parallel_for_each_broadcast(const Dims& out, const Dims& sa, const Dims& sb, const F& f,
                                 int64_t grain = kElementwiseGrain) {
  const int rank = out.size();
  const int64_t total = out.numel();
  if (rank == 0 || total <= grain) return for_each_broadcast(out, sa, sb, f);
  const int64_t inner = out[rank - 1], ia_step = sa[rank - 1], ib_step = sb[rank - 1];
  parallel_for(total, grain, [&](int64_t begin, int64_t end) {
    BroadcastOdometer o;
    int64_t row = begin / inner, k = begin % inner;
    o.seek(row, out, sa, sb);
    for (int64_t i = begin; i < end; k = 0, ++row, o.advance(out, sa, sb)) {
      for (const int64_t row_end = std::min(end, (row + 1) * inner); i < row_end; ++i, ++k) {
        f(i, o.ia + k * ia_step, o.ib + k * ib_step);
      }
    }
  });
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
    zip_values(pa, pb, out.data(), da.numel(), [](T x, T y) { return Op::apply(x, y); });
    return out;
  }
  const Dims shape = broadcast_shape(da, db, name);
  Tensor<T> out = make_tensor<T>(shape);
  T* po = out.data();
  parallel_for_each_broadcast(shape, broadcast_strides(da, shape), broadcast_strides(db, shape),
                              [&](int64_t i, int64_t ia, int64_t ib) { po[i] = Op::apply(pa[ia], pb[ib]); });
  return out;
}

// `t` materialised at the broadcast shape `shape` (no gradient). Neighbouring dims that are
// both broadcast or both kept merge into one, so the walk goes in runs as long as possible:
// the innermost run is a fill (broadcast, as a sum's gradient spread over its input) or a
// copy (kept, as a bias row repeated).
template <class T>
Tensor<T> broadcast_to(const Tensor<T>& t, const Dims& shape) {
  if (t.sizes() == shape) return t;
  Tensor<T> out = make_tensor<T>(shape);
  const int64_t total = shape.numel();
  if (total == 0) return out;
  const T* src = t.data();
  T* dst = out.data();
  const Dims strides = broadcast_strides(t.sizes(), shape);
  // merged dims, outermost first: sizes n[], source strides st[] (0 or contiguous)
  int64_t n[kMaxDims], st[kMaxDims];
  int rank = 0;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (rank > 0 && st[rank - 1] == strides[d] * shape[d]) {  // the outer one steps over this one whole
      n[rank - 1] *= shape[d];
      st[rank - 1] = strides[d];
    } else {
      n[rank] = shape[d];
      st[rank] = strides[d];
      ++rank;
    }
  }
  if (rank == 0) {  // one value
    dst[0] = src[0];
    return out;
  }
  const int64_t inner = n[rank - 1];
  const bool fill = st[rank - 1] == 0;
  int64_t index[kMaxDims] = {}, is = 0;
  for (int64_t i = 0; i < total; i += inner) {
    if (fill) {
      std::fill_n(dst + i, inner, src[is]);
    } else {
      std::copy_n(src + is, inner, dst + i);
    }
    for (int d = rank - 2; d >= 0; --d) {  // the odometer over the outer dims
      is += st[d];
      if (++index[d] < n[d]) break;
      is -= st[d] * n[d];
      index[d] = 0;
    }
  }
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

}  // namespace tapegrad::detail
