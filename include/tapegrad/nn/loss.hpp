#pragma once
// Loss modules, called loss(input, target), mean reduction.
#include "functional.hpp"

namespace tapegrad::nn {

template <class T = float>
class BCELoss {
 public:
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return functional::binary_cross_entropy(input, target);
  }
  Tensor<T> forward(const Tensor<T>& input, const Tensor<T>& target) const { return (*this)(input, target); }
};

template <class T = float>
class MSELoss {
 public:
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return functional::mse_loss(input, target);
  }
  Tensor<T> forward(const Tensor<T>& input, const Tensor<T>& target) const { return (*this)(input, target); }
};

BCELoss()->BCELoss<float>;
MSELoss()->MSELoss<float>;

}  // namespace tapegrad::nn
