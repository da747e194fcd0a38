#pragma once
// Batch normalisation over (N, C, *), viewed as (N, C, L), per channel C: the fused loops of the forward
// and the first-order backward, and the backward in ops that create_graph differentiates.
// Arguments are checked by nn::functional::batch_norm.
#include <algorithm>
#include <cmath>

#include "tensor_methods.hpp"

namespace tapegrad {
namespace detail {
namespace bn {

// x viewed as (N, C, L) is N * C runs of L contiguous values, run (n, c) starting at
// (n * C + c) * L. f takes one value of each of two inputs and each per-channel value p[c].

// f for a plain sum of the first input.
struct FirstInput {
  template <class T>
  T operator()(T a, T) const {
    return a;
  }
};

// f for (a - p) * (b - q): the variance's (x - mean)^2 and, with q = 0, backward's (x - mean) * g.
struct CenteredProduct {
  template <class T>
  T operator()(T a, T b, T p, T q) const {
    return (a - p) * (b - q);
  }
};

// out[c] = the sum over channel c of f(a, b, p...). When L = 1 each channel adds up in T row by
// row, as PyTorch's channels-last kernel; otherwise in double, run by run, each run's sum first:
// in eight lanes of double for float (converted value by value), in Eigen's vectorised order for double.
template <class T, class F, class... P>
TAPEGRAD_NOINLINE void channel_sums(int64_t N, int64_t C, int64_t L, const T* a, const T* b, T* out, F f, const P*... p) {
  // Channels across threads, each channel's sum whole on one of them, in the order above.
  const int64_t channel_grain = items_per_chunk(N * L);
  if (L == 1) {
    std::fill_n(out, C, T(0));
    parallel_for(C, channel_grain, [&](int64_t first, int64_t last) {
      const F local = f;  // not reached through the closure (see map_values)
      for (int64_t n = 0; n < N; ++n) {
        const T* ra = a + n * C;
        const T* rb = b + n * C;
        for (int64_t c = first; c < last; ++c) out[c] += local(ra[c], rb[c], p[c]...);
      }
    });
    return;
  }
  parallel_for(C, channel_grain, [&](int64_t first, int64_t last) {
    const F local = f;  // not reached through the closure (see map_values)
    Tensor<T> scratch;
    if constexpr (std::is_same_v<T, double> && !std::is_same_v<F, FirstInput>) scratch = make_tensor<T>(Dims{L});
    for (int64_t c = first; c < last; ++c) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n) {
        const int64_t base = (n * C + c) * L;
        double run = 0;
        if constexpr (std::is_same_v<T, double>) {
          if constexpr (std::is_same_v<F, FirstInput>) {
            run = sum_values(a + base, L);
          } else {
            T* v = scratch.data();
            for (int64_t l = 0; l < L; ++l) v[l] = local(a[base + l], b[base + l], p[c]...);
            run = sum_values(v, L);
          }
        } else {
          // eight lanes of double, so the adds do not wait on each other (one chain ran at the
          // add's latency); a sum of floats in double is exact to ~1e-16, so the float it rounds
          // to is the same in all but freak cases
          double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          int64_t l = 0;
          for (; l + 8 <= L; l += 8) {
            for (int k = 0; k < 8; ++k) lanes[k] += static_cast<double>(local(a[base + l + k], b[base + l + k], p[c]...));
          }
          for (; l < L; ++l) lanes[0] += static_cast<double>(local(a[base + l], b[base + l], p[c]...));
          run = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
        }
        acc += run;
      }
      out[c] = static_cast<T>(acc);
    }
  });
}

// out = f(a, b, p...) elementwise.
template <class T, class F, class... P>
TAPEGRAD_NOINLINE void channel_map(int64_t N, int64_t C, int64_t L, const T* a, const T* b, T* out, F f, const P*... p) {
  if (L == 1) {  // rows of C channels: the inner loop runs along a row
    parallel_for(N, items_per_chunk(C), [&](int64_t first, int64_t last) {
      const F local = f;  // not reached through the closure (see map_values)
      for (int64_t n = first; n < last; ++n) {
        const T* ra = a + n * C;
        const T* rb = b + n * C;
        T* ro = out + n * C;
        for (int64_t c = 0; c < C; ++c) ro[c] = local(ra[c], rb[c], p[c]...);
      }
    });
    return;
  }
  // Runs (n, c) of L values across threads.
  parallel_for(N * C, items_per_chunk(L), [&](int64_t first, int64_t last) {
    const F local = f;  // not reached through the closure (see map_values)
    for (int64_t run = first; run < last; ++run) {
      const int64_t base = run * L, c = run % C;
      for (int64_t l = 0; l < L; ++l) out[base + l] = local(a[base + l], b[base + l], p[c]...);
    }
  });
}

// The channel dims of x (N, C) or (N, C, L) reduced, kept as 1s: a mean or a sum per channel
// in ops, for the differentiable backward.
template <class T>
Tensor<T> channel_mean(const Tensor<T>& t) {
  return t.dim() == 3 ? mean(mean(t, 2, true), 0, true) : mean(t, 0, true);
}
template <class T>
Tensor<T> channel_sum(const Tensor<T>& t) {
  return (t.dim() == 3 ? sum(sum(t, 2, true), 0, true) : sum(t, 0, true)).reshape({t.size(1)});
}

// Row r of the (4, C) statistics the forward saved, as a (1, C) or (1, C, 1) constant.
template <class T>
Tensor<T> saved_channel_stat(const Tensor<T>& stats, int r, int rank) {
  const int64_t C = stats.size(1);
  Tensor<T> s = make_tensor<T>(rank == 3 ? Dims{1, C, 1} : Dims{1, C});
  std::copy_n(stats.data() + r * C, C, s.data());
  return s;
}

// batch_norm's backward in ops, for create_graph: the batch statistics taken again from x, so
// the gradient depends on x through them too (the fused loops below treat them as numbers).
//   training: x^ = (x - mean) * invstd, dx = invstd * (g w - mean(g w) - x^ * mean(g w x^))
//   eval:     dx = g * invstd * w
//   dw = sum(g * x^), db = sum(g), per channel.
template <class T>
TAPEGRAD_COLD void differentiable_backward(const Tensor<T>& g, const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& stats,
                             bool training, double eps, GradOut<T>& grads) {
  if (x.dim() > 3) {  // (N, C, *) as (N, C, L): the same ops, the input's gradient reshaped back
    int64_t L = 1;
    for (int d = 2; d < x.dim(); ++d) L *= x.size(d);
    const Shape flat{x.size(0), x.size(1), L};
    differentiable_backward(g.reshape(flat), x.reshape(flat), weight, stats, training, eps, grads);
    if (grads.needed(0)) grads[0] = grads[0].reshape(x.shape());
    return;
  }
  const int rank = x.dim();
  const Shape channel_shape = rank == 3 ? Shape{1, x.size(1), 1} : Shape{1, x.size(1)};
  Tensor<T> xhat, invstd;
  if (training) {
    const Tensor<T> centered = x - channel_mean(x);
    invstd = 1 / sqrt(channel_mean(centered * centered) + eps);  // as pow(v, -0.5) computes it
    xhat = centered * invstd;
  } else {
    invstd = saved_channel_stat(stats, 1, rank);
    xhat = (x - saved_channel_stat(stats, 0, rank)) * invstd;
  }
  if (grads.needed(0)) {
    const Tensor<T> gw = weight.defined() ? g * weight.reshape(channel_shape) : g;
    grads[0] = training ? invstd * (gw - channel_mean(gw) - xhat * channel_mean(gw * xhat)) : gw * invstd;
  }
  if (grads.needed(1)) grads[1] = channel_sum(g * xhat);
  if (grads.needed(2)) grads[2] = channel_sum(g);
}

}  // namespace bn
}  // namespace detail

namespace detail {

// In training the batch statistics normalise (biased variance) and update running_mean /
// running_var (unbiased) in place; in eval the running statistics normalise. Sums accumulate
// in double. An empty batch gives an empty output and leaves the running statistics alone.
template <class T>
Tensor<T> batch_norm(const Tensor<T>& x, const Tensor<T>& running_mean, const Tensor<T>& running_var,
                     const Tensor<T>& weight, const Tensor<T>& bias, bool training, double momentum, double eps) {
  using bn::channel_map;
  using bn::channel_sums;
  const Dims& sx = x.sizes();
  const int64_t N = sx[0], C = sx[1];
  int64_t L = 1;  // (N, C, *) viewed as (N, C, L)
  for (int d = 2; d < sx.size(); ++d) L *= sx[d];
  const int64_t count = N * L;  // values per channel
  const T* px = x.data();
  Tensor<T> stats = make_tensor<T>(Dims{4, C});  // mean, invstd, alpha, beta
  T* pm = stats.data();
  T* pi = pm + C;
  T* alpha = pm + 2 * C;
  T* beta = pm + 3 * C;
  if (training && count == 0) {
    std::fill_n(pm, 2 * C, T(0));  // no statistics: mean and invstd 0, so every gradient is 0
  } else if (training) {
    channel_sums(N, C, L, px, px, pm, bn::FirstInput());
    for (int64_t c = 0; c < C; ++c) pm[c] /= static_cast<T>(count);
    T* var_sum = alpha;  // scratch until alpha is computed
    channel_sums(N, C, L, px, px, var_sum, bn::CenteredProduct(), pm, pm);  // (x - mean)^2
    const double mom = momentum;
    for (int64_t c = 0; c < C; ++c) {
      pi[c] = static_cast<T>(1 / std::sqrt(static_cast<double>(var_sum[c] / static_cast<T>(count)) + eps));
      if (running_mean.defined()) {
        T& rm = running_mean.data()[c];
        T& rv = running_var.data()[c];
        rm = static_cast<T>(mom * pm[c] + (1 - mom) * rm);
        const double unbiased = var_sum[c] / static_cast<T>(count - 1);
        rv = static_cast<T>(mom * unbiased + (1 - mom) * rv);
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      pm[c] = running_mean.data()[c];
      pi[c] = static_cast<T>(1 / std::sqrt(static_cast<double>(running_var.data()[c]) + eps));
    }
  }
  // y = x * alpha + beta with alpha = invstd * w, beta = b - mean * invstd * w (PyTorch's order)
  for (int64_t c = 0; c < C; ++c) {
    const T w = weight.defined() ? weight.data()[c] : T(1), b = bias.defined() ? bias.data()[c] : T(0);
    alpha[c] = pi[c] * w;
    beta[c] = b - pm[c] * pi[c] * w;
  }
  Tensor<T> y = make_tensor<T>(sx);
  channel_map(N, C, L, px, px, y.data(), [](const auto& x, const auto&, const auto& a, const auto& b) { return x * a + b; },
              alpha, beta);

  if (any_requires_grad(x, weight, bias)) {  // an undefined weight or bias gets no edge
    auto backward = [xs = x, ws = weight, stats, training, eps, N, C, L, count](const Tensor<T>& g, GradOut<T>& grads) {
      if (GradMode::is_enabled()) return bn::differentiable_backward(g, xs, ws, stats, training, eps, grads);
      const T* pg = g.data();
      const T* px = xs.data();
      const T* pm = stats.data();
      const T* pi = pm + C;
      Tensor<T> scratch = make_tensor<T>(Dims{5, C});
      T* sum_g = scratch.data();  // sum(g) per channel
      T* dotp = sum_g + C;        // sum((x - mean) * g) per channel
      T* w = sum_g + 2 * C;
      T* shift = sum_g + 3 * C;   // mean(g)
      T* k = sum_g + 4 * C;       // dotp * invstd^2 / count
      channel_sums(N, C, L, pg, pg, sum_g, bn::FirstInput());
      std::fill_n(shift, C, T(0));  // (x - mean) * (g - 0): the same kernel as the variance
      channel_sums(N, C, L, px, pg, dotp, bn::CenteredProduct(), pm, static_cast<const T*>(shift));
      if (grads.needed(1)) {  // dw = sum((x - mean) * g) * invstd
        Tensor<T> gw = make_tensor<T>(Dims{C});
        for (int64_t c = 0; c < C; ++c) gw.data()[c] = dotp[c] * pi[c];
        grads[1] = gw;
      }
      if (grads.needed(2)) {  // db = sum(g)
        Tensor<T> gb = make_tensor<T>(Dims{C});
        std::copy_n(sum_g, C, gb.data());
        grads[2] = gb;
      }
      if (!grads.needed(0)) return;
      for (int64_t c = 0; c < C; ++c) {
        w[c] = ws.defined() ? ws.data()[c] : T(1);
        shift[c] = sum_g[c] / static_cast<T>(count);
        k[c] = dotp[c] * pi[c] * pi[c] / static_cast<T>(count);
      }
      Tensor<T> gx = make_tensor<T>(xs.sizes());
      if (training) {  // dx = (g - mean(g) - (x - mean) * k) * invstd * w
        channel_map(N, C, L, pg, px, gx.data(),
                    [](const auto& g, const auto& x, const auto& mean_g, const auto& mean, const auto& kc, const auto& inv,
                       const auto& wc) { return (g - mean_g - (x - mean) * kc) * inv * wc; },
                    shift, pm, k, pi, w);
      } else {  // the running statistics are constants: dx = g * invstd * w
        channel_map(N, C, L, pg, pg, gx.data(), [](const auto& g, const auto&, const auto& inv, const auto& wc) { return g * inv * wc; },
                    pi, w);
      }
      grads[0] = gx;
    };
    record(y, "NativeBatchNormBackward", std::move(backward), x, weight, bias);
  }
  return y;
}

}  // namespace detail
}  // namespace tapegrad
