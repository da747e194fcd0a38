#pragma once
// Direct convolution kernels, for convolutions of horizontal stride 1: there an output row's
// pixels read a contiguous run of each input row, so a packet of output columns is one
// unaligned load of the input, and no im2col matrix is built or packed. The input planes are
// first copied into a zero-bordered buffer, so that every load is a whole packet in bounds:
//   forward      y[o, oh, ow]  = sum over taps (c, i, j) of w[o, c, i, j] xpad[c, oh sh + i dh, ow + j dw]
//                a tile of output channels x packets of output columns, the weights broadcast;
//   input grad   (stride 1) the same kernel: a convolution of the padded output gradient with
//                the flipped, transposed weights;
//   weight grad  dw[o, c, i, j] = sum over samples and output pixels of g[o, oh, ow] xpad[...]:
//                a tile of output channels x taps, each a packet of partial sums over output
//                columns, reduced at the end.
// Output rows narrower than a packet leave lanes unused (14 of 16 for a 14-wide image with
// AVX-512); convolution.hpp only takes these paths where three quarters of the lanes or more are used.
// The lanes past a row's end compute on values that are not the row's: the forward and input
// gradient drop them, the weight gradient multiplies them by zeros, which is exact unless the
// input holds an infinity or NaN (convolution.hpp then takes the im2col path).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "gemm.hpp"

namespace tapegrad::detail::conv {

#if TAPEGRAD_EIGEN_INTERNALS

// Tile shapes: as many accumulators as the vector registers hold beside the operands.
template <class T>
struct DirectTile {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int kPacket = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr bool kWide = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32;
  static constexpr int kOut = kWide ? 8 : 4;      // forward: output channels per tile
  static constexpr int kUnits = kWide ? 3 : 2;    // forward: packets of output columns per tile
  // weight grad: output channels x filter taps per tile; its accumulators, a packet of g per
  // channel and one of x per tap all in registers (4 x 5 + 4 + 5 = 29 of 32; 4 x 6 spilled
  // two accumulators to the stack, 2 x 4 + 2 + 4 = 14 of 16)
  static constexpr int kGradOut = kWide ? 4 : 2;
  static constexpr int kTaps = kWide ? 5 : 4;
};

// Where a direct kernel reads: `planes` source planes copied into a buffer of planes Hp x Wp,
// whose row r, column q hold the source's row r - top, column q - left (0 outside it). A unit is
// one packet of output columns: output row oh, columns [seg * ps, seg * ps + ps).
struct DirectLayout {
  int64_t planes, kh, kw, sh, dh, dw;
  int64_t Ho, Wo;       // the output plane
  int64_t top, left;    // the buffer's border before the source
  int64_t segments;     // units per output row
  int64_t Hp, Wp;       // the buffer's plane
  int64_t ps;           // values per packet

  DirectLayout(int64_t planes_, int64_t kh_, int64_t kw_, int64_t sh_, int64_t dh_, int64_t dw_, int64_t Ho_,
               int64_t Wo_, int64_t top_, int64_t left_, int64_t ps_)
      : planes(planes_), kh(kh_), kw(kw_), sh(sh_), dh(dh_), dw(dw_), Ho(Ho_), Wo(Wo_), top(top_), left(left_),
        segments((Wo_ + ps_ - 1) / ps_), Hp((Ho_ - 1) * sh_ + (kh_ - 1) * dh_ + 1),
        Wp(segments * ps_ + (kw_ - 1) * dw_), ps(ps_) {}

  int64_t plane_size() const { return Hp * Wp; }
  int64_t taps() const { return planes * kh * kw; }
  int64_t units() const { return Ho * segments; }
  // Tap (c, i, j), numbered as a weight's (C, kh, kw) values, from a unit's first value.
  int64_t tap_offset(int64_t t) const { return (t / (kh * kw)) * Hp * Wp + (t / kw % kh) * dh * Wp + (t % kw) * dw; }
  // A unit's first value, for tap (0, 0, 0).
  int64_t unit_offset(int64_t u) const { return (u / segments) * sh * Wp + (u % segments) * ps; }
};

// Whether output rows of width Wo use three quarters of the packets' lanes or more.
template <class T>
bool lanes_well_used(int64_t Wo) {
  constexpr int64_t ps = DirectTile<T>::kPacket;
  return Wo * 4 >= (Wo + ps - 1) / ps * ps * 3;
}

// Row building in packets: row[0, width) = s[q] where mask[q] has all its bits set, else 0. The
// last packet ends at the row's end, over the one before it, so nothing is written past the
// row; s[0, width) must be readable (values outside the mask are read and dropped). width >= ps.
template <class T>
inline void masked_row(const T* s, const T* mask, int64_t width, T* row) {
  using namespace Eigen::internal;
  using P = typename DirectTile<T>::Packet;
  constexpr int64_t ps = DirectTile<T>::kPacket;
  for (int64_t off = 0;; off += ps) {
    off = std::min(off, width - ps);
    pstoreu(row + off, pand(ploadu<P>(s + off), ploadu<P>(mask + off)));
    if (off == width - ps) return;
  }
}

// Whether v[0, n) are all finite: v * 0 is 0 for a finite value and NaN for an infinity or NaN,
// and the sum of those is 0 only if every one is. In packets (Eigen's allFinite tests one value
// at a time, which took half the time of copying the weight gradient's inputs).
// Under -ffast-math or -ffinite-math-only the compiler may take x * 0 to be 0: there the
// exponent bits are tested instead (all ones: an infinity or NaN), one value at a time.
template <class T>
bool all_finite(const T* v, int64_t n) {
#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr Bits exponent = sizeof(T) == 4 ? Bits(0x7F800000u) : Bits(0x7FF0000000000000ull);
  for (int64_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, v + i, sizeof(T));
    if ((b & exponent) == exponent) return false;
  }
  return true;
#else
  using namespace Eigen::internal;
  using P = typename DirectTile<T>::Packet;
  constexpr int64_t ps = DirectTile<T>::kPacket;
  const P zero = pset1<P>(T(0));
  P acc = zero;
  int64_t i = 0;
  for (; i + ps <= n; i += ps) acc = padd(acc, pmul(ploadu<P>(v + i), zero));
  T rest = predux(acc);
  for (; i < n; ++i) rest += v[i] * T(0);
  return rest == T(0);
#endif
}

// mask[0, width) with all bits set in [q0, q1), zero elsewhere: masked_row's mask.
template <class T>
void row_mask(int64_t q0, int64_t q1, int64_t width, T* mask) {
  std::fill_n(mask, width, T(0));
  std::memset(static_cast<void*>(mask + q0), 0xFF, static_cast<std::size_t>(q1 - q0) * sizeof(T));
}

// The source planes (L.planes, H, W) into the zero-bordered buffer (L.planes, Hp, Wp). The rows
// holding source values go in packets (masked_row), each reading a whole buffer row's width from
// the source (the neighbouring rows' values are dropped), unless that would read outside it.
template <class T>
TAPEGRAD_NOINLINE void pad_planes(const DirectLayout& L, const T* src, int64_t H, int64_t W, T* buf) {
  constexpr int64_t ps = DirectTile<T>::kPacket;
  const int64_t Wp = L.Wp, plane = L.Hp * Wp, source_size = L.planes * H * W;
  const int64_t q0 = std::clamp<int64_t>(L.left, 0, Wp), q1 = std::clamp<int64_t>(L.left + W, 0, Wp);
  if (q1 <= q0) {
    std::fill_n(buf, L.planes * plane, T(0));
    return;
  }
  const int64_t r0 = std::clamp<int64_t>(L.top, 0, L.Hp), r1 = std::clamp<int64_t>(L.top + H, r0, L.Hp);  // source rows
  const bool packets = Wp >= ps;
  gemm_impl::PoolBuffer<T> mask(packets ? Wp : 0);
  if (packets) row_mask(q0, q1, Wp, mask.data);
  for (int64_t c = 0; c < L.planes; ++c) {
    T* out = buf + c * plane;
    std::fill_n(out, r0 * Wp, T(0));
    for (int64_t r = r0; r < r1; ++r) {
      T* row = out + r * Wp;
      const int64_t first = (c * H + r - L.top) * W - L.left;  // src[first + q] = the source's column q - left
      if (packets && first >= 0 && first + Wp <= source_size) {
        masked_row(src + first, mask.data, Wp, row);
        continue;
      }
      // plain loops: the rows are short, and a call to memcpy / memset per row costs more
      for (int64_t q = 0; q < q0; ++q) row[q] = T(0);
      for (int64_t q = q0; q < q1; ++q) row[q] = src[first + q];
      for (int64_t q = q1; q < Wp; ++q) row[q] = T(0);
    }
    std::fill_n(out + r1 * Wp, (L.Hp - r1) * Wp, T(0));
  }
}

// tile (kOut x nu packets, Q = o * nu + u) = the sum over taps p < K of w[p][o] times
// the buffer's packet at unit u's offset + taps[p]. w holds kOut values per tap.
template <class T, size_t... Q, size_t... U>
TAPEGRAD_NOINLINE void direct_tile(std::index_sequence<Q...>, std::index_sequence<U...>, const T* w, const T* buf,
                                   const int64_t* taps, int64_t K, const int64_t* units, T* tile) {
  using namespace Eigen::internal;
  using P = typename DirectTile<T>::Packet;
  constexpr int ps = DirectTile<T>::kPacket, mo = DirectTile<T>::kOut, nu = sizeof...(U);
  const T* base[nu] = {(buf + units[U])...};
  P acc[sizeof...(Q)];
  ((acc[Q] = pset1<P>(T(0))), ...);
  for (int64_t p = 0; p < K; ++p, w += mo) {
    const int64_t off = taps[p];
    const P x[nu] = {ploadu<P>(base[U] + off)...};
    ((acc[Q] = pmadd(pset1<P>(w[Q / nu]), x[Q % nu], acc[Q])), ...);
  }
  ((pstore(tile + Q * ps, acc[Q])), ...);
}

// The weights of one group as direct_tile reads them: for each block of kOut output channels,
// for each tap p < K, kOut values weight(o, p) (0 past the last channel).
template <class T, class Weight>
void pack_direct_weights(int64_t outputs, int64_t K, Weight weight, T* out) {
  constexpr int mo = DirectTile<T>::kOut;
  for (int64_t o0 = 0; o0 < outputs; o0 += mo) {
    for (int64_t p = 0; p < K; ++p) {
      for (int o = 0; o < mo; ++o) *out++ = o0 + o < outputs ? weight(o0 + o, p) : T(0);
    }
  }
}

// out (outputs, Ho, Wo) = the convolution of the padded source buf with the packed weights
// (+ bias[o] where bias is not null), in tiles of kOut channels x nu units. taps: L.taps()
// offsets, units: L.units() offsets.
template <int nu, class T>
TAPEGRAD_NOINLINE void direct_convolve_tiles(const DirectLayout& L, const T* buf, const T* packed, int64_t outputs,
                                             const int64_t* taps, const int64_t* units, const T* bias, T* out) {
  using namespace Eigen::internal;
  using Tl = DirectTile<T>;
  using P = typename Tl::Packet;
  constexpr int ps = Tl::kPacket, mo = Tl::kOut;
  const int64_t K = L.taps(), U = L.units(), HWo = L.Ho * L.Wo;
  alignas(64) T tile[mo * nu * ps];
  // units outer: a tile of units reads a few rows of every plane, which stay in L1 while every
  // block of output channels (all their weights in L1 too) reads them
  for (int64_t u0 = 0; u0 < U; u0 += nu) {
    const int64_t cols = std::min<int64_t>(nu, U - u0);
    int64_t unit[nu];
    for (int u = 0; u < nu; ++u) unit[u] = units[u0 + std::min<int64_t>(u, cols - 1)];  // past the end: again the last
    for (int64_t o0 = 0; o0 < outputs; o0 += mo) {
      const int64_t rows = std::min<int64_t>(mo, outputs - o0);
      direct_tile(std::make_index_sequence<static_cast<size_t>(mo * nu)>(), std::make_index_sequence<static_cast<size_t>(nu)>(),
                  packed + o0 * K, buf, taps, K, unit, tile);
      for (int64_t o = 0; o < rows; ++o) {
        const T b = bias ? bias[o0 + o] : T(0);
        for (int64_t u = 0; u < cols; ++u) {
          const int64_t oh = (u0 + u) / L.segments, ow = (u0 + u) % L.segments * ps;
          const T* t = tile + (o * nu + u) * ps;
          T* dst = out + (o0 + o) * HWo + oh * L.Wo + ow;
          if (u0 + u + 1 < U) {
            // A whole packet, even where the row ends sooner: the lanes past it land on the next
            // row's first columns, which a later unit of the same channel writes (units go in
            // order). The plane's last unit would reach the next channel: it goes value by value.
            pstoreu(dst, padd(pload<P>(t), pset1<P>(b)));
          } else {
            for (int64_t l = 0, n = std::min<int64_t>(ps, L.Wo - ow); l < n; ++l) dst[l] = t[l] + b;
          }
        }
      }
    }
  }
}

// direct_convolve_tiles with kUnits units per tile, or one fewer where kUnits would leave more
// than a twentieth of the tiles' units empty and one fewer leaves fewer (a 14-row plane of one
// packet per row: 7 tiles of 2 rather than 5 of 3, the last one a third empty; with 32 vector
// registers the 8 x 2 tile still has loads to spare, but it reuses each weight less, so large
// planes keep kUnits).
template <class T>
void direct_convolve(const DirectLayout& L, const T* buf, const T* packed, int64_t outputs, const int64_t* taps,
                     const int64_t* units, const T* bias, T* out) {
  constexpr int nu = DirectTile<T>::kUnits;
  const int64_t U = L.units();
  if constexpr (nu > 2) {
    const int64_t slots = (U + nu - 1) / nu * nu;
    if ((slots - U) * 20 > slots && (U + nu - 2) / (nu - 1) * (nu - 1) < slots) {
      direct_convolve_tiles<nu - 1>(L, buf, packed, outputs, taps, units, bias, out);
      return;
    }
  }
  direct_convolve_tiles<nu>(L, buf, packed, outputs, taps, units, bias, out);
}

// acc (kGradOut x kTaps packets, Q = o * kTaps + t) += the sum over steps k < steps of
// g[o] + k * ps times x[t] + x_offsets[k]: a step is one unit of one sample.
template <class T, size_t... Q, size_t... O, size_t... Tp>
TAPEGRAD_NOINLINE void weight_tile(std::index_sequence<Q...>, std::index_sequence<O...>, std::index_sequence<Tp...>,
                                   const T* const* g, const T* const* x, const int64_t* x_offsets, int64_t steps,
                                   T* acc_memory) {
  using namespace Eigen::internal;
  using P = typename DirectTile<T>::Packet;
  constexpr int ps = DirectTile<T>::kPacket, nt = sizeof...(Tp);
  const T* gk[sizeof...(O)] = {g[O]...};
  const T* xt[nt] = {x[Tp]...};
  P acc[sizeof...(Q)];
  ((acc[Q] = ploadu<P>(acc_memory + Q * ps)), ...);
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t off = x_offsets[k];
    const P gu[sizeof...(O)] = {ploadu<P>(gk[O] + k * ps)...};
    ((acc[Q] = pmadd(gu[Q / nt], ploadu<P>(xt[Q % nt] + off), acc[Q])), ...);
  }
  ((pstoreu(acc_memory + Q * ps, acc[Q])), ...);
}

#endif  // TAPEGRAD_EIGEN_INTERNALS

}  // namespace tapegrad::detail::conv
