#pragma once
// Loss modules, libtorch's names, each called loss(input, target) or loss.forward(input,
// target), built from nothing (reduction "mean") or from its options struct (public member
// `options`, as libtorch's). The reduction is checked when the module is built, the weights'
// T when it is called.
#include <utility>

#include "functional_loss.hpp"

namespace tapegrad::nn {

// What every loss module holds: its options, whose reduction is checked on construction.
template <class Options>
struct LossModule {
  LossModule() = default;
  LossModule(Options o, const char* op) : options(std::move(o)) {
    functional::loss_detail::parse_reduction(op, options.reduction());
  }
  Options options;
};

// Squared error: functional::mse_loss.
template <class T = float>
class MSELoss : public LossModule<MSELossOptions> {
 public:
  MSELoss() = default;
  explicit MSELoss(MSELossOptions options) : LossModule(std::move(options), "mse_loss") {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return functional::mse_loss(input, target, this->options);
  }
  Tensor<T> forward(const Tensor<T>& input, const Tensor<T>& target) const { return (*this)(input, target); }
};
MSELoss()->MSELoss<float>;
MSELoss(MSELossOptions)->MSELoss<float>;

// Absolute error: functional::l1_loss.
template <class T = float>
class L1Loss : public LossModule<L1LossOptions> {
 public:
  L1Loss() = default;
  explicit L1Loss(L1LossOptions options) : LossModule(std::move(options), "l1_loss") {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return functional::l1_loss(input, target, this->options);
  }
  Tensor<T> forward(const Tensor<T>& input, const Tensor<T>& target) const { return (*this)(input, target); }
};
L1Loss()->L1Loss<float>;
L1Loss(L1LossOptions)->L1Loss<float>;

// Binary cross entropy of probabilities: functional::binary_cross_entropy.
template <class T = float>
class BCELoss : public LossModule<BCELossOptions> {
 public:
  BCELoss() = default;
  explicit BCELoss(BCELossOptions options) : LossModule(std::move(options), "binary_cross_entropy") {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return functional::binary_cross_entropy(input, target, this->options);
  }
  Tensor<T> forward(const Tensor<T>& input, const Tensor<T>& target) const { return (*this)(input, target); }
};
BCELoss()->BCELoss<float>;
BCELoss(BCELossOptions)->BCELoss<float>;

// Binary cross entropy of logits: functional::binary_cross_entropy_with_logits.
template <class T = float>
class BCEWithLogitsLoss : public LossModule<BCEWithLogitsLossOptions> {
 public:
  BCEWithLogitsLoss() = default;
  explicit BCEWithLogitsLoss(BCEWithLogitsLossOptions options) : LossModule(std::move(options), "binary_cross_entropy_with_logits") {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return functional::binary_cross_entropy_with_logits(input, target, this->options);
  }
  Tensor<T> forward(const Tensor<T>& input, const Tensor<T>& target) const { return (*this)(input, target); }
};
BCEWithLogitsLoss()->BCEWithLogitsLoss<float>;
BCEWithLogitsLoss(BCEWithLogitsLossOptions)->BCEWithLogitsLoss<float>;

// Cross entropy of logits against class indices or probabilities: functional::cross_entropy.
template <class T = float>
class CrossEntropyLoss : public LossModule<CrossEntropyLossOptions> {
 public:
  CrossEntropyLoss() = default;
  explicit CrossEntropyLoss(CrossEntropyLossOptions options) : LossModule(std::move(options), "cross_entropy") {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return functional::cross_entropy(input, target, this->options);
  }
  Tensor<T> forward(const Tensor<T>& input, const Tensor<T>& target) const { return (*this)(input, target); }
};
CrossEntropyLoss()->CrossEntropyLoss<float>;
CrossEntropyLoss(CrossEntropyLossOptions)->CrossEntropyLoss<float>;

// Negative log likelihood of log-probabilities: functional::nll_loss.
template <class T = float>
class NLLLoss : public LossModule<NLLLossOptions> {
 public:
  NLLLoss() = default;
  explicit NLLLoss(NLLLossOptions options) : LossModule(std::move(options), "nll_loss") {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return functional::nll_loss(input, target, this->options);
  }
  Tensor<T> forward(const Tensor<T>& input, const Tensor<T>& target) const { return (*this)(input, target); }
};
NLLLoss()->NLLLoss<float>;
NLLLoss(NLLLossOptions)->NLLLoss<float>;

}  // namespace tapegrad::nn
