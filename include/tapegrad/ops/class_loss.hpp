#pragma once
// cross_entropy and nll_loss as one fused op (a single node): log_softmax over the class dim
// (cross_entropy only), then the weighted, label-smoothed negative log likelihood, reduced.
// PyTorch 1.13's formulas (aten/src/ATen/native/LossNLL.cpp). Arguments, and every class index,
// are checked by nn::functional.
#include <cmath>
#include <limits>

#include "tensor_methods.hpp"

namespace tapegrad::detail {

enum class Reduction { None, Mean, Sum };

// What a class loss computes. The input is viewed as (N, C, D): N = outer, C = classes, D the
// product of the dims after the class dim; a sample s = n * D + d has classes at n * C * D + d
// + j * D.
struct ClassLossSpec {
  ReduceLayout layout;  // over the class dim; out_sizes is the per-sample shape, kept_sizes the
                        // input's shape with C = 1
  Reduction reduction = Reduction::Mean;
  int64_t ignore_index = -100;
  double label_smoothing = 0;
  bool log_softmax = true;     // cross_entropy: log_softmax first; nll_loss: input is log-probs
  bool probabilities = false;  // target holds class probabilities of the input's shape
};

namespace class_loss_detail {

// q, the weighted target distribution of the input's shape with loss_s = -sum_j q_sj y_sj:
//   class index t: q_sj = (1 - ls) w_t [j == t] + ls / C w_j, zero for an ignored sample;
//   probabilities: q_sj = w_j (t_sj (1 - ls) + ls / C).
// Built as a constant for index targets and in ops for probabilities (so it has the target's
// gradient): only the create_graph backward uses it.
template <class T>
TAPEGRAD_COLD Tensor<T> target_distribution(const Tensor<T>& target, const Tensor<T>& weight, const ClassLossSpec& spec) {
  const ReduceLayout& l = spec.layout;
  const T ls = static_cast<T>(spec.label_smoothing), C = static_cast<T>(l.n);
  Dims weight_shape;
  for (int i = 0; i < l.kept_sizes.size(); ++i) weight_shape.push_back(i == l.dim ? l.n : 1);
  if (spec.probabilities) {
    Tensor<T> q = ls > 0 ? target * (1 - ls) + ls / C : target;
    return weight.defined() ? q * weight.reshape(weight_shape.to_shape()) : q;
  }
  Dims full = l.kept_sizes;
  full[l.dim] = l.n;
  Tensor<T> q = make_tensor<T>(full);
  T* pq = q.data();
  const T* pt = target.data();
  const T* w = weight.defined() ? weight.data() : nullptr;
  const int64_t C_ = l.n, D = l.inner;
  for (int64_t n = 0; n < l.outer; ++n) {  // q: (N, C, D)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t s = n * D + d, base = n * C_ * D + d;
      const bool ignored = pt[s] == static_cast<T>(spec.ignore_index);
      const int64_t k = ignored ? -1 : static_cast<int64_t>(pt[s]);
      for (int64_t j = 0; j < C_; ++j) {
        const T wj = w ? w[j] : T(1);
        pq[base + j * D] = ignored ? T(0) : (j == k ? (1 - ls) * wj : T(0)) + ls / C * wj;
      }
    }
  }
  return q;
}

// The backward in ops, for create_graph: y = log_softmax(x) (or x), c the upstream gradient
// per sample (g / denominator for the mean), gy = -c q, dx = gy - exp(y) sum_j gy (the
// log_softmax backward), dt = -c (1 - ls) w y for probability targets.
template <class T>
TAPEGRAD_COLD void differentiable_backward(const Tensor<T>& g, const Tensor<T>& x, const Tensor<T>& target, const Tensor<T>& weight,
                                           const ClassLossSpec& spec, T denominator, GradOut<T>& grads) {
  const ReduceLayout& l = spec.layout;
  const Tensor<T> y = spec.log_softmax ? log_softmax(x, l.dim) : x;
  Tensor<T> c = spec.reduction == Reduction::None ? g.reshape(l.kept_sizes.to_shape())
                : spec.reduction == Reduction::Mean ? g / denominator
                                                    : g;
  if (grads.needed(0)) {
    const Tensor<T> gy = -(target_distribution(target, weight, spec) * c);
    grads[0] = spec.log_softmax ? gy - exp(y) * sum(gy, l.dim, true) : gy;
  }
  if (grads.needed(1)) {
    Tensor<T> gt = -(c * y);
    if (spec.label_smoothing > 0) gt = gt * static_cast<T>(1 - spec.label_smoothing);
    if (weight.defined()) {
      Dims weight_shape;
      for (int i = 0; i < l.kept_sizes.size(); ++i) weight_shape.push_back(i == l.dim ? l.n : 1);
      gt = gt * weight.reshape(weight_shape.to_shape());
    }
    grads[1] = gt;
  }
}

// softmax of x over the class dim into probs, and per sample the shift m + log(sum e^(x - m))
// with log_softmax(x) = x - shift: the max-shifted exponentials in one vectorised pass.
template <class T>
void softmax_and_shift(const Tensor<T>& x, const ReduceLayout& l, T* probs, T* shift) {
  const int64_t N = l.outer, C = l.n, D = l.inner;
  const T* px = x.data();
  for (int64_t n = 0; n < N; ++n) {  // x, probs: (N, C, D); shift: (N, D)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t base = n * C * D + d;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < C; ++j) m = std::isnan(px[base + j * D]) || px[base + j * D] > m ? px[base + j * D] : m;
      if (std::isinf(m) && m < 0) m = 0;  // all -inf: avoid -inf - -inf
      for (int64_t j = 0; j < C; ++j) probs[base + j * D] = px[base + j * D] - m;
      shift[n * D + d] = m;
    }
  }
  exp_values(probs, probs, N * C * D);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t d = 0; d < D; ++d) {
      const int64_t base = n * C * D + d;
      T total = 0;
      for (int64_t j = 0; j < C; ++j) total += probs[base + j * D];
      const T r = T(1) / total;
      for (int64_t j = 0; j < C; ++j) probs[base + j * D] *= r;
      shift[n * D + d] += std::log(total);
    }
  }
}

}  // namespace class_loss_detail

// The loss of log-probabilities y (log_softmax of the input for cross_entropy): per sample
// -sum_j q_sj y_sj (q above), reduced; the mean divides by the summed weights of the
// non-ignored samples (their count without weights), or by N * D for probability targets.
// An all-ignored mean is 0 / 0 = nan, as PyTorch. Forward and first-order backward are fused
// loops; the backward under create_graph runs in ops.
template <class T>
Tensor<T> class_loss(const Tensor<T>& input, const Tensor<T>& target, const Tensor<T>& weight, const ClassLossSpec& spec) {
  const ReduceLayout& l = spec.layout;
  const int64_t N = l.outer, C = l.n, D = l.inner;
  // cross_entropy: y = x - shift (log_softmax), probs saved for backward; nll_loss: y = x
  Tensor<T> probs, shift;
  if (spec.log_softmax) {
    probs = make_tensor<T>(input.sizes());
    shift = make_tensor<T>(l.out_sizes);
    class_loss_detail::softmax_and_shift(input, l, probs.data(), shift.data());
  }
  const T* px = input.data();
  const T* psh = spec.log_softmax ? shift.data() : nullptr;
  auto log_prob = [px, psh, D, C](int64_t n, int64_t d, int64_t j) {
    return psh ? px[n * C * D + d + j * D] - psh[n * D + d] : px[n * C * D + d + j * D];
  };
  const T* pt = target.data();
  const T* w = weight.defined() ? weight.data() : nullptr;
  const T ls = static_cast<T>(spec.label_smoothing), per_class = ls / static_cast<T>(C);
  const T ignore = static_cast<T>(spec.ignore_index);
  Tensor<T> per_sample = make_tensor<T>(l.out_sizes);
  T* out = per_sample.data();
  double total = 0, weight_total = 0;  // float sums in double: PyTorch's cascade is as close
  for (int64_t n = 0; n < N; ++n) {    // y: (N, C, D)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t s = n * D + d, base = n * C * D + d;
      T loss = 0;
      if (spec.probabilities) {
        for (int64_t j = 0; j < C; ++j) {
          const T q = (w ? w[j] : T(1)) * (ls > 0 ? pt[base + j * D] * (1 - ls) + per_class : pt[base + j * D]);
          loss -= q * log_prob(n, d, j);
        }
      } else if (pt[s] != ignore) {
        const int64_t k = static_cast<int64_t>(pt[s]);
        const T wk = w ? w[k] : T(1);
        loss = -(1 - ls) * wk * log_prob(n, d, k);
        if (ls > 0) {
          T smooth = 0;  // sum_j w_j y_j
          for (int64_t j = 0; j < C; ++j) smooth += (w ? w[j] : T(1)) * log_prob(n, d, j);
          loss -= per_class * smooth;
        }
        weight_total += wk;
      }
      out[s] = loss;
      total += loss;
    }
  }
  const T denominator = static_cast<T>(spec.probabilities ? static_cast<double>(N * D) : weight_total);
  Tensor<T> result = spec.reduction == Reduction::None ? per_sample
                     : spec.reduction == Reduction::Sum ? scalar_tensor<T>(static_cast<T>(total))
                                                        : scalar_tensor<T>(static_cast<T>(total) / denominator);
  const Tensor<T> soft_target = spec.probabilities ? target : Tensor<T>();
  if (!any_requires_grad(input, soft_target)) return result;
  auto backward = [x = input, target, weight, probs, shift, spec, denominator](const Tensor<T>& g, GradOut<T>& grads) {
    if (GradMode::is_enabled()) {
      return class_loss_detail::differentiable_backward(g, x, target, weight, spec, denominator, grads);
    }
    const ReduceLayout& l = spec.layout;
    const int64_t N = l.outer, C = l.n, D = l.inner;
    const T* px = x.data();
    const T* pp = spec.log_softmax ? probs.data() : nullptr;
    const T* psh = spec.log_softmax ? shift.data() : nullptr;
    const T* pt = target.data();
    const T* pg = g.data();
    const T* w = weight.defined() ? weight.data() : nullptr;
    const T ls = static_cast<T>(spec.label_smoothing), per_class = ls / static_cast<T>(C);
    const T ignore = static_cast<T>(spec.ignore_index);
    Tensor<T> gx = grads.needed(0) ? make_tensor<T>(x.sizes()) : Tensor<T>();
    Tensor<T> gt = grads.needed(1) ? make_tensor<T>(x.sizes()) : Tensor<T>();
    T* gxp = gx.defined() ? gx.data() : nullptr;
    T* ptg = gt.defined() ? gt.data() : nullptr;
    const T scalar_c = spec.reduction == Reduction::Mean ? pg[0] / denominator : pg[0];
    for (int64_t n = 0; n < N; ++n) {  // gx, gt: (N, C, D)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t s = n * D + d, base = n * C * D + d;
        const T c = spec.reduction == Reduction::None ? pg[s] : scalar_c;
        const bool ignored = !spec.probabilities && pt[s] == ignore;
        const int64_t k = spec.probabilities || ignored ? -1 : static_cast<int64_t>(pt[s]);
        if (gxp) {
          T gy_sum = 0;  // gy_j = -c q_j
          for (int64_t j = 0; j < C; ++j) {
            const T wj = w ? w[j] : T(1);
            T q;
            if (spec.probabilities) {
              q = wj * (ls > 0 ? pt[base + j * D] * (1 - ls) + per_class : pt[base + j * D]);
            } else {
              q = ignored ? T(0) : (j == k ? (1 - ls) * wj : T(0)) + per_class * wj;
            }
            gxp[base + j * D] = -c * q;
            gy_sum += gxp[base + j * D];
          }
          if (spec.log_softmax) {  // dx = gy - softmax * sum(gy)
            for (int64_t j = 0; j < C; ++j) gxp[base + j * D] -= pp[base + j * D] * gy_sum;
          }
        }
        if (ptg) {  // dt = -c (1 - ls) w y
          for (int64_t j = 0; j < C; ++j) {
            const T y = psh ? px[base + j * D] - psh[s] : px[base + j * D];
            ptg[base + j * D] = -c * (1 - ls) * (w ? w[j] : T(1)) * y;
          }
        }
      }
    }
    if (gxp) grads[0] = gx;
    if (ptg) grads[1] = gt;
  };
  record(result, spec.log_softmax ? "CrossEntropyLossBackward" : "NllLossBackward", std::move(backward), input, soft_target);
  return result;
}

}  // namespace tapegrad::detail
