#pragma once
// nn's functional forms: every argument check of the layers lives here, with messages that
// name the op and the shapes or values (PyTorch's torch.nn.functional semantics).
#include <algorithm>
#include <cmath>
#include <sstream>

#include "../ops/tensor_methods.hpp"

namespace tapegrad::nn::functional {

// y = x W^T + b for x (*, in), W (out, in), b (out) or undefined.
template <class T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>()) {
  const Dims& sx = x.checked("linear").sizes;
  const Dims& sw = weight.checked("linear").sizes;
  detail::check(sw.size() == 2, "linear: weight must be 2-D (out_features, in_features), got shape ", sw);
  const int64_t in = sw[1], out = sw[0];
  detail::check(!sx.empty() && sx.back() == in, "linear: input shape ", sx, " does not match weight shape ", sw,
                " (expected the last dim to be in_features = ", in, ")");
  if (bias.defined()) {
    detail::check(bias.sizes() == Dims{out}, "linear: bias shape ", bias.sizes(), " does not match weight shape ", sw,
                  " (expected [", out, "])");
  }
  const int64_t rows = sx.product(0, sx.size() - 1);
  Dims so = sx;
  so[so.size() - 1] = out;
  Tensor<T> y = detail::make_tensor<T>(so);
  T* py = y.data();
  detail::gemm(x.data(), false, weight.data(), true, py, rows, out, in, false);
  if (bias.defined()) {
    const T* pb = bias.data();
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < out; ++j) py[r * out + j] += pb[j];
    }
  }

  if (detail::any_requires_grad(x, weight, bias)) {  // an undefined bias gets no edge
    Tensor<T> xs = weight.requires_grad() ? x.detach() : Tensor<T>();
    Tensor<T> ws = x.requires_grad() ? weight.detach() : Tensor<T>();
    auto backward = [xs, ws, sx, sw, rows, in, out](const Tensor<T>& g, detail::GradOut<T>& grads) {
      if (grads.needed(0)) {  // dx = g W
        Tensor<T> gx = detail::make_tensor<T>(sx);
        detail::gemm(g.data(), false, ws.data(), false, gx.data(), rows, in, out, false);
        grads[0] = gx;
      }
      if (grads.needed(1)) {  // dW = g^T x
        Tensor<T> gw = detail::make_tensor<T>(sw);
        detail::gemm(g.data(), true, xs.data(), false, gw.data(), out, in, rows, false);
        grads[1] = gw;
      }
      if (grads.needed(2)) {  // db = sum of g over rows
        Tensor<T> gb = detail::make_tensor<T>(Dims{out});
        detail::column_sums(g.data(), rows, out, gb.data());
        grads[2] = gb;
      }
    };
    detail::record(y, bias.defined() ? "AddmmBackward" : "MmBackward", std::move(backward), x, weight, bias);
  }
  return y;
}

struct BatchNormOptions {
  bool training = true;
  double momentum = 0.1;
  double eps = 1e-5;
};

namespace detail_bn {

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
// in order for float (converted value by value), in Eigen's vectorised order for double.
template <class T, class F, class... P>
TAPEGRAD_NOINLINE void channel_sums(int64_t N, int64_t C, int64_t L, const T* a, const T* b, T* out, F f, const P*... p) {
  if (L == 1) {
    std::fill_n(out, C, T(0));
    for (int64_t n = 0; n < N; ++n) {
      const T* ra = a + n * C;
      const T* rb = b + n * C;
      for (int64_t c = 0; c < C; ++c) out[c] += f(ra[c], rb[c], p[c]...);
    }
    return;
  }
  Tensor<T> scratch;
  if constexpr (std::is_same_v<T, double> && !std::is_same_v<F, FirstInput>) scratch = detail::make_tensor<T>(Dims{L});
  for (int64_t c = 0; c < C; ++c) {
    double acc = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t base = (n * C + c) * L;
      double run = 0;
      if constexpr (std::is_same_v<T, double>) {
        if constexpr (std::is_same_v<F, FirstInput>) {
          run = detail::sum_values(a + base, L);
        } else {
          T* v = scratch.data();
          for (int64_t l = 0; l < L; ++l) v[l] = f(a[base + l], b[base + l], p[c]...);
          run = detail::sum_values(v, L);
        }
      } else {
        for (int64_t l = 0; l < L; ++l) {
          const double v = static_cast<double>(f(a[base + l], b[base + l], p[c]...));
          run = l == 0 ? v : run + v;
        }
      }
      acc += run;
    }
    out[c] = static_cast<T>(acc);
  }
}

// out = f(a, b, p...) elementwise.
template <class T, class F, class... P>
TAPEGRAD_NOINLINE void channel_map(int64_t N, int64_t C, int64_t L, const T* a, const T* b, T* out, F f, const P*... p) {
  if (L == 1) {  // rows of C channels: the inner loop runs along a row
    for (int64_t n = 0; n < N; ++n) {
      const T* ra = a + n * C;
      const T* rb = b + n * C;
      T* ro = out + n * C;
      for (int64_t c = 0; c < C; ++c) ro[c] = f(ra[c], rb[c], p[c]...);
    }
    return;
  }
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const int64_t base = (n * C + c) * L;
      for (int64_t l = 0; l < L; ++l) out[base + l] = f(a[base + l], b[base + l], p[c]...);
    }
  }
}

}  // namespace detail_bn

// Batch normalisation over (N, C) or (N, C, L) inputs, per channel C. In training the batch
// statistics normalise (biased variance) and update running_mean / running_var (unbiased) in
// place; in eval the running statistics normalise. Sums accumulate in double. An empty batch
// gives an empty output and leaves the running statistics alone, as in PyTorch.
template <class T>
Tensor<T> batch_norm(const Tensor<T>& x, const Tensor<T>& running_mean, const Tensor<T>& running_var,
                     const Tensor<T>& weight, const Tensor<T>& bias, const BatchNormOptions& opt) {
  using detail_bn::channel_map;
  using detail_bn::channel_sums;
  const Dims& sx = x.checked("batch_norm").sizes;
  detail::check(sx.size() == 2 || sx.size() == 3, "batch_norm: expected 2D or 3D input (N, C) or (N, C, L), got shape ", sx);
  const int64_t N = sx[0], C = sx[1], L = sx.size() == 3 ? sx[2] : 1;
  const Dims channel{C};
  for (const Tensor<T>* t : {&running_mean, &running_var, &weight, &bias}) {
    if (t->defined()) {
      detail::check(t->sizes() == channel, "batch_norm: input shape ", sx, " has ", C,
                    " channels but a parameter or running statistic has shape ", t->sizes());
    }
  }
  detail::check(running_mean.defined() == running_var.defined(),
                "batch_norm: running_mean and running_var must both be given or both be omitted");
  detail::check(opt.training || running_mean.defined(), "batch_norm: running_mean and running_var are needed in eval mode");
  const int64_t count = N * L;  // values per channel
  if (opt.training) {
    // PyTorch refuses exactly one value; an empty batch passes and changes no statistic
    detail::check(count != 1, "batch_norm: expected more than 1 value per channel when training, got input of shape ", sx);
  }
  const T* px = x.data();
  Tensor<T> stats = detail::make_tensor<T>(Dims{4, C});  // mean, invstd, alpha, beta
  T* pm = stats.data();
  T* pi = pm + C;
  T* alpha = pm + 2 * C;
  T* beta = pm + 3 * C;
  if (opt.training && count == 0) {
    std::fill_n(pm, 2 * C, T(0));  // no statistics: mean and invstd 0, so every gradient is 0
  } else if (opt.training) {
    channel_sums(N, C, L, px, px, pm, detail_bn::FirstInput());
    for (int64_t c = 0; c < C; ++c) pm[c] /= static_cast<T>(count);
    T* var_sum = alpha;  // scratch until alpha is computed
    channel_sums(N, C, L, px, px, var_sum, detail_bn::CenteredProduct(), pm, pm);  // (x - mean)^2
    const double mom = opt.momentum;
    for (int64_t c = 0; c < C; ++c) {
      pi[c] = static_cast<T>(1 / std::sqrt(static_cast<double>(var_sum[c] / static_cast<T>(count)) + opt.eps));
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
      pi[c] = static_cast<T>(1 / std::sqrt(static_cast<double>(running_var.data()[c]) + opt.eps));
    }
  }
  // y = x * alpha + beta with alpha = invstd * w, beta = b - mean * invstd * w (PyTorch's order)
  for (int64_t c = 0; c < C; ++c) {
    const T w = weight.defined() ? weight.data()[c] : T(1), b = bias.defined() ? bias.data()[c] : T(0);
    alpha[c] = pi[c] * w;
    beta[c] = b - pm[c] * pi[c] * w;
  }
  Tensor<T> y = detail::make_tensor<T>(sx);
  channel_map(N, C, L, px, px, y.data(), [](const auto& x, const auto&, const auto& a, const auto& b) { return x * a + b; },
              alpha, beta);

  if (detail::any_requires_grad(x, weight, bias)) {  // an undefined weight or bias gets no edge
    auto backward = [xs = x.detach(), ws = weight.defined() ? weight.detach() : Tensor<T>(), stats,
                     training = opt.training, N, C, L, count](const Tensor<T>& g, detail::GradOut<T>& grads) {
      const T* pg = g.data();
      const T* px = xs.data();
      const T* pm = stats.data();
      const T* pi = pm + C;
      Tensor<T> scratch = detail::make_tensor<T>(Dims{5, C});
      T* sum_g = scratch.data();  // sum(g) per channel
      T* dotp = sum_g + C;        // sum((x - mean) * g) per channel
      T* w = sum_g + 2 * C;
      T* shift = sum_g + 3 * C;   // mean(g)
      T* k = sum_g + 4 * C;       // dotp * invstd^2 / count
      channel_sums(N, C, L, pg, pg, sum_g, detail_bn::FirstInput());
      std::fill_n(shift, C, T(0));  // (x - mean) * (g - 0): the same kernel as the variance
      channel_sums(N, C, L, px, pg, dotp, detail_bn::CenteredProduct(), pm, static_cast<const T*>(shift));
      if (grads.needed(1)) {  // dw = sum((x - mean) * g) * invstd
        Tensor<T> gw = detail::make_tensor<T>(Dims{C});
        for (int64_t c = 0; c < C; ++c) gw.data()[c] = dotp[c] * pi[c];
        grads[1] = gw;
      }
      if (grads.needed(2)) {  // db = sum(g)
        Tensor<T> gb = detail::make_tensor<T>(Dims{C});
        std::copy_n(sum_g, C, gb.data());
        grads[2] = gb;
      }
      if (!grads.needed(0)) return;
      for (int64_t c = 0; c < C; ++c) {
        w[c] = ws.defined() ? ws.data()[c] : T(1);
        shift[c] = sum_g[c] / static_cast<T>(count);
        k[c] = dotp[c] * pi[c] * pi[c] / static_cast<T>(count);
      }
      Tensor<T> gx = detail::make_tensor<T>(xs.sizes());
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
    detail::record(y, "NativeBatchNormBackward", std::move(backward), x, weight, bias);
  }
  return y;
}

// Inverted dropout: in training, zeroes each element with probability p (mask drawn by
// bernoulli_(1 - p), PyTorch's stream) and scales the rest by 1 / (1 - p).
template <class T>
Tensor<T> dropout(const Tensor<T>& x, double p = 0.5, bool training = true) {
  x.checked("dropout");
  detail::check(p >= 0 && p <= 1, "dropout: probability has to be between 0 and 1, but got ", p);
  if (p == 0 || !training || x.numel() == 0) return x;
  if (p == 1) return x * T(0);
  Tensor<T> mask = empty_like(x).bernoulli_(1 - p);
  const T keep = static_cast<T>(1 - p);
  detail::map_values(mask.data(), mask.data(), mask.numel(), [keep](T v) { return v / keep; });
  return x * mask;
}

// Mean binary cross entropy of probabilities p against targets t of the same shape; each
// log is clamped at -100 as in PyTorch, so p = 0 or 1 gives a finite loss.
template <class T>
Tensor<T> binary_cross_entropy(const Tensor<T>& p, const Tensor<T>& t) {
  const Dims& sp = p.checked("binary_cross_entropy").sizes;
  const Dims& st = t.checked("binary_cross_entropy").sizes;
  detail::check(st == sp, "binary_cross_entropy: target shape ", st,
                " differs from input shape ", sp);
  const int64_t n = sp.numel();
  const T* pp = p.data();
  const T* pt = t.data();
  T total = 0;
  for (int64_t i = 0; i < n; ++i) {
    detail::check(pp[i] >= 0 && pp[i] <= 1, "binary_cross_entropy: all elements of input should be between 0 and 1, got ",
                  pp[i], " at index ", i);
    const T log_p = std::max(std::log(pp[i]), T(-100)), log_1mp = std::max(std::log(1 - pp[i]), T(-100));
    total += (pt[i] - 1) * log_1mp - pt[i] * log_p;
  }
  Tensor<T> loss = scalar_tensor<T>(total / static_cast<T>(n));
  if (detail::any_requires_grad(p, t)) {
    detail::record(loss, "BinaryCrossEntropyBackward", [ps = p.detach(), ts = t.detach(), n](const Tensor<T>& g, detail::GradOut<T>& grads) {
      // d/dp = (p - t) / max((1 - p) p, 1e-12), times g / n for the mean; PyTorch's 1e-12 is
      // a float constant, so double sees 9.99999996e-13 there too
      const T scale = g.data()[0] / static_cast<T>(n);
      if (grads.needed(0)) {
        Tensor<T> gp = detail::make_tensor<T>(ps.sizes());
        for (int64_t i = 0; i < n; ++i) {
          const T pv = ps.data()[i];
          gp.data()[i] = scale * (pv - ts.data()[i]) / std::max((1 - pv) * pv, static_cast<T>(1e-12f));
        }
        grads[0] = gp;
      }
      if (grads.needed(1)) {  // d/dt = log(1 - p) - log(p), clamped like the forward
        Tensor<T> gt = detail::make_tensor<T>(ts.sizes());
        for (int64_t i = 0; i < n; ++i) {
          const T pv = ps.data()[i];
          gt.data()[i] = scale * (std::max(std::log(1 - pv), T(-100)) - std::max(std::log(pv), T(-100)));
        }
        grads[1] = gt;
      }
    }, p, t);
  }
  return loss;
}

// Mean squared error; input and target must have the same shape (PyTorch would broadcast
// with a warning, which is nearly always a bug, so tapegrad refuses).
template <class T>
Tensor<T> mse_loss(const Tensor<T>& x, const Tensor<T>& t) {
  const Dims& sx = x.checked("mse_loss").sizes;
  const Dims& st = t.checked("mse_loss").sizes;
  detail::check(st == sx, "mse_loss: target shape ", st, " differs from input shape ", sx);
  Tensor<T> d = x - t;
  return mean(d * d);
}

}  // namespace tapegrad::nn::functional
