#pragma once
// 2-d pooling over the last two dims of (N, C, H, W) or (C, H, W): max (argmax indices saved),
// average and adaptive average, as PyTorch 1.13's CPU kernels for contiguous input compute
// them. Each backward is an op of its own whose backward is the forward's gather or its
// windows again, so gradients of gradients work. Arguments are checked by nn/pooling.hpp.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "arithmetic.hpp"

namespace tapegrad {
namespace detail {

// The windows of a 2-d pooling: the input is `planes` planes of H x W (N * C of them, or C),
// the output planes of OH x OW; window (oh, ow) starts at (oh * sh - ph, ow * sw - pw).
struct Pool2dGeometry {
  int64_t planes = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  Dims in_shape, out_shape;
};

// PyTorch's pooling_output_shape: floor (or ceil) of the window count, and under ceil_mode the
// last window must start inside the input or the left padding.
inline int64_t pooling_output_size(int64_t in, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;  // division rounding down
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// ---- max pooling --------------------------------------------------------------------------

// The argmax of each output within its input plane (ih * W + iw), shared by the forward's
// backward and every gradient of it; in a pooled block, so a steady training step does not
// touch the heap for it.
class PoolIndexBuffer : public RefCounted, public PoolAllocated {
 public:
  explicit PoolIndexBuffer(int64_t count)
      : bytes_(static_cast<std::size_t>(std::max<int64_t>(count, 1)) * sizeof(int64_t)),
        data_(static_cast<int64_t*>(pool_allocate(bytes_))) {}
  ~PoolIndexBuffer() { pool_deallocate(data_, bytes_); }
  PoolIndexBuffer(const PoolIndexBuffer&) = delete;
  PoolIndexBuffer& operator=(const PoolIndexBuffer&) = delete;
  int64_t* data() { return data_; }
  const int64_t* data() const { return data_; }

 private:
  std::size_t bytes_;
  int64_t* data_;
};
using PoolIndices = IntrusivePtr<PoolIndexBuffer>;

template <class T>
Tensor<T> max_pool2d_scatter(const Tensor<T>& g, const PoolIndices& indices, const Pool2dGeometry& geo);

// y[i] = g[argmax i] in each plane: max pooling with its windows fixed (the scatter's
// backward); linear in g, so its own backward is the scatter.
template <class T>
Tensor<T> max_pool2d_gather(const Tensor<T>& g, const PoolIndices& indices, const Pool2dGeometry& geo) {
  Tensor<T> y = make_tensor<T>(geo.out_shape);
  const int64_t in_plane = geo.H * geo.W, out_plane = geo.OH * geo.OW;
  const int64_t* idx = indices->data();
  const T* pg = g.data();
  T* py = y.data();
  parallel_for(geo.planes, items_per_chunk(geo.H * geo.W), [&](int64_t first, int64_t last) {  // planes across threads, each one whole
    for (int64_t p = first; p < last; ++p) {  // g: (planes, H, W) -> y: (planes, OH, OW)
      const T* gp = pg + p * in_plane;
      for (int64_t o = p * out_plane, end = o + out_plane; o < end; ++o) py[o] = idx[o] < 0 ? T(0) : gp[idx[o]];
    }
  });
  if (any_requires_grad(g)) {
    record(y, "MaxPool2DWithIndicesBackwardBackward", [indices, geo](const Tensor<T>& gy, GradOut<T>& in) {
      in[0] = max_pool2d_scatter(gy, indices, geo);
    }, g);
  }
  return y;
}

// gx[argmax i] += g[i] in each plane: max_pool2d's backward (PyTorch's
// max_pool2d_with_indices_backward); its backward gathers by the same indices.
template <class T>
Tensor<T> max_pool2d_scatter(const Tensor<T>& g, const PoolIndices& indices, const Pool2dGeometry& geo) {
  Tensor<T> gx = make_tensor<T>(geo.in_shape);
  std::fill_n(gx.data(), gx.numel(), T(0));
  const int64_t in_plane = geo.H * geo.W, out_plane = geo.OH * geo.OW;
  const int64_t* idx = indices->data();
  const T* pg = g.data();
  T* pgx = gx.data();
  parallel_for(geo.planes, items_per_chunk(geo.H * geo.W), [&](int64_t first, int64_t last) {  // planes across threads, each one whole
    for (int64_t p = first; p < last; ++p) {  // g: (planes, OH, OW) -> gx: (planes, H, W)
      T* gxp = pgx + p * in_plane;
      for (int64_t o = p * out_plane, end = o + out_plane; o < end; ++o) {
        if (idx[o] >= 0) gxp[idx[o]] += pg[o];
      }
    }
  });
  if (any_requires_grad(g)) {
    record(gx, "MaxPool2DWithIndicesBackward", [indices, geo](const Tensor<T>& gg, GradOut<T>& in) {
      in[0] = max_pool2d_gather(gg, indices, geo);
    }, g);
  }
  return gx;
}

// Max over each dilated window, padding as -inf. As PyTorch's cpu_max_pool: the first of tied
// values wins (strict >), and a NaN replaces any value (so the last NaN of a window wins).
template <class T>
Tensor<T> max_pool2d(const Tensor<T>& x, const Pool2dGeometry& geo) {
  Tensor<T> y = make_tensor<T>(geo.out_shape);
  PoolIndices indices = make_intrusive<PoolIndexBuffer>(y.numel());
  // The common CNN pool, 2x2 windows at stride 2 inside the input, has a loop of its own (ceil_mode
  // can add a last window that runs past the input: those take the general loop).
  const bool two_by_two = geo.kh == 2 && geo.kw == 2 && geo.sh == 2 && geo.sw == 2 && geo.ph == 0 && geo.pw == 0 &&
                          geo.dh == 1 && geo.dw == 1 && 2 * geo.OH <= geo.H && 2 * geo.OW <= geo.W;
  parallel_for(geo.planes, items_per_chunk(geo.H * geo.W), [&](int64_t first, int64_t last) {  // planes across threads, each one whole
    // The geometry in locals of the chunk: the index stores (int64_t) could alias geo's fields
    // (or captured locals) and would make the compiler reload them in the inner loop.
    const int64_t H = geo.H, W = geo.W, OH = geo.OH, OW = geo.OW;
    const int64_t kh = geo.kh, kw = geo.kw, sh = geo.sh, sw = geo.sw, ph = geo.ph, pw = geo.pw, dh = geo.dh, dw = geo.dw;
    const T* px = x.data();
    T* py = y.data();
    int64_t* pidx = indices->data();
    // v replaces the best so far when greater or NaN; a select, not a branch (random data).
    auto take = [](T v, T best) { return (v > best) | (v != v); };  // | not ||: no branch to mispredict
    if (two_by_two) {
      // A fixed window, the same visiting order (row by row) and so the same argmax as the
      // general loop.
      for (int64_t p = first; p < last; ++p) {  // x: (planes, H, W) -> y: (planes, OH, OW)
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t row = 2 * oh * W;
          const T* r0 = px + p * H * W + row;
          const T* r1 = r0 + W;
          T* yo = py + (p * OH + oh) * OW;
          int64_t* io = pidx + (p * OH + oh) * OW;
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t c = 2 * ow;
            T best = r0[c];
            int64_t at = row + c;
            const T candidates[3] = {r0[c + 1], r1[c], r1[c + 1]};
            const int64_t offsets[3] = {row + c + 1, row + W + c, row + W + c + 1};
            for (int k = 0; k < 3; ++k) {
              const bool better = take(candidates[k], best);
              best = better ? candidates[k] : best;
              at = better ? offsets[k] : at;
            }
            yo[ow] = best;
            io[ow] = at;
          }
        }
      }
      return;
    }
    for (int64_t p = first; p < last; ++p) {  // x: (planes, H, W) -> y: (planes, OH, OW)
      const T* xp = px + p * H * W;
      for (int64_t oh = 0; oh < OH; ++oh) {
        int64_t ih0 = oh * sh - ph;
        const int64_t ih1 = std::min(ih0 + (kh - 1) * dh + 1, H);
        while (ih0 < 0) ih0 += dh;
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t iw0 = ow * sw - pw;
          const int64_t iw1 = std::min(iw0 + (kw - 1) * dw + 1, W);
          while (iw0 < 0) iw0 += dw;
          T best = -std::numeric_limits<T>::infinity();
          // a window of padding only (possible with dilation) has no argmax: -inf, no gradient
          int64_t best_at = ih0 < ih1 && iw0 < iw1 ? ih0 * W + iw0 : -1;
          for (int64_t ih = ih0; ih < ih1; ih += dh) {
            for (int64_t iw = iw0; iw < iw1; iw += dw) {
              const T v = xp[ih * W + iw];
              const bool better = take(v, best);
              best = better ? v : best;
              best_at = better ? ih * W + iw : best_at;
            }
          }
          const int64_t o = (p * OH + oh) * OW + ow;
          py[o] = best;
          pidx[o] = best_at;
        }
      }
    }
  });
  if (any_requires_grad(x)) {
    record(y, "MaxPool2DWithIndicesBackward0", [indices = std::move(indices), geo](const Tensor<T>& g, GradOut<T>& in) {
      in[0] = max_pool2d_scatter(g, indices, geo);
    }, x);
  }
  return y;
}

// ---- average pooling ----------------------------------------------------------------------

// The averaging windows: avg_pool2d's (kernel, stride, padding, ceil_mode) with PyTorch's
// divisor rules, or adaptive_avg_pool2d's (start = floor(i * H / OH), end = ceil((i + 1) * H / OH)).
struct AvgPool2dSpec {
  Pool2dGeometry geo;
  bool adaptive = false;
  bool count_include_pad = true;
  int64_t divisor_override = 0;  // 0: none
};

// Calls f(o, ih0, ih1, iw0, iw1, scale) for each output o of a plane, where [ih0, ih1) x
// [iw0, iw1) is its window clipped to the input and scale(v) divides v as PyTorch does:
// avg_pool2d by one divisor, adaptive_avg_pool2d by the window's height and then its width.
template <class F>
void for_each_avg_window(const AvgPool2dSpec& spec, F f) {
  const Pool2dGeometry& g = spec.geo;
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t o = oh * g.OW + ow;
      if (spec.adaptive) {
        const int64_t ih0 = oh * g.H / g.OH, ih1 = ((oh + 1) * g.H + g.OH - 1) / g.OH;
        const int64_t iw0 = ow * g.W / g.OW, iw1 = ((ow + 1) * g.W + g.OW - 1) / g.OW;
        const int64_t kh = ih1 - ih0, kw = iw1 - iw0;
        f(o, ih0, ih1, iw0, iw1, [kh, kw](auto v) { return v / kh / kw; });
        continue;
      }
      // as cpu_avg_pool: the window clipped to the padded input counts padding, then to the input
      int64_t ih0 = oh * g.sh - g.ph, iw0 = ow * g.sw - g.pw;
      int64_t ih1 = std::min(ih0 + g.kh, g.H + g.ph), iw1 = std::min(iw0 + g.kw, g.W + g.pw);
      const int64_t pool_size = (ih1 - ih0) * (iw1 - iw0);
      ih0 = std::max<int64_t>(ih0, 0);
      iw0 = std::max<int64_t>(iw0, 0);
      ih1 = std::min(ih1, g.H);
      iw1 = std::min(iw1, g.W);
      const int64_t divisor = spec.divisor_override != 0 ? spec.divisor_override
                              : spec.count_include_pad   ? pool_size
                                                         : (ih1 - ih0) * (iw1 - iw0);
      f(o, ih0, ih1, iw0, iw1, [divisor](auto v) { return v / divisor; });
    }
  }
}

template <class T>
Tensor<T> avg_pool2d_backward(const Tensor<T>& g, const AvgPool2dSpec& spec);

// The mean of each window, summed in T in row-major order (PyTorch's cpu_avg_pool and
// cpu_adaptive_avg_pool); a window outside the input gives 0.
template <class T>
Tensor<T> avg_pool2d(const Tensor<T>& x, const AvgPool2dSpec& spec) {
  const Pool2dGeometry& geo = spec.geo;
  Tensor<T> y = make_tensor<T>(geo.out_shape);
  const int64_t W = geo.W;
  parallel_for(geo.planes, items_per_chunk(geo.H * geo.W), [&](int64_t first, int64_t last) {  // planes across threads, each one whole
    for (int64_t p = first; p < last; ++p) {  // x: (planes, H, W) -> y: (planes, OH, OW)
      const T* xp = x.data() + p * geo.H * W;
      T* yp = y.data() + p * geo.OH * geo.OW;
      for_each_avg_window(spec, [&](int64_t o, int64_t ih0, int64_t ih1, int64_t iw0, int64_t iw1, auto scale) {
        if (ih0 >= ih1 || iw0 >= iw1) {
          yp[o] = T(0);
          return;
        }
        T sum = 0;
        for (int64_t ih = ih0; ih < ih1; ++ih) {
          for (int64_t iw = iw0; iw < iw1; ++iw) sum += xp[ih * W + iw];
        }
        yp[o] = static_cast<T>(scale(sum));
      });
    }
  });
  if (any_requires_grad(x)) {
    record(y, spec.adaptive ? "AdaptiveAvgPool2DBackward0" : "AvgPool2DBackward0",
           [spec](const Tensor<T>& g, GradOut<T>& in) { in[0] = avg_pool2d_backward(g, spec); }, x);
  }
  return y;
}

// gx += g / divisor over each window (cpu_avg_pool_backward, cpu_adaptive_avg_pool_backward);
// linear in g, so its backward is the forward's pooling again.
template <class T>
Tensor<T> avg_pool2d_backward(const Tensor<T>& g, const AvgPool2dSpec& spec) {
  const Pool2dGeometry& geo = spec.geo;
  Tensor<T> gx = make_tensor<T>(geo.in_shape);
  std::fill_n(gx.data(), gx.numel(), T(0));
  const int64_t W = geo.W;
  parallel_for(geo.planes, items_per_chunk(geo.H * geo.W), [&](int64_t first, int64_t last) {  // planes across threads, each one whole
    for (int64_t p = first; p < last; ++p) {  // g: (planes, OH, OW) -> gx: (planes, H, W)
      const T* gp = g.data() + p * geo.OH * geo.OW;
      T* gxp = gx.data() + p * geo.H * W;
      for_each_avg_window(spec, [&](int64_t o, int64_t ih0, int64_t ih1, int64_t iw0, int64_t iw1, auto scale) {
        const T delta = static_cast<T>(scale(gp[o]));
        for (int64_t ih = ih0; ih < ih1; ++ih) {
          for (int64_t iw = iw0; iw < iw1; ++iw) gxp[ih * W + iw] += delta;
        }
      });
    }
  });
  if (any_requires_grad(g)) {
    record(gx, spec.adaptive ? "AdaptiveAvgPool2DBackwardBackward" : "AvgPool2DBackwardBackward",
           [spec](const Tensor<T>& gg, GradOut<T>& in) { in[0] = avg_pool2d(gg, spec); }, g);
  }
  return gx;
}

}  // namespace detail
}  // namespace tapegrad
