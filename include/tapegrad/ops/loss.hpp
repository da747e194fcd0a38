#pragma once
// Elementwise losses with a reduction ("none", "mean", "sum"): binary cross entropy (on
// probabilities and on logits), mean squared error, L1; the class losses (cross_entropy,
// nll_loss) are in class_loss.hpp. Arguments are checked by nn::functional. A weight or
// pos_weight is a constant (no gradient), as in PyTorch.
#include <algorithm>
#include <cmath>

#include "class_loss.hpp"
#include "tensor_methods.hpp"

namespace tapegrad::detail {

// The per-element losses reduced as asked.
template <class T>
Tensor<T> reduce_loss(const Tensor<T>& per_element, Reduction reduction) {
  if (reduction == Reduction::None) return per_element;
  return reduction == Reduction::Sum ? sum(per_element) : mean(per_element);
}

// The upstream gradient of each element as a tensor: g itself for "none", g (a scalar) for
// "sum", g / n for "mean"; times the weight (materialised at the input's shape) if there is one.
template <class T>
Tensor<T> element_scale(const Tensor<T>& g, Reduction reduction, int64_t n, const Tensor<T>& full_weight) {
  Tensor<T> scale = reduction == Reduction::Mean ? g / static_cast<T>(n) : g;
  return full_weight.defined() ? scale * full_weight : scale;
}

// d(scale, a, b[, c]) for every element: on tensors (recording a graph) under create_graph,
// otherwise in one loop over values; scale is a scalar or has the input's shape.
template <class T, class D>
Tensor<T> elementwise_gradient(const D& d, const Tensor<T>& scale, const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>& c = Tensor<T>()) {
  if (any_requires_grad(scale, a, b)) {
    if constexpr (std::is_invocable_v<D, Tensor<T>, Tensor<T>, Tensor<T>>) {
      return d(scale, a, b);
    } else {
      return d(scale, a, b, c);
    }
  }
  const int64_t n = a.numel();
  Tensor<T> out = make_tensor<T>(a.sizes());
  const T* ps = scale.data();
  const int64_t step = scale.numel() == n ? 1 : 0;
  const T *pa = a.data(), *pb = b.data(), *pc = c.defined() ? c.data() : nullptr;
  for (int64_t i = 0; i < n; ++i) {  // a, b, c, out: the input's shape
    if constexpr (std::is_invocable_v<D, T, T, T>) {
      out.data()[i] = d(ps[i * step], pa[i], pb[i]);
    } else {
      out.data()[i] = d(ps[i * step], pa[i], pb[i], pc ? pc[i] : T(1));
    }
  }
  return out;
}

// softplus(-x) = log(1 + e^-x) = log1p(e^-|x|) + max(-x, 0): finite for every x. On values,
// and as ops for create_graph.
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T softplus_of_negated(T x) {
  return std::log1p(std::exp(-std::abs(x))) + std::max(-x, T(0));
}
template <class T>
Tensor<T> softplus_of_negated(const Tensor<T>& x) {
  return log(1 + exp(-abs(x))) + relu(-x);
}
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// Binary cross entropy of probabilities p against targets t of the same shape, each element
// times weight (materialised at p's shape, or undefined); each log is clamped at -100 as in
// PyTorch, so p = 0 or 1 gives a finite loss.
template <class T>
Tensor<T> binary_cross_entropy(const Tensor<T>& p, const Tensor<T>& t, const Tensor<T>& full_weight = Tensor<T>(),
                               Reduction reduction = Reduction::Mean) {
  const int64_t n = p.numel();
  const T* pp = p.data();
  const T* pt = t.data();
  const T* pw = full_weight.defined() ? full_weight.data() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    check(pp[i] >= 0 && pp[i] <= 1, "binary_cross_entropy: all elements of input should be between 0 and 1, got ",
                  pp[i], " at index ", i);
  }
  Tensor<T> per_element = make_tensor<T>(p.sizes());
  T total = 0;
  for (int64_t i = 0; i < n; ++i) {  // p, t: any shape
    const T log_p = std::max(std::log(pp[i]), T(-100)), log_1mp = std::max(std::log(1 - pp[i]), T(-100));
    const T l = pw ? ((pt[i] - 1) * log_1mp - pt[i] * log_p) * pw[i] : (pt[i] - 1) * log_1mp - pt[i] * log_p;
    per_element.data()[i] = l;
    total += l;
  }
  Tensor<T> loss = reduction == Reduction::None ? per_element
                   : reduction == Reduction::Sum ? scalar_tensor<T>(total)
                                                 : scalar_tensor<T>(total / static_cast<T>(n));
  if (any_requires_grad(p, t)) {
    record(loss, "BinaryCrossEntropyBackward", [p, t, n, full_weight, reduction](const Tensor<T>& g, GradOut<T>& grads) {
      // d/dp = (p - t) / max((1 - p) p, 1e-12) and d/dt = log(1 - p) - log(p), clamped like
      // the forward, times the element's scale. PyTorch's 1e-12 is a float constant, so double
      // sees 9.99999996e-13 there too.
      const T eps = static_cast<T>(1e-12f);
      auto d_input = [eps](auto scale, auto pv, auto tv) { return scale * (pv - tv) / clamp_min((1 - pv) * pv, eps); };
      auto d_target = [](auto scale, auto pv, auto) {
        return scale * (clamp_min(log(1 - pv), T(-100)) - clamp_min(log(pv), T(-100)));
      };
      const Tensor<T> scale = element_scale(g, reduction, n, full_weight);
      if (grads.needed(0)) grads[0] = elementwise_gradient(d_input, scale, p, t);
      if (grads.needed(1)) grads[1] = elementwise_gradient(d_target, scale, p, t);
    }, p, t);
  }
  return loss;
}

// Binary cross entropy of logits x against targets t, PyTorch's stable form:
//   l = (1 - t) x + (1 + (pw - 1) t) softplus(-x), times weight,
// with pos_weight pw and weight materialised at x's shape (or undefined, meaning 1).
template <class T>
Tensor<T> binary_cross_entropy_with_logits(const Tensor<T>& x, const Tensor<T>& t, const Tensor<T>& full_weight,
                                           const Tensor<T>& full_pos_weight, Reduction reduction) {
  const int64_t n = x.numel();
  const T *px = x.data(), *pt = t.data();
  const T* pw = full_weight.defined() ? full_weight.data() : nullptr;
  const T* ppw = full_pos_weight.defined() ? full_pos_weight.data() : nullptr;
  Tensor<T> per_element = make_tensor<T>(x.sizes());
  for (int64_t i = 0; i < n; ++i) {  // x, t: any shape
    const T log_weight = ppw ? 1 + (ppw[i] - 1) * pt[i] : T(1);
    const T l = (1 - pt[i]) * px[i] + log_weight * softplus_of_negated(px[i]);
    per_element.data()[i] = pw ? l * pw[i] : l;
  }
  Tensor<T> loss = reduce_loss(per_element, reduction);
  if (any_requires_grad(x, t)) {
    record(loss, "BinaryCrossEntropyWithLogitsBackward",
           [x, t, n, full_weight, full_pos_weight, reduction](const Tensor<T>& g, GradOut<T>& grads) {
      // dx = (pw t + 1 - t) sigmoid(x) - pw t,  dt = (pw - 1) softplus(-x) - x, times the scale
      auto d_input = [](auto scale, auto xv, auto tv, auto pwv) { return scale * ((pwv * tv + 1 - tv) * sigmoid(xv) - pwv * tv); };
      auto d_target = [](auto scale, auto xv, auto, auto pwv) { return scale * ((pwv - 1) * softplus_of_negated(xv) - xv); };
      const Tensor<T> scale = element_scale(g, reduction, n, full_weight);
      const Tensor<T> pos_weight = full_pos_weight.defined() ? full_pos_weight : make_tensor<T>(x.sizes()).fill_(T(1));
      if (grads.needed(0)) grads[0] = elementwise_gradient(d_input, scale, x, t, pos_weight);
      if (grads.needed(1)) grads[1] = elementwise_gradient(d_target, scale, x, t, pos_weight);
    }, x, t);
  }
  return loss;
}

// Squared error (x - t)^2 and absolute error |x - t| (gradient sign(x - t), 0 at 0), in ops:
// the same numbers as PyTorch's, and differentiable to any order.
template <class T>
Tensor<T> mse_loss(const Tensor<T>& x, const Tensor<T>& t, Reduction reduction = Reduction::Mean) {
  Tensor<T> d = x - t;
  return reduce_loss(d * d, reduction);
}
template <class T>
Tensor<T> l1_loss(const Tensor<T>& x, const Tensor<T>& t, Reduction reduction = Reduction::Mean) {
  return reduce_loss(abs(x - t), reduction);
}

}  // namespace tapegrad::detail
