#pragma once
// Dropout: x times a mask of PyTorch's stream, so its gradient (and every higher one) is the
// product's. Arguments are checked by nn::functional::dropout.
#include "tensor_methods.hpp"

namespace tapegrad::detail {

// Inverted dropout: in training, zeroes each element with probability p (mask drawn by
// bernoulli_(1 - p), PyTorch's stream) and scales the rest by 1 / (1 - p).
template <class T>
Tensor<T> dropout(const Tensor<T>& x, double p, bool training) {
  if (p == 0 || !training || x.numel() == 0) return x;
  if (p == 1) return x * T(0);
  Tensor<T> mask = empty_like(x).bernoulli_(1 - p);
  const T keep = static_cast<T>(1 - p);
  map_values(mask.data(), mask.data(), mask.numel(), [keep](T v) { return v / keep; });
  return x * mask;
}

}  // namespace tapegrad::detail
