#pragma once
// Loss modules, libtorch's names, each called loss(input, target) or loss.forward(input,
// target), built from nothing (defaults: reduction "mean") or from its options struct. The
// reduction string is checked when the module is built, and the weights' T when it is called.
#include "functional_loss.hpp"

namespace tapegrad::nn {

// A loss module of options type O whose functional form is F::operator().
#define TAPEGRAD_LOSS_MODULE(NAME, OPTIONS, FUNCTION, OP)                                                     \
  template <class T = float>                                                                                \
  class NAME {                                                                                              \
   public:                                                                                                  \
    NAME() = default;                                                                                       \
    explicit NAME(OPTIONS options) : options(std::move(options)) {                                          \
      functional::loss_detail::parse_reduction(OP, this->options.reduction());                              \
    }                                                                                                       \
    Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {                           \
      return functional::FUNCTION(input, target, options);                                                  \
    }                                                                                                       \
    Tensor<T> forward(const Tensor<T>& input, const Tensor<T>& target) const { return (*this)(input, target); } \
    OPTIONS options;                                                                                        \
  };                                                                                                        \
  NAME()->NAME<float>;                                                                                      \
  NAME(OPTIONS)->NAME<float>;

TAPEGRAD_LOSS_MODULE(MSELoss, MSELossOptions, mse_loss, "mse_loss")
TAPEGRAD_LOSS_MODULE(L1Loss, L1LossOptions, l1_loss, "l1_loss")
TAPEGRAD_LOSS_MODULE(BCELoss, BCELossOptions, binary_cross_entropy, "binary_cross_entropy")
TAPEGRAD_LOSS_MODULE(BCEWithLogitsLoss, BCEWithLogitsLossOptions, binary_cross_entropy_with_logits,
                     "binary_cross_entropy_with_logits")
TAPEGRAD_LOSS_MODULE(CrossEntropyLoss, CrossEntropyLossOptions, cross_entropy, "cross_entropy")
TAPEGRAD_LOSS_MODULE(NLLLoss, NLLLossOptions, nll_loss, "nll_loss")

#undef TAPEGRAD_LOSS_MODULE

}  // namespace tapegrad::nn
