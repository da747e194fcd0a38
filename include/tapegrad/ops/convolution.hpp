#pragma once
// 2-d convolution as three bilinear primitives. Where the horizontal stride is 1 (and the
// filters and rows are long enough), direct kernels compute them from zero-bordered copies of
// the input (conv_direct.hpp); otherwise each is lowered to tapegrad's GEMM through im2col /
// col2im, one sample and one group at a time:
//   conv2d(x, w)              y  = w * cols(x)            (cols: im2col of x)
//   conv2d_input_grad(g, w)   dx = col2im(w^T g)          (a transposed convolution)
//   conv2d_weight_grad(x, g)  dw = g cols(x)^T
// Each one's backward is written in the other two (as PyTorch's convolution double backward),
// so convolutions differentiate to any order; without create_graph the same kernels run on raw
// buffers and record nothing. Arguments are checked by nn::functional::conv2d.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

#include "conv_direct.hpp"
#include "gemm.hpp"
#include "reduction.hpp"

namespace tapegrad {
namespace detail {
namespace conv {

// The sizes of one convolution: input (N, C, H, W), weight (O, C / groups, kh, kw), output
// (N, O, Ho, Wo).
struct Geometry {
  int64_t N, C, H, W;
  int64_t O, kh, kw;
  int64_t sh, sw, ph, pw, dh, dw, groups;
  int64_t Ho, Wo;

  int64_t Cg() const { return C / groups; }   // input channels per group
  int64_t Og() const { return O / groups; }   // output channels per group
  int64_t K() const { return Cg() * kh * kw; }  // a group's filter length: rows of cols
  int64_t HW() const { return H * W; }
  int64_t HWo() const { return Ho * Wo; }
  // A 1x1 kernel, stride 1, no padding: cols(x) is x itself.
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && Ho == H && Wo == W; }
  Dims input_shape() const { return Dims{N, C, H, W}; }
  Dims weight_shape() const { return Dims{O, Cg(), kh, kw}; }
  Dims output_shape() const { return Dims{N, O, Ho, Wo}; }
};

// Filters shorter than this (K = Cg kh kw, a first layer's 1 x 3 x 3) pad the GEMM's tiles badly:
// their products go row by row, as combinations or dot products of contiguous rows.
constexpr int64_t kShortFilter = 32;

// The output columns ow whose input column ow * sw + offset lies in [0, W): [lo, hi).
inline void valid_columns(int64_t offset, int64_t sw, int64_t W, int64_t Wo, int64_t& lo, int64_t& hi) {
  lo = offset >= 0 ? 0 : std::min(Wo, (-offset + sw - 1) / sw);
  hi = W - 1 - offset < 0 ? 0 : std::min(Wo, (W - 1 - offset) / sw + 1);
  hi = std::max(lo, hi);
}

// cols (K, Ho * Wo) from one group's input planes x (Cg, H, W): row (c, i, j) holds
// x[c, oh * sh - ph + i * dh, ow * sw - pw + j * dw], 0 outside the input.
template <class T>
TAPEGRAD_NOINLINE void im2col(const Geometry& s, const T* x, T* cols) {
  const int64_t Ho = s.Ho, Wo = s.Wo, H = s.H, W = s.W;
  for (int64_t c = 0; c < s.Cg(); ++c) {
    const T* xc = x + c * H * W;
    for (int64_t i = 0; i < s.kh; ++i) {
      for (int64_t j = 0; j < s.kw; ++j) {
        T* row = cols + ((c * s.kh + i) * s.kw + j) * Ho * Wo;  // (Ho, Wo)
        const int64_t offset = j * s.dw - s.pw;
        int64_t lo, hi;
        valid_columns(offset, s.sw, W, Wo, lo, hi);
        for (int64_t oh = 0; oh < Ho; ++oh) {
          T* r = row + oh * Wo;
          const int64_t ih = oh * s.sh - s.ph + i * s.dh;
          if (ih < 0 || ih >= H) {
            std::fill_n(r, Wo, T(0));
            continue;
          }
          const T* src = xc + ih * W + offset;  // src[ow * sw] = x[c, ih, ow * sw + offset]
          std::fill_n(r, lo, T(0));
          if (s.sw == 1) {
            std::copy(src + lo, src + hi, r + lo);
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) r[ow] = src[ow * s.sw];
          }
          std::fill(r + hi, r + Wo, T(0));
        }
      }
    }
  }
}

// The adjoint of im2col: x (Cg, H, W) += every entry of cols (K, Ho * Wo) at the input position
// it was read from.
template <class T>
TAPEGRAD_NOINLINE void col2im(const Geometry& s, const T* cols, T* x) {
  const int64_t Ho = s.Ho, Wo = s.Wo, H = s.H, W = s.W;
  for (int64_t c = 0; c < s.Cg(); ++c) {
    T* xc = x + c * H * W;
    for (int64_t i = 0; i < s.kh; ++i) {
      for (int64_t j = 0; j < s.kw; ++j) {
        const T* row = cols + ((c * s.kh + i) * s.kw + j) * Ho * Wo;  // (Ho, Wo)
        const int64_t offset = j * s.dw - s.pw;
        int64_t lo, hi;
        valid_columns(offset, s.sw, W, Wo, lo, hi);
        for (int64_t oh = 0; oh < Ho; ++oh) {
          const int64_t ih = oh * s.sh - s.ph + i * s.dh;
          if (ih < 0 || ih >= H) continue;
          const T* r = row + oh * Wo;
          T* dst = xc + ih * W + offset;
          if (s.sw == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += r[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * s.sw] += r[ow];
          }
        }
      }
    }
  }
}

#if TAPEGRAD_EIGEN_INTERNALS
// ---- the direct paths (conv_direct.hpp), where the horizontal stride is 1 ------------------

template <class T>
bool forward_is_direct(const Geometry& s) {
  return !s.pointwise() && s.sw == 1 && s.K() >= kShortFilter && lanes_well_used<T>(s.Wo);
}
// The input gradient is a convolution only at stride 1.
template <class T>
bool input_grad_is_direct(const Geometry& s) {
  return !s.pointwise() && s.sh == 1 && s.sw == 1 && s.Og() * s.kh * s.kw >= kShortFilter && lanes_well_used<T>(s.W);
}
// Lanes past a row's end multiply zeros by input values: exact only for finite inputs, which
// weight_grad_direct checks as it goes.
template <class T>
bool weight_grad_is_direct(const Geometry& s) {
  return !s.pointwise() && s.sw == 1 && s.K() >= kShortFilter && lanes_well_used<T>(s.Wo);
}

// Offsets of a layout's taps and units, from the pool.
struct DirectOffsets {
  explicit DirectOffsets(const DirectLayout& L) : taps(L.taps()), units(L.units()) {
    for (int64_t p = 0; p < L.taps(); ++p) taps.data[p] = L.tap_offset(p);
    for (int64_t u = 0; u < L.units(); ++u) units.data[u] = L.unit_offset(u);
  }
  gemm_impl::PoolBuffer<int64_t> taps, units;
};

// y = conv(x, w) + bias, as forward_values.
template <class T>
TAPEGRAD_NOINLINE void forward_direct(const Geometry& s, const T* x, const T* w, const T* bias, T* y) {
  constexpr int64_t mo = DirectTile<T>::kOut;
  const int64_t Og = s.Og(), Cg = s.Cg(), K = s.K(), packed_size = (Og + mo - 1) / mo * mo * K;
  const DirectLayout L(Cg, s.kh, s.kw, s.sh, s.dh, s.dw, s.Ho, s.Wo, s.ph, s.pw, DirectTile<T>::kPacket);
  const DirectOffsets offsets(L);
  gemm_impl::PoolBuffer<T> packed(s.groups * packed_size);
  for (int64_t g = 0; g < s.groups; ++g) {  // w_g (Og, K)
    pack_direct_weights(Og, K, [&](int64_t o, int64_t p) { return w[(g * Og + o) * K + p]; }, packed.data + g * packed_size);
  }
  // samples across threads (enough of them per chunk to be worth a thread), each its own padded copy
  parallel_for(s.N, items_per_chunk(s.O * K * s.HWo(), kMinParallelFmas), [&](int64_t first, int64_t last) {
    gemm_impl::PoolBuffer<T> buf(Cg * L.plane_size());
    for (int64_t n = first; n < last; ++n) {
      for (int64_t g = 0; g < s.groups; ++g) {
        pad_planes(L, x + (n * s.C + g * Cg) * s.HW(), s.H, s.W, buf.data);
        direct_convolve(L, buf.data, packed.data + g * packed_size, Og, offsets.taps.data, offsets.units.data,
                        bias ? bias + g * Og : nullptr, y + (n * s.O + g * Og) * s.HWo());
      }
    }
  });
}

// dx = the input gradient for g, as input_grad_values: at stride 1, dx[c, ih, iw] is the sum of
// w[o, c, i, j] g[o, ih + ph - i dh, iw + pw - j dw], a convolution of g padded by
// (kh - 1) dh - ph rows above (and (kw - 1) dw - pw columns left) with the weights flipped in
// both axes and their two channel axes swapped.
template <class T>
TAPEGRAD_NOINLINE void input_grad_direct(const Geometry& s, const T* g, const T* w, T* dx) {
  constexpr int64_t mo = DirectTile<T>::kOut;
  const int64_t Og = s.Og(), Cg = s.Cg(), taps = s.kh * s.kw, K = Og * taps;
  const int64_t packed_size = (Cg + mo - 1) / mo * mo * K;
  const DirectLayout L(Og, s.kh, s.kw, 1, s.dh, s.dw, s.H, s.W, (s.kh - 1) * s.dh - s.ph, (s.kw - 1) * s.dw - s.pw,
                       DirectTile<T>::kPacket);
  const DirectOffsets offsets(L);
  gemm_impl::PoolBuffer<T> packed(s.groups * packed_size);
  for (int64_t g_ = 0; g_ < s.groups; ++g_) {  // w'[c, (o, i, j)] = w[o, c, kh - 1 - i, kw - 1 - j]
    pack_direct_weights(Cg, K, [&](int64_t c, int64_t p) {
      const int64_t o = p / taps, flipped = taps - 1 - p % taps;
      return w[((g_ * Og + o) * Cg + c) * taps + flipped];
    }, packed.data + g_ * packed_size);
  }
  parallel_for(s.N, items_per_chunk(s.C * K * s.HW(), kMinParallelFmas), [&](int64_t first, int64_t last) {  // as forward_direct
    gemm_impl::PoolBuffer<T> buf(Og * L.plane_size());
    for (int64_t n = first; n < last; ++n) {
      for (int64_t g_ = 0; g_ < s.groups; ++g_) {
        pad_planes(L, g + (n * s.O + g_ * Og) * s.HWo(), s.Ho, s.Wo, buf.data);
        direct_convolve(L, buf.data, packed.data + g_ * packed_size, Cg, offsets.taps.data, offsets.units.data,
                        static_cast<const T*>(nullptr), dx + (n * s.C + g_ * Cg) * s.HW());
      }
    }
  });
}

// dw = the weight gradient at x for g, as weight_grad_values. Samples go a chunk at a time, their
// padded inputs and gradients in L2 (the gradients as (Og, chunk, units) packets, so that a
// tile's steps over the chunk's units are contiguous); each tile's packets of partial sums wait
// in memory between chunks and are reduced at the end. With `finite_only`, returns false (dw
// unspecified) as soon as a chunk's input holds an infinity or NaN: checked in the padded copy,
// while it is in cache, rather than over x before.
template <class T>
TAPEGRAD_NOINLINE bool weight_grad_direct(const Geometry& s, const T* x, const T* g, T* dw, bool finite_only = true) {
  using Tl = DirectTile<T>;
  constexpr int64_t ps = Tl::kPacket, mo = Tl::kGradOut, mt = Tl::kTaps;
  const int64_t Og = s.Og(), Cg = s.Cg(), K = s.K();
  const DirectLayout L(Cg, s.kh, s.kw, s.sh, s.dh, s.dw, s.Ho, s.Wo, s.ph, s.pw, ps);
  const int64_t U = L.units(), out_blocks = (Og + mo - 1) / mo, tap_blocks = (K + mt - 1) / mt;
  const int64_t x_size = Cg * L.plane_size(), g_size = Og * U * ps, tile_size = mo * mt * ps;
  const int64_t chunk = std::clamp<int64_t>((int64_t(256) << 10) / int64_t(sizeof(T)) / (x_size + g_size), 1, s.N);
  const DirectOffsets offsets(L);
  gemm_impl::PoolBuffer<T> xbuf(chunk * x_size), gbuf(chunk * g_size), acc(out_blocks * tap_blocks * tile_size);
  gemm_impl::PoolBuffer<int64_t> x_offsets(chunk * U);  // step (k, u): sample k's unit u
  const int64_t padded_width = L.segments * ps, g_size_all = s.N * s.O * s.HWo();
  gemm_impl::PoolBuffer<T> g_mask(padded_width);  // g's rows into gbuf in packets (masked_row)
  row_mask(int64_t(0), s.Wo, padded_width, g_mask.data);
  for (int64_t k = 0; k < chunk; ++k) {
    for (int64_t u = 0; u < U; ++u) x_offsets.data[k * U + u] = k * x_size + offsets.units.data[u];
  }
  for (int64_t g_ = 0; g_ < s.groups; ++g_) {
    std::fill_n(acc.data, out_blocks * tap_blocks * tile_size, T(0));
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
      const int64_t samples = std::min(chunk, s.N - n0), row = samples * U * ps;  // row: one channel's steps
      // The chunk's samples padded across threads, then its tiles: each tile's partial sums
      // are one thread's, over the chunks in order, whatever the thread count.
      std::atomic<bool> finite{true};
      parallel_for(samples, 1, [&](int64_t first_sample, int64_t last_sample) {
        for (int64_t k = first_sample; k < last_sample; ++k) {
          const int64_t n = n0 + k;
          T* xk = xbuf.data + k * x_size;
          pad_planes(L, x + (n * s.C + g_ * Cg) * s.HW(), s.H, s.W, xk);
          if (finite_only && !all_finite(xk, x_size)) {
            finite.store(false, std::memory_order_relaxed);
            return;
          }
          for (int64_t o = 0; o < Og; ++o) {  // g's rows, each padded with zeros to whole packets
            for (int64_t oh = 0; oh < s.Ho; ++oh) {
              const int64_t first = ((n * s.O + g_ * Og + o) * s.Ho + oh) * s.Wo;
              T* dst = gbuf.data + o * row + (k * s.Ho + oh) * padded_width;
              if (first + padded_width <= g_size_all) {
                masked_row(g + first, g_mask.data, padded_width, dst);
                continue;
              }
              for (int64_t q = 0; q < s.Wo; ++q) dst[q] = g[first + q];
              for (int64_t q = s.Wo; q < padded_width; ++q) dst[q] = T(0);
            }
          }
        }
      });
      if (!finite.load(std::memory_order_relaxed)) return false;
      parallel_for(out_blocks * tap_blocks, items_per_chunk(tile_size * samples * U, kMinParallelFmas),
                   [&](int64_t first_tile, int64_t last_tile) {
        for (int64_t tile = first_tile; tile < last_tile; ++tile) {
          const int64_t ob = tile / tap_blocks, tb = tile % tap_blocks;
          const T* grows[mo];
          for (int64_t o = 0; o < mo; ++o) grows[o] = gbuf.data + std::min(ob * mo + o, Og - 1) * row;
          const T* xtaps[mt];
          for (int64_t t = 0; t < mt; ++t) xtaps[t] = xbuf.data + offsets.taps.data[std::min(tb * mt + t, K - 1)];
          weight_tile(std::make_index_sequence<static_cast<size_t>(mo * mt)>(), std::make_index_sequence<static_cast<size_t>(mo)>(),
                      std::make_index_sequence<static_cast<size_t>(mt)>(), grows, xtaps, x_offsets.data, samples * U,
                      acc.data + tile * tile_size);
        }
      });
    }
    for (int64_t o = 0; o < Og; ++o) {
      for (int64_t p = 0; p < K; ++p) {
        const T* a = acc.data + ((o / mo * tap_blocks + p / mt) * mo * mt + (o % mo) * mt + p % mt) * ps;
        dw[(g_ * Og + o) * K + p] = Eigen::internal::predux(Eigen::internal::ploadu<typename Tl::Packet>(a));
      }
    }
  }
  return true;
}
#endif

// y (N, O, Ho, Wo) = conv(x, w) + bias, values only, through im2col and the GEMM; bias may be null.
template <class T>
TAPEGRAD_NOINLINE void forward_lowered(const Geometry& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Og = s.Og(), Cg = s.Cg(), K = s.K(), HWo = s.HWo();
  // Samples across threads, enough of them per chunk to be worth a thread; each sample whole.
  const int64_t grain = items_per_chunk(s.O * K * HWo, kMinParallelFmas);
  parallel_for(s.N, grain, [&](int64_t first, int64_t last) {
    gemm_impl::PoolBuffer<T> scratch(s.pointwise() ? 0 : K * HWo);
    for (int64_t n = first; n < last; ++n) {
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* xg = x + (n * s.C + g * Cg) * s.HW();  // (Cg, H, W)
        const T* cols = xg;                             // (K, HWo)
        if (!s.pointwise()) {
          im2col(s, xg, scratch.data);
          cols = scratch.data;
        }
        T* yg = y + (n * s.O + g * Og) * HWo;  // (Og, HWo) = w_g (Og, K) cols (K, HWo)
        if (K < kShortFilter) {  // each output row a combination of cols' K rows: no packing
          for (int64_t o = 0; o < Og; ++o) gemm(w + (g * Og + o) * K, false, cols, false, yg + o * HWo, 1, HWo, K, false);
        } else {
          gemm(w + g * Og * K, false, cols, false, yg, Og, HWo, K, false);
        }
      }
      if (bias) {
        for (int64_t o = 0; o < s.O; ++o) {
          T* yo = y + (n * s.O + o) * HWo;
          const T b = bias[o];
          for (int64_t p = 0; p < HWo; ++p) yo[p] += b;
        }
      }
    }
  });
}

// dx (N, C, H, W) = the input gradient of conv for output gradient g (N, O, Ho, Wo), values only,
// through the GEMM and col2im.
template <class T>
TAPEGRAD_NOINLINE void input_grad_lowered(const Geometry& s, const T* g, const T* w, T* dx) {
  const int64_t Og = s.Og(), Cg = s.Cg(), K = s.K(), HWo = s.HWo();
  if (!s.pointwise()) std::fill_n(dx, s.N * s.C * s.HW(), T(0));
  const int64_t grain = items_per_chunk(s.O * K * HWo, kMinParallelFmas);
  parallel_for(s.N, grain, [&](int64_t first, int64_t last) {  // samples across threads, as forward_lowered
    gemm_impl::PoolBuffer<T> scratch(s.pointwise() ? 0 : K * HWo);
    for (int64_t n = first; n < last; ++n) {
      for (int64_t g_ = 0; g_ < s.groups; ++g_) {
        const T* gg = g + (n * s.O + g_ * Og) * HWo;  // (Og, HWo)
        const T* wg = w + g_ * Og * K;                // (Og, K)
        T* dxg = dx + (n * s.C + g_ * Cg) * s.HW();   // (Cg, H, W)
        if (s.pointwise()) {                          // dx_g (Cg, HW) = w_g^T g_g
          gemm(wg, true, gg, false, dxg, K, HWo, Og, false);
        } else {  // cols (K, HWo) = w_g^T g_g, folded back onto the input
          gemm(wg, true, gg, false, scratch.data, K, HWo, Og, false);
          col2im(s, scratch.data, dxg);
        }
      }
    }
  });
}

// dw (O, Cg, kh, kw) = the weight gradient of conv at input x for output gradient g, values only,
// through im2col and the GEMM.
template <class T>
TAPEGRAD_NOINLINE void weight_grad_lowered(const Geometry& s, const T* x, const T* g, T* dw) {
  const int64_t Og = s.Og(), Cg = s.Cg(), K = s.K(), HWo = s.HWo();
  Tensor<T> scratch;
  if (!s.pointwise()) scratch = make_tensor<T>(Dims{K, HWo});
  std::fill_n(dw, s.O * K, T(0));
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t g_ = 0; g_ < s.groups; ++g_) {
      const T* xg = x + (n * s.C + g_ * Cg) * s.HW();
      const T* cols = xg;
      if (!s.pointwise()) {
        im2col(s, xg, scratch.data());
        cols = scratch.data();
      }
      // dw_g (Og, K) += g_g (Og, HWo) cols^T (HWo, K)
      const T* gg = g + (n * s.O + g_ * Og) * HWo;
      T* dwg = dw + g_ * Og * K;
      if (K < kShortFilter) {  // each row of dw_g K dot products of contiguous rows: no packing
        for (int64_t o = 0; o < Og; ++o) gemm(gg + o * HWo, false, cols, true, dwg + o * K, 1, K, HWo, true);
      } else {
        gemm(gg, false, cols, true, dwg, Og, K, HWo, true);
      }
    }
  }
}

// The three primitives on values: the direct kernels where they apply, else lowered to the GEMM.
template <class T>
void forward_values(const Geometry& s, const T* x, const T* w, const T* bias, T* y) {
#if TAPEGRAD_EIGEN_INTERNALS
  if (forward_is_direct<T>(s)) return forward_direct(s, x, w, bias, y);
#endif
  forward_lowered(s, x, w, bias, y);
}
template <class T>
void input_grad_values(const Geometry& s, const T* g, const T* w, T* dx) {
#if TAPEGRAD_EIGEN_INTERNALS
  if (input_grad_is_direct<T>(s)) return input_grad_direct(s, g, w, dx);
#endif
  input_grad_lowered(s, g, w, dx);
}
template <class T>
void weight_grad_values(const Geometry& s, const T* x, const T* g, T* dw) {
#if TAPEGRAD_EIGEN_INTERNALS
  if (weight_grad_is_direct<T>(s) && weight_grad_direct(s, x, g, dw)) return;
#endif
  weight_grad_lowered(s, x, g, dw);
}

// db (O) = the sum of g (N, O, Ho, Wo) over N, Ho and Wo, values only.
template <class T>
void bias_grad_values(const Geometry& s, const T* g, T* db) {
  const int64_t HWo = s.HWo();
  parallel_for(s.O, items_per_chunk(s.N * HWo), [&](int64_t first, int64_t last) {
    for (int64_t o = first; o < last; ++o) {  // each channel's sum on one thread, in order
      T acc = 0;
      for (int64_t n = 0; n < s.N; ++n) acc += sum_values(g + (n * s.O + o) * HWo, HWo);  // (Ho, Wo) runs
      db[o] = acc;
    }
  });
}

template <class T>
Tensor<T> forward(const Geometry& s, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias);
template <class T>
Tensor<T> input_grad(const Geometry& s, const Tensor<T>& g, const Tensor<T>& w);
template <class T>
Tensor<T> weight_grad(const Geometry& s, const Tensor<T>& x, const Tensor<T>& g);

// The sum of g (N, O, Ho, Wo) over N, Ho and Wo in ops, so create_graph differentiates it.
template <class T>
Tensor<T> bias_grad(const Tensor<T>& g) {
  return sum(sum(sum(g, 3), 2), 0);
}

// y = conv(x, w) + b. dx = input_grad(g, w), dw = weight_grad(x, g), db = the sum of g.
template <class T>
Tensor<T> forward(const Geometry& s, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias) {
  Tensor<T> y = make_tensor<T>(s.output_shape());
  forward_values(s, x.data(), w.data(), bias.defined() ? bias.data() : nullptr, y.data());
  if (any_requires_grad(x, w, bias)) {  // an undefined bias gets no edge
    // each side saves the other only when its gradient needs it
    Tensor<T> xs = w.requires_grad() ? x : Tensor<T>();
    Tensor<T> ws = x.requires_grad() ? w : Tensor<T>();
    auto backward = [s, xs, ws](const Tensor<T>& g, GradOut<T>& grads) {
      if (GradMode::is_enabled()) {  // create_graph: the gradients as recorded ops
        if (grads.needed(0)) grads[0] = input_grad(s, g, ws);
        if (grads.needed(1)) grads[1] = weight_grad(s, xs, g);
        if (grads.needed(2)) grads[2] = bias_grad(g);
        return;
      }
      if (grads.needed(0)) {
        grads[0] = make_tensor<T>(s.input_shape());
        input_grad_values(s, g.data(), ws.data(), grads[0].data());
      }
      if (grads.needed(1)) {
        grads[1] = make_tensor<T>(s.weight_shape());
        weight_grad_values(s, xs.data(), g.data(), grads[1].data());
      }
      if (grads.needed(2)) {
        grads[2] = make_tensor<T>(Dims{s.O});
        bias_grad_values(s, g.data(), grads[2].data());
      }
    };
    record(y, "ConvolutionBackward", std::move(backward), x, w, bias);
  }
  return y;
}

// dx = input_grad(g, w), linear in each: <gx, dx> = <conv(gx, w), g> = <w, weight_grad(gx, g)>,
// so g's gradient is conv(gx, w) and w's is weight_grad(gx, g).
template <class T>
Tensor<T> input_grad(const Geometry& s, const Tensor<T>& g, const Tensor<T>& w) {
  Tensor<T> dx = make_tensor<T>(s.input_shape());
  input_grad_values(s, g.data(), w.data(), dx.data());
  if (any_requires_grad(g, w)) {
    Tensor<T> gs = w.requires_grad() ? g : Tensor<T>();
    Tensor<T> ws = g.requires_grad() ? w : Tensor<T>();
    record(dx, "ConvolutionInputGradBackward", [s, gs, ws](const Tensor<T>& gx, GradOut<T>& grads) {
      if (grads.needed(0)) grads[0] = forward(s, gx, ws, Tensor<T>());
      if (grads.needed(1)) grads[1] = weight_grad(s, gx, gs);
    }, g, w);
  }
  return dx;
}

// dw = weight_grad(x, g), linear in each: <gw, dw> = <g, conv(x, gw)> = <x, input_grad(g, gw)>,
// so x's gradient is input_grad(g, gw) and g's is conv(x, gw).
template <class T>
Tensor<T> weight_grad(const Geometry& s, const Tensor<T>& x, const Tensor<T>& g) {
  Tensor<T> dw = make_tensor<T>(s.weight_shape());
  weight_grad_values(s, x.data(), g.data(), dw.data());
  if (any_requires_grad(x, g)) {
    Tensor<T> xs = g.requires_grad() ? x : Tensor<T>();
    Tensor<T> gs = x.requires_grad() ? g : Tensor<T>();
    record(dw, "ConvolutionWeightGradBackward", [s, xs, gs](const Tensor<T>& gw, GradOut<T>& grads) {
      if (grads.needed(0)) grads[0] = input_grad(s, gs, gw);
      if (grads.needed(1)) grads[1] = forward(s, xs, gw, Tensor<T>());
    }, x, g);
  }
  return dw;
}

}  // namespace conv

// conv2d of checked x (N, C, H, W), w (O, C / groups, kh, kw) and bias (O) or undefined; the
// input padded by padding[d] zeros before and extra_padding[d] more after (padding="same" with
// an even dilated kernel pads one more at the end, as PyTorch).
template <class T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias, const std::array<int64_t, 2>& stride,
                 const std::array<int64_t, 2>& padding, const std::array<int64_t, 2>& dilation, int64_t groups,
                 const std::array<int64_t, 2>& extra_padding = {0, 0}) {
  const Dims &sx = x.sizes(), &sw = w.sizes();
  conv::Geometry s{};
  s.N = sx[0], s.C = sx[1], s.H = sx[2], s.W = sx[3];
  s.O = sw[0], s.kh = sw[2], s.kw = sw[3];
  s.sh = stride[0], s.sw = stride[1], s.ph = padding[0], s.pw = padding[1], s.dh = dilation[0], s.dw = dilation[1];
  s.groups = groups;
  s.Ho = (s.H + 2 * s.ph + extra_padding[0] - s.dh * (s.kh - 1) - 1) / s.sh + 1;
  s.Wo = (s.W + 2 * s.pw + extra_padding[1] - s.dw * (s.kw - 1) - 1) / s.sw + 1;
  return conv::forward(s, x, w, bias);
}

}  // namespace detail
}  // namespace tapegrad
