#pragma once
// Losses (mean reduction): binary cross entropy and mean squared error. Arguments are checked
// by nn::functional.
#include <algorithm>
#include <cmath>

#include "tensor_methods.hpp"

namespace tapegrad::detail {

// Mean binary cross entropy of probabilities p against targets t of the same shape; each
// log is clamped at -100 as in PyTorch, so p = 0 or 1 gives a finite loss.
template <class T>
Tensor<T> binary_cross_entropy(const Tensor<T>& p, const Tensor<T>& t) {
  const int64_t n = p.numel();
  const T* pp = p.data();
  const T* pt = t.data();
  T total = 0;
  for (int64_t i = 0; i < n; ++i) {
    check(pp[i] >= 0 && pp[i] <= 1, "binary_cross_entropy: all elements of input should be between 0 and 1, got ",
                  pp[i], " at index ", i);
    const T log_p = std::max(std::log(pp[i]), T(-100)), log_1mp = std::max(std::log(1 - pp[i]), T(-100));
    total += (pt[i] - 1) * log_1mp - pt[i] * log_p;
  }
  Tensor<T> loss = scalar_tensor<T>(total / static_cast<T>(n));
  if (any_requires_grad(p, t)) {
    record(loss, "BinaryCrossEntropyBackward", [p, t, n](const Tensor<T>& g, GradOut<T>& grads) {
      // d/dp = (p - t) / max((1 - p) p, 1e-12) and d/dt = log(1 - p) - log(p), clamped like
      // the forward, times g / n for the mean. PyTorch's 1e-12 is a float constant, so double
      // sees 9.99999996e-13 there too.
      const T eps = static_cast<T>(1e-12f);
      auto d_input = [eps](auto scale, auto pv, auto tv) { return scale * (pv - tv) / clamp_min((1 - pv) * pv, eps); };
      auto d_target = [](auto scale, auto pv, auto) {
        return scale * (clamp_min(log(1 - pv), T(-100)) - clamp_min(log(pv), T(-100)));
      };
      const Tensor<T> scale = g / static_cast<T>(n);
      auto run = [&](auto d) {
        if (any_requires_grad(scale, p, t)) return d(scale, p, t);
        Tensor<T> out = make_tensor<T>(p.sizes());
        const T s = scale.data()[0];
        for (int64_t i = 0; i < n; ++i) out.data()[i] = d(s, p.data()[i], t.data()[i]);
        return out;
      };
      if (grads.needed(0)) grads[0] = run(d_input);
      if (grads.needed(1)) grads[1] = run(d_target);
    }, p, t);
  }
  return loss;
}

// Mean squared error; input and target must have the same shape (PyTorch would broadcast
// with a warning, which is nearly always a bug, so tapegrad refuses).
template <class T>
Tensor<T> mse_loss(const Tensor<T>& x, const Tensor<T>& t) {
  Tensor<T> d = x - t;
  return mean(d * d);
}

}  // namespace tapegrad::detail
