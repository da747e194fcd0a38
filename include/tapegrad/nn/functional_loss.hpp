#pragma once
// The losses' functional forms, libtorch's names (mse_loss, l1_loss, binary_cross_entropy,
// binary_cross_entropy_with_logits, cross_entropy, nll_loss), each taking its options struct:
// every argument check is here, with messages naming the op and the shapes or values; the
// computation is the op's in ops/loss.hpp and ops/class_loss.hpp.
#include <cmath>
#include <string>

#include "../ops/loss.hpp"
#include "loss_options.hpp"

namespace tapegrad::nn::functional {

namespace loss_detail {

using detail::Reduction;

inline Reduction parse_reduction(const char* op, const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  detail::check(r == "none", op, ": reduction must be \"mean\", \"sum\" or \"none\", got \"", r, "\"");
  return Reduction::None;
}

// input and target of one shape (the elementwise losses)
template <class T>
void check_same_shape(const char* op, const Tensor<T>& input, const Tensor<T>& target) {
  const Dims& si = input.checked(op).sizes;
  const Dims& st = target.checked(op).sizes;
  detail::check(st == si, op, ": target shape ", st, " differs from input shape ", si);
}

// A weight that broadcasts to the input's shape (without growing it), materialised there.
template <class T>
Tensor<T> full_weight(const char* op, const char* name, const LossTensor& option, const Dims& input_shape) {
  const Tensor<T>& w = option.get<T>(op, name);
  if (!w.defined()) return w;
  const Dims& sw = w.checked(op).sizes;
  bool fits = sw.size() <= input_shape.size();
  for (int i = 0; fits && i < sw.size(); ++i) {
    const int64_t s = sw[sw.size() - 1 - i];
    fits = s == 1 || s == input_shape[input_shape.size() - 1 - i];
  }
  detail::check(fits, op, ": ", name, " shape ", sw, " does not broadcast to input shape ", input_shape);
  return detail::broadcast_to(w.detach(), input_shape);
}

// The shared checks of cross_entropy and nll_loss; the spec of the op to run.
template <class T>
detail::ClassLossSpec class_loss_spec(const char* op, const Tensor<T>& input, const Tensor<T>& target, const Tensor<T>& weight,
                                      const std::string& reduction, int64_t ignore_index, double label_smoothing,
                                      bool allow_probabilities) {
  const Dims& si = input.checked(op).sizes;
  const Dims& st = target.checked(op).sizes;
  detail::check(!si.empty(), op, ": input must have at least 1 dimension (C), (N, C) or (N, C, d1, ...), got shape ", si);
  detail::ClassLossSpec spec;
  spec.reduction = parse_reduction(op, reduction);
  spec.layout = detail::reduce_layout(si, si.size() == 1 ? 0 : 1, false, op);
  spec.ignore_index = ignore_index;
  spec.label_smoothing = label_smoothing;
  spec.log_softmax = allow_probabilities;
  const int64_t C = spec.layout.n;
  spec.probabilities = allow_probabilities && st == si;
  if (allow_probabilities) {
    detail::check(st == spec.layout.out_sizes || st == si, op, ": target shape ", st, " does not match input shape ", si,
                  " (expected class indices of shape ", spec.layout.out_sizes, " or class probabilities of shape ", si, ")");
    detail::check(label_smoothing >= 0 && label_smoothing <= 1, op, ": label_smoothing must be between 0.0 and 1.0, got ",
                  label_smoothing);
  } else {
    detail::check(st == spec.layout.out_sizes, op, ": target shape ", st, " does not match input shape ", si,
                  " (expected class indices of shape ", spec.layout.out_sizes, ")");
  }
  if (weight.defined()) {
    detail::check(weight.checked(op).sizes == Dims{C}, op, ": weight shape ", weight.sizes(), " does not match the ", C,
                  " classes of input shape ", si, " (expected [", C, "])");
  }
  if (spec.probabilities) {
    detail::check(ignore_index < 0, op, ": ignore_index is not supported for class probability targets, got ", ignore_index);
    return spec;
  }
  const T* pt = target.data();
  for (int64_t s = 0, n = target.numel(); s < n; ++s) {  // target: class indices of any shape
    const T v = pt[s];
    if (v == static_cast<T>(ignore_index)) continue;
    detail::check(v == std::floor(v), op, ": target ", v, " at index ", s, " is not an integer class index (", C, " classes)");
    detail::check(v >= 0 && v < static_cast<T>(C), op, ": target ", v, " at index ", s, " is out of range for ", C,
                  " classes (expected 0 <= target < ", C, " or ignore_index ", ignore_index, ")");
  }
  return spec;
}

}  // namespace loss_detail

// Squared error, reduced; input and target of the same shape (PyTorch would broadcast with a
// warning, which is nearly always a bug, so tapegrad refuses).
template <class T>
Tensor<T> mse_loss(const Tensor<T>& x, const Tensor<T>& t, const MSELossOptions& options = {}) {
  loss_detail::check_same_shape("mse_loss", x, t);
  return detail::mse_loss(x, t, loss_detail::parse_reduction("mse_loss", options.reduction()));
}

// Absolute error, reduced; the gradient is sign(x - t), 0 where they are equal.
template <class T>
Tensor<T> l1_loss(const Tensor<T>& x, const Tensor<T>& t, const L1LossOptions& options = {}) {
  loss_detail::check_same_shape("l1_loss", x, t);
  return detail::l1_loss(x, t, loss_detail::parse_reduction("l1_loss", options.reduction()));
}

// Binary cross entropy of probabilities p against targets t of the same shape; each log is
// clamped at -100 as in PyTorch, so p = 0 or 1 gives a finite loss. weight broadcasts to p.
template <class T>
Tensor<T> binary_cross_entropy(const Tensor<T>& p, const Tensor<T>& t, const BCELossOptions& options = {}) {
  const char* op = "binary_cross_entropy";
  loss_detail::check_same_shape(op, p, t);
  const auto reduction = loss_detail::parse_reduction(op, options.reduction());
  return detail::binary_cross_entropy(p, t, loss_detail::full_weight<T>(op, "weight", options.weight(), p.sizes()), reduction);
}

// Binary cross entropy of logits, stable for any |x|; weight broadcasts to x, and pos_weight
// (the positive class's weight, one per class of the last dim) too.
template <class T>
Tensor<T> binary_cross_entropy_with_logits(const Tensor<T>& x, const Tensor<T>& t, const BCEWithLogitsLossOptions& options = {}) {
  const char* op = "binary_cross_entropy_with_logits";
  loss_detail::check_same_shape(op, x, t);
  const auto reduction = loss_detail::parse_reduction(op, options.reduction());
  const Tensor<T> weight = loss_detail::full_weight<T>(op, "weight", options.weight(), x.sizes());
  const Tensor<T> pos_weight = loss_detail::full_weight<T>(op, "pos_weight", options.pos_weight(), x.sizes());
  return detail::binary_cross_entropy_with_logits(x, t, weight, pos_weight, reduction);
}

// Cross entropy of logits (C), (N, C) or (N, C, d1, ...) against class indices (N) or
// (N, d1, ...) (a scalar for unbatched input), or class probabilities of the input's shape;
// PyTorch 1.13's weight, ignore_index and label_smoothing. Class indices are integers held
// in T; each is checked.
template <class T>
Tensor<T> cross_entropy(const Tensor<T>& input, const Tensor<T>& target, const CrossEntropyLossOptions& options = {}) {
  const char* op = "cross_entropy";
  const Tensor<T>& weight = options.weight().get<T>(op, "weight");
  const auto spec = loss_detail::class_loss_spec(op, input, target, weight, options.reduction(), options.ignore_index(),
                                                 options.label_smoothing(), true);
  return detail::class_loss(input, target, weight.defined() ? weight.detach() : weight, spec);
}

// Negative log likelihood of log-probabilities (C), (N, C) or (N, C, d1, ...) against class
// indices; weight and ignore_index as PyTorch's.
template <class T>
Tensor<T> nll_loss(const Tensor<T>& input, const Tensor<T>& target, const NLLLossOptions& options = {}) {
  const char* op = "nll_loss";
  const Tensor<T>& weight = options.weight().get<T>(op, "weight");
  const auto spec = loss_detail::class_loss_spec(op, input, target, weight, options.reduction(), options.ignore_index(), 0.0, false);
  return detail::class_loss(input, target, weight.defined() ? weight.detach() : weight, spec);
}

}  // namespace tapegrad::nn::functional
