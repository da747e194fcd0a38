#pragma once
// Layer normalisation over the trailing dims of x, viewed as (M, N): each of the M rows of N
// values normalised by its own mean and biased variance, then scaled by weight (N) and shifted
// by bias (N), each optional. The fused loops of the forward and the first-order backward, and
// the backward in ops that create_graph differentiates (PyTorch's layer_norm_backward formula).
// Arguments are checked by nn::functional::layer_norm.
#include <cmath>

#include "tensor_methods.hpp"

namespace tapegrad::detail {
namespace ln {

// layer_norm's backward in ops, for create_graph: the row statistics taken again from x, so
// the gradient depends on x through them too (the fused loops treat them as numbers).
//   x^ = (x - mean) * rstd, gw = g * w
//   dx = rstd * (gw - mean(gw) - x^ * mean(gw * x^)) per row
//   dw = sum over rows of g * x^, db = sum over rows of g
template <class T>
TAPEGRAD_COLD void differentiable_backward(const Tensor<T>& g, const Tensor<T>& x, const Tensor<T>& weight, const Shape& normalized,
                                           int64_t M, int64_t N, double eps, GradOut<T>& grads) {
  const Shape rows{M, N};
  const Tensor<T> x2 = x.reshape(rows), g2 = g.reshape(rows);
  const Tensor<T> centered = x2 - mean(x2, 1, true);
  const Tensor<T> rstd = 1 / sqrt(mean(centered * centered, 1, true) + eps);
  const Tensor<T> xhat = centered * rstd;
  if (grads.needed(0)) {
    const Tensor<T> gw = weight.defined() ? g2 * weight.reshape({1, N}) : g2;
    grads[0] = (rstd * (gw - mean(gw, 1, true) - xhat * mean(gw * xhat, 1, true))).reshape(x.shape());
  }
  if (grads.needed(1)) grads[1] = sum(g2 * xhat, 0).reshape(normalized);
  if (grads.needed(2)) grads[2] = sum(g2, 0).reshape(normalized);
}

// The sum of f(j) for j < n in double, as eight interleaved partial sums (j mod 8) added in a
// fixed order at the end: the same value on every run, and a loop the compiler vectorises
// (one running sum would be a chain of dependent adds, a few cycles each).
template <class F>
double lane_sum(int64_t n, F f) {
  double acc[8] = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += f(j + l);
  }
  for (int l = 0; j < n; ++j, ++l) acc[l] += f(j);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace ln

// x (*, normalized); weight, bias of the normalized shape or undefined. Row sums accumulate
// in double (ln::lane_sum).
template <class T>
Tensor<T> layer_norm(const Tensor<T>& x, const Shape& normalized, const Tensor<T>& weight, const Tensor<T>& bias, double eps) {
  int64_t N = 1;  // values per row
  for (int64_t d : normalized) N *= d;
  const int64_t total = x.numel();
  const int64_t M = N > 0 ? total / N : 0;
  const T* px = x.data();
  const T* pw = weight.defined() ? weight.data() : nullptr;
  const T* pb = bias.defined() ? bias.data() : nullptr;
  Tensor<T> stats = make_tensor<T>(Dims{2, M});  // mean, rstd per row
  T* pm = stats.data();
  T* pr = pm + M;
  Tensor<T> y = make_tensor<T>(x.sizes());
  T* py = y.data();
  const int64_t row_grain = items_per_chunk(N);
  parallel_for(M, row_grain, [&](int64_t first, int64_t last) {  // rows across threads, each row whole
    for (int64_t r = first; r < last; ++r) {  // row r: x[r * N, (r + 1) * N)
      const T* xr = px + r * N;
      const double mu = ln::lane_sum(N, [xr](int64_t j) { return static_cast<double>(xr[j]); }) / static_cast<double>(N);
      const double v = ln::lane_sum(N, [xr, mu](int64_t j) {
        const double c = static_cast<double>(xr[j]) - mu;
        return c * c;
      });
      const double rstd = 1 / std::sqrt(v / static_cast<double>(N) + eps);
      pm[r] = static_cast<T>(mu);
      pr[r] = static_cast<T>(rstd);
      const T m = pm[r], k = pr[r];
      T* yr = py + r * N;
      for (int64_t j = 0; j < N; ++j) {  // y = (x - mean) * rstd * w + b
        const T xhat = (xr[j] - m) * k;
        yr[j] = (pw ? xhat * pw[j] : xhat) + (pb ? pb[j] : T(0));
      }
    }
  });

  if (any_requires_grad(x, weight, bias)) {  // an undefined weight or bias gets no edge
    auto backward = [xs = x, ws = weight, stats, norm = Dims(normalized, "layer_norm"), M, N, eps](const Tensor<T>& g, GradOut<T>& grads) {
      if (GradMode::is_enabled()) return ln::differentiable_backward(g, xs, ws, norm.to_shape(), M, N, eps, grads);
      const T* pg = g.data();
      const T* px = xs.data();
      const T* pw = ws.defined() ? ws.data() : nullptr;
      const T* pm = stats.data();
      const T* pr = pm + M;
      Tensor<T> gx, gw, gb;
      if (grads.needed(0)) gx = make_tensor<T>(xs.sizes());
      if (grads.needed(1)) gw = make_tensor<T>(norm).fill_(T(0));  // N values in the weight's shape
      if (grads.needed(2)) gb = make_tensor<T>(norm).fill_(T(0));
      T* pgw = gw.defined() ? gw.data() : nullptr;
      T* pgb = gb.defined() ? gb.data() : nullptr;
      // dw and db sum over the rows in order: columns across threads, each column's sum whole.
      if (pgw || pgb) {
        parallel_for(N, items_per_chunk(M), [&](int64_t j0, int64_t j1) {
          for (int64_t r = 0; r < M; ++r) {
            const T* gr = pg + r * N;
            const T* xr = px + r * N;
            const T m = pm[r], k = pr[r];
            if (pgw) {  // dw += g * x^
              for (int64_t j = j0; j < j1; ++j) pgw[j] += gr[j] * ((xr[j] - m) * k);
            }
            if (pgb) {  // db += g
              for (int64_t j = j0; j < j1; ++j) pgb[j] += gr[j];
            }
          }
        });
      }
      if (gx.defined()) parallel_for(M, items_per_chunk(N), [&](int64_t first, int64_t last) {
        for (int64_t r = first; r < last; ++r) {  // rows across threads
          const T* gr = pg + r * N;
          const T* xr = px + r * N;
          const T m = pm[r], k = pr[r];
          // sums of g w and g w x^ over the row
          auto gw_at = [gr, pw](int64_t j) { return pw ? gr[j] * pw[j] : gr[j]; };
          const double sum_gw = ln::lane_sum(N, [&](int64_t j) { return static_cast<double>(gw_at(j)); });
          const double sum_gwx = ln::lane_sum(N, [&](int64_t j) {
            return static_cast<double>(gw_at(j)) * static_cast<double>((xr[j] - m) * k);
          });
          const T mean_gw = static_cast<T>(sum_gw / static_cast<double>(N));
          const T mean_gwx = static_cast<T>(sum_gwx / static_cast<double>(N));
          T* dr = gx.data() + r * N;
          for (int64_t j = 0; j < N; ++j) {  // dx = rstd * (g w - mean(g w) - x^ mean(g w x^))
            const T gwj = pw ? gr[j] * pw[j] : gr[j];
            dr[j] = k * (gwj - mean_gw - (xr[j] - m) * k * mean_gwx);
          }
        }
      });
      if (gx.defined()) grads[0] = gx;
      if (gw.defined()) grads[1] = gw;
      if (gb.defined()) grads[2] = gb;
    };
    record(y, "NativeLayerNormBackward0", std::move(backward), x, weight, bias);
  }
  return y;
}

}  // namespace tapegrad::detail
